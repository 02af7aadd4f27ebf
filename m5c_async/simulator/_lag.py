"""How late the simulator's own event loop runs: the error in its arrival stamps.

The simulator stamps a request when its event loop parses its first bytes (``_arrival``), and
counts one-second windows by those stamps. When its loop runs late (its process waits for a
core on a machine that also runs the senders, or shares its loop with a busy sender), requests
that arrived over some milliseconds are read, and stamped, together: windows by stamp then
hold a burst nobody sent. A timer that should fire every ``interval`` seconds and fires late by
``x`` shows the loop was away for about ``x``; the largest such delay bounds how far any stamp
was from the arrival it stands for. ``/_sim/stats`` reports it as ``loop_lag`` when the
simulator runs with ``--measure-lag``, so a benchmark can tell a sender's burst from the
receiver's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import anyio

__all__ = ["LoopLag"]

#: Lateness (seconds) counted separately: a delay above it is worth 3 messages at 600 msg/s.
THRESHOLDS: Final = (0.005, 0.010, 0.020)


class LoopLag:
    """The lateness of a periodic timer: largest, and how often above each threshold."""

    def __init__(
        self, *, interval: float = 0.005, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.samples = 0
        self.max = 0.0
        self.over = dict.fromkeys(THRESHOLDS, 0)

    def observe(self, late: float) -> None:
        """Count one tick that fired ``late`` seconds after it was due."""
        late = max(late, 0.0)
        self.samples += 1
        self.max = max(self.max, late)
        for threshold in THRESHOLDS:
            if late > threshold:
                self.over[threshold] += 1

    async def run(self) -> None:
        """Tick every ``interval`` until cancelled."""
        while True:
            due = self.clock() + self.interval
            await anyio.sleep(self.interval)
            self.observe(self.clock() - due)

    def summary(self) -> dict[str, Any]:
        """The JSON of ``loop_lag``: milliseconds."""
        return {
            "interval_ms": round(self.interval * 1000, 3),
            "samples": self.samples,
            "max_ms": round(self.max * 1000, 3),
            **{f"over_{round(t * 1000)}ms": n for t, n in self.over.items()},
        }
