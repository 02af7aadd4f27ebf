"""The engine's records: packets, outcomes, campaigns, configuration, hooks and statistics."""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import InvalidParameterError, M5CError, Verdict
from ..protocol import BusinessType, Rejected, SendFormat

if TYPE_CHECKING:
    from ._engine import SendEngine

__all__ = [
    "Campaign",
    "CampaignResult",
    "EngineConfig",
    "EngineStats",
    "Hooks",
    "LoggingHooks",
    "OutcomeKind",
    "Packet",
    "PacketOutcome",
    "RateMeter",
    "ReconcileEvent",
    "RequestEnd",
    "RunInfo",
    "RunKind",
]


@dataclass(frozen=True, slots=True)
class Packet:
    """One request's worth of messages.

    ``contents`` holds one content shared by every number, or one content per number (a
    personalized batch sent through ``sms_batch.php``).
    """

    id: int
    numbers: tuple[str, ...]
    contents: tuple[str, ...]

    @property
    def shared(self) -> bool:
        """True when every number gets the same content."""
        return len(self.contents) == 1

    def pairs(self) -> list[tuple[str, str]]:
        """(mobile, content) for every message of the packet."""
        if self.shared:
            return [(n, self.contents[0]) for n in self.numbers]
        return list(zip(self.numbers, self.contents, strict=True))

    def __len__(self) -> int:
        return len(self.numbers)


class OutcomeKind(StrEnum):
    """What became of a packet (or of numbers refused before sending)."""

    ACCEPTED = "accepted"
    """The platform accepted the numbers under ``msgid``."""
    REJECTED = "rejected"
    """Numbers refused before sending (invalid, duplicate), with reasons."""
    FAILED = "failed"
    """The platform refused the request for good (request errors, ``error:msgid``)."""
    PENDING = "pending"
    """Not sent: the campaign stopped (fatal account error, cancellation) before it went out."""
    AMBIGUOUS = "ambiguous"
    """Sent, outcome unknown, and reconciliation could not decide: never resent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketOutcome:
    """One outcome, delivered to hooks and to the outcome stream."""

    kind: OutcomeKind
    packet_id: int
    numbers: tuple[str, ...]
    msgid: str | None = None
    node: str | None = None
    error: M5CError | None = None
    rejected: tuple[Rejected, ...] = ()
    attempts: int = 1
    reconciled: bool = False
    sent_at: float | None = None
    """Unix time (wall clock) when the accepted request left; None unless ``ACCEPTED``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEnd:
    """One request of the engine answered (or failed), for ``Hooks.on_request_end``.

    Attributes:
        packet_id: the packet it carried.
        attempt: 1 for the first request of the packet, 2 for its first resend...
        size: messages in the request.
        endpoint: ``send`` or ``send_batch`` (the catalog's names).
        node: the node that answered or failed, when known.
        verdict: None when accepted, else the error's verdict.
        latency: seconds from leaving the pacer's gate to the answer (the engine's clock).
        msgid: the platform's id of an accepted request.
        error: the error's class name (``ThrottledError``...) when it failed.
    """

    packet_id: int
    attempt: int
    size: int
    endpoint: str
    node: str | None
    verdict: Verdict | None
    latency: float
    msgid: str | None = None
    error: str | None = None


class RunKind(StrEnum):
    """What started a run of the engine."""

    CAMPAIGN = "campaign"
    """``run_campaign`` or ``open_campaign``."""
    PACKETS = "packets"
    """``run_packets`` (the journal's campaigns)."""
    SUBMIT = "submit"
    """The ``submit()`` service of ``async with SendEngine(...)``."""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RunInfo:
    """One run of the engine, as hooks see it (``on_run_start``, ``on_admit``, ``on_run_end``).

    Compared by identity: a hook may key its own per-run state on it.

    Attributes:
        name: the campaign's name (``"submit"`` for the service).
        kind: what started it.
        profile: the business type's name whose caps apply.
        engine: the engine running it (its ``pacer``, ``backlog`` and ``in_flight`` are live).
    """

    name: str
    kind: RunKind
    profile: str
    engine: SendEngine


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileEvent:
    """An ambiguous request looked up in the platform's records (``Hooks.on_reconcile``).

    Attributes:
        packet_id: the packet.
        node: the node whose answer was lost.
        messages: messages of the request.
        found: messages the records show accepted.
        repeated: messages matched by two msgids in the window (an earlier identical send).
        read: False when the records could not be read at all (the packet is then ambiguous).
    """

    packet_id: int
    node: str
    messages: int
    found: int
    repeated: int
    read: bool


