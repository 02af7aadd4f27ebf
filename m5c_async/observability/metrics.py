"""Prometheus metrics: the engine's hooks, the receiver, the pull loops and the journal, mapped to
``prometheus_client`` counters, histograms and gauges (the ``metrics`` extra).

Rules:

1. Labels are low-cardinality only: profile, node, endpoint, outcome, error class, run kind,
   push kind, ``via`` and report status. Never a number, a msgid, content or a credential.
   Report statuses come from outside (a push): one that is not a short code starting with a
   letter (``DELIVRD``, ``MK:0001``), or past the 32nd distinct one, is counted as ``other``.
2. Counters and histograms are updated by the events themselves (``EngineMetrics`` is a
   ``Hooks``; ``Metrics`` is an ``InboundObserver`` and a ``JournalObserver``). Gauges (pacing
   rate and AIMD factor, requests in flight, backlog, circuit breakers) are read when the
   registry is scraped from the engines watched (each engine is watched from its first run on,
   held weakly): nothing on the hot path.
3. One set of metric families per registry: any number of ``Metrics`` and ``EngineMetrics`` on
   one registry share them (registering twice never fails). The default registry is
   ``prometheus_client.REGISTRY``, so ``make_asgi_app()`` and ``start_http_server()`` serve them.
4. Delivery latency (accepted -> the report's receive time) is measured for reports of msgids this
   process accepted, remembered for the last ``delivery_window`` accepted requests: the engine
   and the receiver (or pull loop) must report to the same registry.

The engine never imports this module (a test checks it).
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
    raise ImportError(
        "m5c_async.observability.metrics needs prometheus-client: pip install 'm5c_async[metrics]'"
    ) from exc

from ..engine import (
    CampaignResult,
    Hooks,
    OutcomeKind,
    Packet,
    PacketOutcome,
    ReconcileEvent,
    RequestEnd,
    RunInfo,
)
from ..protocol import DeliveryReport, PushBatch, PushKind
from ._labels import node_label

if TYPE_CHECKING:
    from ..engine import SendEngine

__all__ = ["DELIVERY_BUCKETS", "REQUEST_BUCKETS", "EngineMetrics", "Metrics", "status_label"]

#: Seconds: a request to the platform.
REQUEST_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Seconds from the accepted request to the handset's receive time in its report.
DELIVERY_BUCKETS: Final = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Seconds: one group commit of the journal.
COMMIT_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

_STATUS: Final = re.compile(r"[A-Za-z][A-Za-z0-9 :_.\-]{0,11}")
_MAX_STATUSES: Final = 32
_NONE: Final = "none"


def status_label(status: str, seen: set[str] | None = None) -> str:
    """The label a report status is counted under (module docstring, rule 1).

    Example:
        >>> status_label("DELIVRD"), status_label("13800138000"), status_label("<b>x</b>")
        ('DELIVRD', 'other', 'other')
    """
    if not _STATUS.fullmatch(status) or re.search(r"\d{5}", status):
        return "other"
    if seen is not None and status not in seen:
        if len(seen) >= _MAX_STATUSES:
            return "other"
        seen.add(status)
    return status


class _Families:
    """The metric families of one registry, and what delivery latency needs to remember."""

    def __init__(self, registry: CollectorRegistry, delivery_window: int) -> None:
        def counter(name: str, doc: str, labels: Sequence[str]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.submitted = counter(
            "m5c_messages_submitted", "Messages admitted into the engine's pipeline.", ["profile"]
        )
        self.messages = counter(
            "m5c_messages",
            "Messages by final outcome (accepted, rejected, failed, pending, ambiguous) and the"
            " node that answered (none when no node did).",
            ["profile", "outcome", "node"],
        )
        self.reconciled = counter(
            "m5c_messages_reconciled",
            "Messages of ambiguous requests found accepted in the platform's records.",
            ["profile", "node"],
        )
        self.throttled = counter(
            "m5c_messages_throttled",
            "Messages in requests the platform refused for speed (sent again after pacing).",
            ["profile", "node"],
        )
        self.requests = counter(
            "m5c_requests",
            "Requests to the platform by outcome: accepted, or the failure's verdict (throttled,"
            " safe, unsafe, pointless, fatal) with its error class.",
            ["profile", "node", "endpoint", "outcome", "error"],
        )
        self.latency = Histogram(
            "m5c_request_duration_seconds",
            "Seconds from the pacer's gate to the platform's answer.",
            ["profile", "node", "endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.reconciles = counter(
            "m5c_reconciliations",
            "Ambiguous requests looked up in the platform's records, by result (found, partial,"
            " missing, unreadable).",
            ["profile", "node", "result"],
        )
        self.node_changes = counter(
            "m5c_node_changes", "Times requests began to be answered by this node.", ["node"]
        )
        self.runs = counter(
            "m5c_runs_ended",
            "Runs (campaigns, journaled campaigns, the submit() service) ended, by what stopped"
            " them early (none when nothing did).",
            ["profile", "kind", "stopped_by"],
        )
        self.reports = counter(
            "m5c_reports_received",
            "Delivery reports received, pushed or pulled, by status.",
            ["via", "status"],
        )
        self.replies = counter(
            "m5c_replies_received", "Handset replies received, pushed or pulled.", ["via"]
        )
        self.quarantined = counter(
            "m5c_quarantined_records",
            "Records of pushes and pulls that could not be read, kept with their raw text.",
            ["kind", "via"],
        )
        self.refused = counter(
            "m5c_webhook_refused",
            "Requests the webhook receiver refused, by HTTP status.",
            ["code"],
        )
        self.delivery = Histogram(
            "m5c_delivery_latency_seconds",
            "Seconds from the accepted request to the handset's receive time in its report.",
            ["status"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.commits = Histogram(
            "m5c_journal_commit_seconds",
            "Seconds one group commit of the journal took (its operations and the COMMIT).",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.journal_errors = counter(
            "m5c_journal_errors", "Journal operations that failed, by error class.", ["error"]
        )
        self.sent: dict[str, float] = {}
        self.delivery_window = delivery_window
        self.statuses: set[str] = set()
        self.engines: weakref.WeakKeyDictionary[SendEngine, str] = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()
        registry.register(_Gauges(self))


class _Gauges(Collector):
    """Gauges read from the watched engines at scrape time."""

    def __init__(self, families: _Families) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        """One sample per profile (summed over its engines) and per node and breaker state."""
        rate = GaugeMetricFamily(
            "m5c_pacing_rate", "Messages a second the pacer lets through now.", labels=["profile"]
        )
        factor = GaugeMetricFamily(
            "m5c_pacing_factor",
            "The AIMD factor of the pacing rate: 1 at full speed, cut at each throttle.",
            labels=["profile"],
        )
        in_flight = GaugeMetricFamily(
            "m5c_requests_in_flight", "Requests sent and not yet answered.", labels=["profile"]
        )
        backlog = GaugeMetricFamily(
            "m5c_backlog_messages",
            "Messages admitted and not finished: queued for the workers or in flight.",
            labels=["profile"],
        )
        breaker = GaugeMetricFamily(
            "m5c_breaker_state",
            "Circuit breakers of each node in this state (closed, open, half-open).",
            labels=["node", "state"],
        )
        per_profile: dict[str, list[float]] = {}
        breakers: dict[tuple[str, str], int] = {}
        clients: set[int] = set()
        with self.families.lock:
            engines = list(self.families.engines.items())
        for engine, profile in engines:
            pacer = engine.pacer
            aimd = getattr(pacer, "aimd", None)
            row = per_profile.setdefault(profile, [0.0, 1.0, 0.0, 0.0])
            row[0] += pacer.rate
            row[1] = min(row[1], float(aimd.factor) if aimd is not None else 1.0)
            row[2] += engine.in_flight
            row[3] += engine.backlog
            if id(engine.client) not in clients:
                clients.add(id(engine.client))
                for node, state in engine.client.health().items():
                    key = (node_label(node), state)
                    breakers[key] = breakers.get(key, 0) + 1
        for profile, (r, f, n, b) in sorted(per_profile.items()):
            rate.add_metric([profile], r)
            factor.add_metric([profile], f)
            in_flight.add_metric([profile], n)
            backlog.add_metric([profile], b)
        states = ("closed", "open", "half-open")
        for node in sorted({node for node, _ in breakers}):
            for state in states:
                breaker.add_metric([node, state], breakers.get((node, state), 0))
        return [rate, factor, in_flight, backlog, breaker]


_FAMILIES: weakref.WeakKeyDictionary[CollectorRegistry, _Families] = weakref.WeakKeyDictionary()
_FAMILIES_LOCK = threading.Lock()


def _families(registry: CollectorRegistry, delivery_window: int) -> _Families:
    with _FAMILIES_LOCK:
        found = _FAMILIES.get(registry)
        if found is None:
            found = _FAMILIES[registry] = _Families(registry, delivery_window)
        return found


class Metrics:
    """The m5c metrics of one Prometheus registry (rules in the module docstring).

    Example:
        >>> # metrics = Metrics()                      # prometheus_client.REGISTRY
        >>> # engine = SendEngine(client, config, hooks=[LoggingHooks(),
        >>> #                     metrics.engine_hooks(config.profile)])
        >>> # (its gauges: pacing, in flight, breakers... are read from the engines that ran)
        >>> # receiver = WebhookReceiver(sink=journal, token=token, metrics=metrics)
        >>> # journal = Journal(path, observer=metrics)

    Args:
        registry: where the metrics live; ``prometheus_client.REGISTRY`` by default.
        delivery_window: accepted requests remembered for the delivery latency.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, delivery_window: int = 100_000
    ) -> None:
        self.registry = registry if registry is not None else REGISTRY
        self._f = _families(self.registry, delivery_window)

    def engine_hooks(self, profile: str = "notification") -> EngineMetrics:
        """Hooks for one engine of this business ``profile`` (``EngineConfig.profile``)."""
        return EngineMetrics(self, str(getattr(profile, "value", profile)))

    def watch(self, engine: SendEngine) -> None:
        """Report the engine's gauges (pacing, in flight, backlog, breakers) at each scrape.

        Held weakly: an engine that is gone stops being reported.
        """
        with self._f.lock:
            self._f.engines[engine] = engine.config.profile.value

    # --- InboundObserver ----------------------------------------------------------------------

    def on_inbound(self, batch: PushBatch[Any], *, via: str) -> None:
        """Count the batch's reports (by status) or replies, and its quarantined records."""
        f = self._f
        if batch.records:
            if batch.kind is PushKind.REPORT:
                self._reports(batch.records, via)
            else:
                f.replies.labels(via).inc(len(batch.records))
        if batch.quarantined:
            held = sum(max(q.records, 1) for q in batch.quarantined)
            f.quarantined.labels(batch.kind.value, via).inc(held)

    def _reports(self, reports: Sequence[DeliveryReport], via: str) -> None:
        f = self._f
        counts: dict[str, int] = {}
        now = time.time()
        sent = f.sent
        for report in reports:
            label = status_label(report.status, f.statuses)
            counts[label] = counts.get(label, 0) + 1
            accepted = sent.get(report.msgid)
            if accepted is not None:
                at = report.at.timestamp() if report.at is not None else now
                f.delivery.labels(label).observe(max(at - accepted, 0.0))
        for label, n in counts.items():
            f.reports.labels(via, label).inc(n)

    def on_push_refused(self, status: int) -> None:
        """Count a refused request by its HTTP status."""
        self._f.refused.labels(str(status)).inc()

    # --- JournalObserver ----------------------------------------------------------------------

    def on_journal_commit(self, seconds: float, operations: int, errors: Sequence[str]) -> None:
        """Observe the commit's duration; count each failed operation by class."""
        self._f.commits.observe(seconds)
        for error in errors:
            self._f.journal_errors.labels(error).inc()

    # --- exposure -----------------------------------------------------------------------------

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The registry in the text format the ``Accept`` header asks for, and its type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class EngineMetrics(Hooks):
    """The engine's hooks mapped to metrics, for engines of one profile
    (``Metrics.engine_hooks``). Children of each label set are looked up once and kept."""

    def __init__(self, metrics: Metrics, profile: str) -> None:
        self.metrics = metrics
        self.profile = profile
        self._f = metrics._f
        self._submitted = self._f.submitted.labels(profile)
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, family: Any, *labels: str) -> Any:
        key = (id(family), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(self.profile, *labels)
        return child

    def on_run_start(self, run: RunInfo) -> None:
        """Watch the run's engine for the gauges (``Metrics.watch``)."""
        self.metrics.watch(run.engine)

    def on_admit(self, packet: Packet, run: RunInfo) -> None:
        """Count the packet's messages as submitted."""
        self._submitted.inc(len(packet.numbers))

    def on_outcome(self, outcome: PacketOutcome) -> None:
        """Count messages by outcome and node; remember when accepted requests left."""
        kind = outcome.kind
        node = node_label(outcome.node)
        if kind is OutcomeKind.REJECTED:
            self._child(self._f.messages, kind.value, _NONE).inc(len(outcome.rejected))
            return
        count = len(outcome.numbers)
        self._child(self._f.messages, kind.value, node).inc(count)
        if kind is OutcomeKind.ACCEPTED:
            if outcome.reconciled:
                self._child(self._f.reconciled, node).inc(count)
            if outcome.msgid is not None and outcome.sent_at is not None:
                sent = self._f.sent
                sent[outcome.msgid] = outcome.sent_at
                if len(sent) > self._f.delivery_window:
                    del sent[next(iter(sent))]

    def on_request_end(self, event: RequestEnd) -> None:
        """Count the request by outcome and error class; observe its latency."""
        node = node_label(event.node)
        endpoint = event.endpoint
        verdict = event.verdict
        outcome = "accepted" if verdict is None else verdict.value
        self._child(self._f.requests, node, endpoint, outcome, event.error or _NONE).inc()
        self._child(self._f.latency, node, endpoint).observe(event.latency)
        if outcome == "throttled":
            self._child(self._f.throttled, node).inc(event.size)

    def on_reconcile(self, event: ReconcileEvent) -> None:
        """Count the lookup by result."""
        if not event.read:
            result = "unreadable"
        elif event.found >= event.messages:
            result = "found"
        elif event.found:
            result = "partial"
        else:
            result = "missing"
        self._child(self._f.reconciles, node_label(event.node), result).inc()

    def on_node_change(self, previous: str | None, node: str) -> None:
        """Count the change of answering node."""
        self._f.node_changes.labels(node_label(node)).inc()

    def on_run_end(self, run: RunInfo, result: CampaignResult) -> None:
        """Count the run, by what stopped it."""
        stopped = type(result.stopped_by).__name__ if result.stopped_by is not None else _NONE
        self._child(self._f.runs, run.kind.value, stopped).inc()
