"""Per-run state, and the typed next step of a packet after one request."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import anyio

from .._exceptions import M5CError
from ._model import CampaignResult, EngineStats, Packet, RunInfo

__all__ = [
    "BACKOFF",
    "DONE",
    "THROTTLED",
    "Backoff",
    "Done",
    "Resend",
    "RunState",
    "Step",
    "Throttled",
]

log = logging.getLogger("m5c_async.engine")


@dataclass(slots=True, eq=False, kw_only=True)
class RunState:
    """The state of one run: what it sends with, whether it stops, and its statistics."""

    name: str
    stats: EngineStats
    at: datetime | None = None
    ext: str | None = None
    #: Awaited right before each request leaves (the journal marks the packet in flight).
    before_send: Callable[[Packet], Awaitable[None]] | None = None
    stopping: bool = False
    stopped_by: M5CError | None = None
    unavailable_since: float | None = None
    pacer_failures_before: int = 0
    #: What hooks are told about this run (None only for the engine's placeholder before any run).
    info: RunInfo | None = None
    #: Seconds what is on the wire may go on once the run is interrupted (``EngineConfig``).
    stop_grace: float = 0.5
    #: When what is on the wire is cut (the event loop's clock), once interrupted.
    cut_at: float | None = None
    _wire: set[anyio.CancelScope] = field(default_factory=set, repr=False)

    def interrupt(self) -> None:
        """The run was cancelled: requests in flight and their lookups get ``stop_grace``
        seconds more, then are cut (``on_the_wire``)."""
        deadline = anyio.current_time() + self.stop_grace
        if self.cut_at is None or deadline < self.cut_at:
            self.cut_at = deadline
        for scope in self._wire:
            scope.deadline = min(scope.deadline, self.cut_at)

    @contextmanager
    def on_the_wire(self) -> Iterator[anyio.CancelScope]:
        """A scope for network work done under the send's shield: it runs to its end unless
        the run is interrupted, and then at most ``stop_grace`` more (``cancelled_caught``
        tells; the block's exception is swallowed)."""
        scope = anyio.CancelScope(deadline=math.inf if self.cut_at is None else self.cut_at)
        self._wire.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._wire.discard(scope)

    def stop(self, reason: M5CError | None = None) -> None:
        """Send nothing new in this run; the first fatal reason is kept."""
        self.stopping = True
        if reason is not None and self.stopped_by is None:
            self.stopped_by = reason
            log.error("run %s stopping: %s", self.name, reason.message)

    def result(self, now: float, pacer_failures: int) -> CampaignResult:
        """The run's totals at ``now`` (the engine's clock), given the pacer's failure count."""
        s = self.stats
        return CampaignResult(
            submitted=s.submitted,
            accepted=s.accepted,
            rejected=s.rejected,
            failed=s.failed,
            pending=s.pending,
            ambiguous=s.ambiguous,
            throttled=s.throttled,
            retried=s.retried,
            reconciled=s.reconciled,
            per_node=dict(s.per_node),
            seconds=now - s.started,
            stopped_by=self.stopped_by,
            pacer_failures=pacer_failures - self.pacer_failures_before,
            pacing_rate=s.pacing_rate,
        )


# --- what to do after one request: a typed union ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """The packet reached its outcome(s)."""


@dataclass(frozen=True, slots=True)
class Resend:
    """Send ``packet`` (what is left of the original) again at once."""

    packet: Packet


@dataclass(frozen=True, slots=True)
class Throttled:
    """Refused for speed: pass the pacer's gate again, then resend."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """No node could take it: sleep (doubling each time), then try again."""


Step = Done | Resend | Throttled | Backoff
DONE = Done()
THROTTLED = Throttled()
BACKOFF = Backoff()