class Hooks:
    """What the engine tells observers. Subclass it and override what you need.

    Every method is a no-op here, and the engine only calls the methods a hook overrides, so an
    unused event costs nothing on the hot path. Hooks run inline on the event loop: keep them
    quick and never block. An exception raised by a hook is logged and ignored; it never changes
    a packet's outcome. An object with the same methods (not a subclass) works too.
    """

    def on_run_start(self, run: RunInfo) -> None:
        """A run began (a campaign, ``run_packets``, or the ``submit()`` service).

        Called in the task that starts the run, before any packet is admitted.
        """

    def on_run_end(self, run: RunInfo, result: CampaignResult) -> None:
        """A run ended with these totals."""

    def on_admit(self, packet: Packet, run: RunInfo) -> None:
        """A packet entered the pipeline (queued for the workers): its messages are submitted.

        Called in the task that formed the packet: a campaign's producer, or for ``submit()``
        the task of the call that completed the packet (or of the first call, when the packet
        was sent after ``linger``).
        """

    def on_outcome(self, outcome: PacketOutcome) -> None:
        """A packet (or a set of rejected numbers) reached its outcome."""

    def on_throttle(self, rate: float) -> None:
        """The platform throttled a request; the pacer now runs at ``rate`` messages/s."""

    def on_rate_change(self, rate: float) -> None:
        """The pacing rate changed (halved at a throttle, raised while recovering)."""

    def on_request_start(self, packet: Packet, attempt: int) -> None:
        """A request is about to leave (the pacer's gate opened) with ``packet``."""

    def on_request_end(self, event: RequestEnd) -> None:
        """A request was answered or failed."""

    def on_reconcile(self, event: ReconcileEvent) -> None:
        """An ambiguous request was looked up in the platform's records."""

    def on_node_change(self, previous: str | None, node: str) -> None:
        """Requests are now answered by ``node`` (a failover, or back to a preferred node).

        The client picks a node per request (the first whose circuit breaker allows it); this
        is called when the node that answered differs from the one that answered before.
        ``AsyncClient.health()`` gives each breaker's state.
        """


class LoggingHooks(Hooks):
    """The default hooks: INFO per throttle and node change, DEBUG per outcome; no content or
    numbers."""

    def __init__(self) -> None:
        self.log = logging.getLogger("m5c_async.engine")

    def on_outcome(self, outcome: PacketOutcome) -> None:
        """Log the outcome's kind and size."""
        self.log.debug(
            "packet %d %s: %d numbers via %s",
            outcome.packet_id,
            outcome.kind.value,
            len(outcome.numbers) or len(outcome.rejected),
            outcome.node,
        )

    def on_throttle(self, rate: float) -> None:
        """Log the new pacing rate."""
        self.log.info("throttled by the platform; pacing at %.1f msg/s", rate)

    def on_node_change(self, previous: str | None, node: str) -> None:
        """Log which node answers now."""
        if previous is not None:
            self.log.info("requests now answered by %s (was %s)", node, previous)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """How the engine paces, bounds and recovers.

    Attributes:
        profile: the business type whose caps apply (§3.6); its name (``"marketing"``) works too.
        rate: messages/s; defaults to the profile's rate.
        concurrency: requests in flight; defaults to the profile's cap.
        packet_size: numbers a request; defaults to the profile's size.
        margin: the share of the rate kept unused, so requests that reach the platform bunched
            stay under the cap in every one-second window (docs/engine.md, "Pacing").
        tolerance: seconds of sending the pacer may do ahead of its schedule (a burst); 0 (the
            default) never lets any one-second window carry more than the paced rate.
        queue_size: packets buffered between the producer and the workers.
        batch_size: personalized messages per ``sms_batch.php`` request (1 = plain sends).
        reconcile_grace: seconds to wait before looking an ambiguous packet up in the records.
        reconcile_attempts: record queries before an unmatched packet is resent.
        unavailable_timeout: seconds of every node failing before the campaign stops.
        linger: seconds ``submit()`` waits to coalesce same-content sends into one packet.
        format: the send format of every request.
        dedupe: drop repeated numbers of a campaign (exact and compact: a few bytes a number).
        max_pending_messages: messages queued or in flight at most; bounds memory whatever the
            campaign's size (a packet above it still goes, alone).
        stop_grace: seconds a request in flight (and the record lookups settling it) may go on
            once the run is cancelled (Ctrl-C); then it is cut and its packet is ``AMBIGUOUS``
            (``SendInterruptedError``), for a journal's resume to reconcile. A hung platform
            never holds a stop for its read timeouts.
    """

    profile: BusinessType = BusinessType.NOTIFICATION
    rate: float | None = None
    concurrency: int | None = None
    packet_size: int | None = None
    margin: float = 0.008
    tolerance: float = 0.0
    queue_size: int = 64
    batch_size: int = 1
    reconcile_grace: float = 1.0
    reconcile_attempts: int = 3
    unavailable_timeout: float = 120.0
    linger: float = 0.005
    format: SendFormat = SendFormat.FORM
    dedupe: bool = True
    max_pending_messages: int = 50_000
    stop_grace: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.profile, BusinessType):
            try:
                object.__setattr__(self, "profile", BusinessType(self.profile))
            except ValueError:
                names = ", ".join(b.value for b in BusinessType)
                raise InvalidParameterError(
                    f"unknown profile {self.profile!r}: use one of {names}"
                ) from None
        if self.rate is not None and self.rate <= 0:
            raise InvalidParameterError("rate must be positive")
        if self.concurrency is not None and self.concurrency < 1:
            raise InvalidParameterError("concurrency must be at least 1")
        if self.packet_size is not None and self.packet_size < 1:
            raise InvalidParameterError("packet_size must be at least 1")
        if not 0 <= self.margin < 0.5:
            raise InvalidParameterError("margin must be in [0, 0.5)")
        if not 0 <= self.tolerance <= 1 or self.queue_size < 1 or self.batch_size < 1:
            raise InvalidParameterError("tolerance in [0, 1], queue_size and batch_size at least 1")
        if not 0 <= self.stop_grace <= 60:
            raise InvalidParameterError("stop_grace must be in [0, 60] seconds")


