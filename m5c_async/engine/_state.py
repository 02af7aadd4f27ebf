"""Per-run state, and the typed next step of a packet after one request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

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
