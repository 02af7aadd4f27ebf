"""OpenTelemetry traces from the engine's hooks (the ``tracing`` extra: opentelemetry-api).

Spans:

- ``m5c campaign``: one per campaign or journaled run (``run_campaign``, ``open_campaign``,
  ``run_packets``), from its start to its end, child of the span current where it was started.
  Attributes: ``m5c.run.kind``, ``m5c.run.name``, ``m5c.profile``; at the end the totals
  (``m5c.accepted``, ``m5c.failed``, ``m5c.pending``, ``m5c.ambiguous``, ``m5c.rejected``) and,
  when the run was stopped, an error status naming the error's class.
- ``m5c submit``: one per packet of the ``submit()`` service (the calls that lingered together
  share one packet), child of the span current in the call that formed the packet (a web
  request's span, typically); ended when every number of it has its outcome.
- ``m5c request``: one per request to the platform (a resend is a new one), child of its
  campaign or submit span. Attributes: ``m5c.endpoint``, ``m5c.attempt``, ``m5c.numbers`` (how
  many), then ``m5c.node``, ``m5c.outcome`` (``accepted`` or the failure's verdict), ``m5c.msgid``
  and ``m5c.error`` (the error's class name; the status is then an error).

Never an attribute with a phone number, content, or a credential. Spans are only made when a
``TracingHooks`` is among the engine's hooks: without one, nothing is imported and nothing costs.
Without an SDK configured the API's spans are non-recording (cheap); with one, the spans go to
its exporters. Use one ``TracingHooks`` per engine (its bookkeeping is keyed by packet id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
    raise ImportError(
        "m5c_async.observability.tracing needs opentelemetry-api: pip install 'm5c_async[tracing]'"
    ) from exc

from .._version import __version__
from ..engine import (
    CampaignResult,
    Hooks,
    OutcomeKind,
    Packet,
    PacketOutcome,
    RequestEnd,
    RunInfo,
    RunKind,
)
from ..protocol import EndpointName
from ._labels import node_label

__all__ = ["TracingHooks"]

_SEND: Final = EndpointName.SEND.value
_BATCH: Final = EndpointName.SEND_BATCH.value


@dataclass(slots=True)
class _Pending:
    """A packet admitted and not finished: its parent context and messages still without an
    outcome; ``span`` is its own ``m5c submit`` span, for the submit service."""

    parent: otel_context.Context
    remaining: int
    run: RunInfo
    span: Span | None = None


class TracingHooks(Hooks):
    """Engine hooks that make spans (module docstring).

    Example:
        >>> # engine = SendEngine(client, hooks=[LoggingHooks(), TracingHooks()])
        >>> # with tracer.start_as_current_span("nightly"):   # the campaign's parent
        >>> #     await engine.run_campaign(campaign)

    Args:
        tracer_provider: where spans go; the global one (``trace.set_tracer_provider``) when
            None.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.tracer: Tracer = trace.get_tracer("m5c_async", __version__, tracer_provider)
        self._runs: dict[RunInfo, Span] = {}
        self._packets: dict[int, _Pending] = {}
        self._requests: dict[tuple[int, int], Span] = {}

    def on_run_start(self, run: RunInfo) -> None:
        """Start the campaign's span (none for the submit service: its packets have theirs)."""
        if run.kind is RunKind.SUBMIT:
            return
        self._runs[run] = self.tracer.start_span(
            "m5c campaign",
            attributes={
                "m5c.run.kind": run.kind.value,
                "m5c.run.name": run.name,
                "m5c.profile": run.profile,
            },
        )

    def on_admit(self, packet: Packet, run: RunInfo) -> None:
        """Remember the packet's parent: its campaign's span, or a new submit span."""
        campaign = self._runs.get(run)
        if campaign is not None:
            parent = trace.set_span_in_context(campaign)
            self._packets[packet.id] = _Pending(parent=parent, remaining=len(packet), run=run)
            return
        span = self.tracer.start_span(
            "m5c submit",
            attributes={"m5c.profile": run.profile, "m5c.numbers": len(packet)},
        )
        parent = trace.set_span_in_context(span)
        self._packets[packet.id] = _Pending(
            parent=parent, remaining=len(packet), run=run, span=span
        )

    def on_request_start(self, packet: Packet, attempt: int) -> None:
        """Start the request's span under its packet's parent."""
        pending = self._packets.get(packet.id)
        self._requests[(packet.id, attempt)] = self.tracer.start_span(
            "m5c request",
            context=pending.parent if pending is not None else None,
            kind=SpanKind.CLIENT,
            attributes={
                "m5c.endpoint": _SEND if packet.shared else _BATCH,
                "m5c.attempt": attempt,
                "m5c.numbers": len(packet),
            },
        )

    def on_request_end(self, event: RequestEnd) -> None:
        """End the request's span with its node, outcome, msgid or error class."""
        span = self._requests.pop((event.packet_id, event.attempt), None)
        if span is None:
            return
        attributes: dict[str, Any] = {
            "m5c.outcome": "accepted" if event.verdict is None else event.verdict.value
        }
        if event.node:
            attributes["m5c.node"] = node_label(event.node)
        if event.msgid is not None:
            attributes["m5c.msgid"] = event.msgid
        if event.error is not None:
            attributes["m5c.error"] = event.error
            span.set_status(Status(StatusCode.ERROR, event.error))
        span.set_attributes(attributes)
        span.end()

    def on_outcome(self, outcome: PacketOutcome) -> None:
        """Forget a finished packet; end its submit span."""
        if outcome.kind is OutcomeKind.REJECTED:
            return
        pending = self._packets.get(outcome.packet_id)
        if pending is None:
            return
        pending.remaining -= len(outcome.numbers)
        if pending.remaining > 0:
            return
        del self._packets[outcome.packet_id]
        span = pending.span
        if span is not None:
            span.set_attribute("m5c.outcome", outcome.kind.value)
            if outcome.kind is not OutcomeKind.ACCEPTED:
                name = type(outcome.error).__name__ if outcome.error is not None else "stopped"
                span.set_status(Status(StatusCode.ERROR, name))
            span.end()

    def on_run_end(self, run: RunInfo, result: CampaignResult) -> None:
        """End the campaign's span with its totals, and what its packets left open."""
        for packet_id, pending in list(self._packets.items()):
            if pending.run is run:
                del self._packets[packet_id]
                if pending.span is not None:
                    pending.span.set_status(Status(StatusCode.ERROR, "run ended"))
                    pending.span.end()
        span = self._runs.pop(run, None)
        if span is None:
            return
        span.set_attributes(
            {
                "m5c.accepted": result.accepted,
                "m5c.failed": result.failed,
                "m5c.pending": result.pending,
                "m5c.ambiguous": result.ambiguous,
                "m5c.rejected": result.rejected,
            }
        )
        if result.stopped_by is not None:
            span.set_status(Status(StatusCode.ERROR, type(result.stopped_by).__name__))
        span.end()