NumberSource = Iterable[str] | AsyncIterable[str] | Path
MessageSource = Iterable[tuple[str, str]] | AsyncIterable[tuple[str, str]] | Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    """What to send: one ``content`` to ``numbers``, or per-number ``messages``.

    ``numbers`` may be a list, any (async) iterable or a file (one number a line). ``messages``
    may be (mobile, content) pairs or a CSV file with ``mobile`` and ``content`` columns. Both are
    streamed: the campaign is never held in memory.

    Example:
        >>> Campaign(numbers=["13800138000"], content="通知【示例】").content
        '通知【示例】'
    """

    numbers: NumberSource | None = None
    content: str | None = None
    messages: MessageSource | None = None
    at: datetime | None = None
    ext: str | None = None
    name: str = "campaign"

    def __post_init__(self) -> None:
        one = self.numbers is not None and self.content is not None and self.messages is None
        other = self.messages is not None and self.numbers is None and self.content is None
        if not (one or other):
            raise InvalidParameterError("give numbers and content, or messages")


RATE_WINDOW = 5.0


class RateMeter:
    """Counts a second over a sliding window (the last ``window`` seconds), time passed in.

    The one sliding-rate counter of the package: the engine's live stats and the CLI's progress
    bar read it. Entries older than the window are dropped as new ones come, so it stays small
    whether or not anyone reads the rate.

    Example:
        >>> meter = RateMeter(window=5.0)
        >>> meter.add(0.5, 100); meter.add(1.5, 200)
        >>> meter.rate(2.0, since=0.0)  # 2 s after the start: over those 2 s
        150.0
        >>> meter.add(6.0, 300)
        >>> meter.rate(6.0)             # the last 5 s, (1, 6]: 200 + 300
        100.0
    """

    __slots__ = ("_recent", "window")

    def __init__(self, window: float = RATE_WINDOW) -> None:
        if window <= 0:
            raise InvalidParameterError("a rate window must be positive")
        self.window = window
        self._recent: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, count: int) -> None:
        """Count ``count`` at ``now``."""
        self._recent.append((now, count))
        self._prune(now)

    def _prune(self, now: float) -> None:
        recent = self._recent
        while recent and recent[0][0] <= now - self.window:
            recent.popleft()

    def rate(self, now: float, *, since: float | None = None, window: float | None = None) -> float:
        """Counts a second over the last ``window`` seconds (at most the meter's), or over the
        time since ``since`` when that is shorter (a run that began 2 s ago)."""
        window = self.window if window is None else min(window, self.window)
        self._prune(now)
        total = sum(c for t, c in self._recent if t > now - window)
        span = window if since is None else min(window, max(now - since, 1e-9))
        return total / span


@dataclass(slots=True)
class EngineStats:
    """Live counters of one run (a campaign, ``run_packets``, or the ``submit()`` service), for
    progress bars; messages unless said otherwise. ``SendEngine.stats`` is the latest run's."""

    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    ambiguous: int = 0
    throttled: int = 0
    retried: int = 0
    reconciled: int = 0
    requests: int = 0
    in_flight: int = 0
    pacing_rate: float = 0.0
    per_node: collections.Counter[str] = field(default_factory=collections.Counter)
    started: float = 0.0
    _accepted: RateMeter = field(default_factory=RateMeter)

    def record_accepted(self, now: float, count: int, node: str) -> None:
        """Count accepted messages for the totals and the sliding rate."""
        self.accepted += count
        self.per_node[node] += count
        self._accepted.add(now, count)

    def rate(self, now: float, window: float = RATE_WINDOW) -> float:
        """Accepted messages a second over the last ``window`` seconds (at most 5)."""
        return self._accepted.rate(now, since=self.started, window=window)


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignResult:
    """The end of a campaign: totals and why it stopped early, if it did."""

    submitted: int
    accepted: int
    rejected: int
    failed: int
    pending: int
    ambiguous: int
    throttled: int
    retried: int
    reconciled: int
    per_node: dict[str, int]
    seconds: float
    stopped_by: M5CError | None = None
    pacer_failures: int = 0
    """Times a shared pacer could not reach its store (Redis) and held sends back."""
    pacing_rate: float = 0.0
    """The rate this process paced at when the run ended (msg/s): the rate less the margin,
    times the throttle factor (below 1 after throttle replies)."""

    @property
    def complete(self) -> bool:
        """True when nothing is pending or ambiguous and the campaign was not stopped."""
        return self.stopped_by is None and self.pending == 0 and self.ambiguous == 0
