"""Pacing: a gate over messages that never lets a one-second window pass the cap, with AIMD.

Rules:

1. The pacer paces against ``rate * (1 - margin)`` (``margin`` 0.8% by default): requests
   reach the platform bunched (a fixed-schedule sender at exactly 600/s was seen at 619 in one
   receive-side second, at 99% of the cap at 597), so the margin absorbs that jitter.
2. ``acquire(n)`` returns when ``n`` messages may leave *now*, and books them from that moment
   (``Gcra.release`` with no tolerance): the caller writes the request at once, so the booked
   time is the time it left, and a request that left late never lets the next one leave early.
   There is no start-up burst: the first second carries at most the rate, like every other.
   A packet larger than one second's budget leaves at once and the next waits ``n / rate``,
   which is how the platform counts it (docs/protocol.md, "Rates").
3. Timers are imprecise (epoll rounds up to the millisecond, uvloop fires up to 1 ms early):
   the gate opens up to ``early`` seconds early and the schedule absorbs up to ``slack``
   (3 ms) of lateness. Longer stalls (a garbage collection) are lost, not made up: catching
   up 50 ms was measured to bunch requests at the receiver into throttles. Even catching up
   never goes faster than the cap (a second GCRA at the full rate), and a third gate bounds
   everything: the platform's strictest reading applied to our own departures,
   ``SlidingWindow`` at ``rate * (1 - margin)`` rounded up (the same rule the simulator
   enforces; packets of a second's budget or more are spaced by the schedule alone). The
   clock is re-read after every sleep, never a fixed interval slept; above ``1 / early``
   messages a second, requests leave in small batches.
4. Waiters pass the gate one at a time, first come first served (a lock).
5. ``throttled()`` cuts the rate (multiplicative decrease, floor ``min_factor``): by 10% for
   an isolated throttle, by half for one that follows another within 30 s (``Aimd``); every
   ``recover_every`` seconds without throttling adds ``increase`` of the base rate back
   (additive increase) up to the base rate.
6. Time and sleep are injected, so logic tests run on a fake clock. The default clock is
   ``time.monotonic``, not the event loop's: uvloop's ``loop.time()`` is in whole
   milliseconds and cached for a whole loop iteration, which is not when a request leaves.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import anyio

from .._exceptions import InvalidParameterError
from ..protocol import Gcra, SlidingWindow

__all__ = ["Aimd", "LocalPacer", "Pacer"]


class Pacer(Protocol):
    """What the engine needs of a pacer: local (this module) or shared (Redis).

    A ``shared`` pacer also caps requests in flight across processes: ``admit(n)`` waits for
    the rate and a request slot together and holds the slot until it exits; a local one leaves
    that to the engine's worker count.
    """

    shared: bool
    #: Times the pacer could not reach its store and held sends back (always 0 for a local one).
    failures: int

    @property
    def rate(self) -> float:
        """The current pacing rate in messages/s."""
        ...

    async def acquire(self, n: int) -> None:
        """Wait until ``n`` messages may be sent."""
        ...

    def throttled(self) -> None:
        """The platform refused a request for speed."""
        ...

    def succeeded(self) -> None:
        """The platform accepted a request."""
        ...

    def admit(self, n: int) -> AbstractAsyncContextManager[None]:
        """``acquire(n)`` and hold one request slot until exit (the slot: shared pacers only)."""
        ...


class Aimd:
    """The pacing factor, cut at each throttle and raised by ``increase`` for each clean
    ``recover_every`` seconds, up to 1.

    An isolated throttle (none in the ``calm`` seconds before it) cuts the factor to ``gentle``
    of itself: at the cap, a lone refusal is requests that reached the platform bunched, and
    halving for it was measured to cost 5% of a minute's goodput. A throttle that follows
    another within ``calm`` means something else is using the account's rate (another process,
    a lower real limit): that one halves the factor, the multiplicative decrease that converges
    whatever the contention. The floor is ``min_factor``.
    """

    def __init__(
        self,
        *,
        min_factor: float = 0.05,
        increase: float = 0.05,
        recover_every: float = 1.0,
        gentle: float = 0.9,
        calm: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < gentle <= 1 or calm < 0:
            raise InvalidParameterError("gentle must be in (0, 1] and calm non-negative")
        self.factor = 1.0
        self.min_factor = min_factor
        self.increase = increase
        self.recover_every = recover_every
        self.gentle = gentle
        self.calm = calm
        self._clock = clock
        self._last_change = float("-inf")
        self._last_throttle = float("-inf")

    def decrease(self) -> None:
        """Multiplicative decrease: ``gentle`` for an isolated throttle, half otherwise."""
        now = self._clock()
        cut = self.gentle if now - self._last_throttle >= self.calm else 0.5
        self.factor = max(self.min_factor, self.factor * cut)
        self._last_change = self._last_throttle = now

    def recover(self) -> bool:
        """Additive increase when due; returns True when the factor changed."""
        if self.factor >= 1.0:
            return False
        now = self._clock()
        if now - self._last_change < self.recover_every:
            return False
        self.factor = min(1.0, self.factor + self.increase)
        self._last_change = now
        return True


class LocalPacer:
    """A pacer for one process (the engine's workers bound its requests in flight).

    Example:
        >>> pacer = LocalPacer(rate=600)
        >>> pacer.rate
        595.2
        >>> # await pacer.acquire(10_000)   # leaves now; the next acquire waits 16.8 s
    """

    def __init__(
        self,
        rate: float,
        *,
        margin: float = 0.008,
        tolerance: float = 0.0,
        early: float = 0.001,
        slack: float = 0.003,
        min_factor: float = 0.05,
        increase: float = 0.05,
        recover_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not 0 <= margin < 1 or slack < 0 or early < 0:
            raise InvalidParameterError("margin must be in [0, 1), early and slack non-negative")
        self.base_rate = float(rate)
        self.margin = margin
        self.early = early
        self.slack = slack
        self.aimd = Aimd(
            min_factor=min_factor, increase=increase, recover_every=recover_every, clock=clock
        )
        self._gcra = Gcra(rate=self.rate, tolerance=tolerance)
        # Catching up never goes faster than the cap itself (rule 3).
        self._peak = Gcra(rate=self.base_rate)
        # The platform's strictest reading, applied to our own departures (rule 3).
        self._window = SlidingWindow(
            rate=max(math.ceil(self.base_rate * (1 - margin)), 1), spread=max(self.base_rate, 1)
        )
        self._clock = clock
        self._sleep = sleep
        self._gate = anyio.Lock()

    shared = False
    failures = 0

    @asynccontextmanager
    async def admit(self, n: int) -> AsyncIterator[None]:
        """``acquire(n)``; no shared slots: the engine's worker count is the cap."""
        await self.acquire(n)
        yield

    @property
    def rate(self) -> float:
        """The current pacing rate: the cap less the margin, times the AIMD factor."""
        return self.base_rate * (1 - self.margin) * self.aimd.factor

    async def acquire(self, n: int) -> None:
        """Wait until ``n`` messages may leave, and book them as leaving now."""
        async with self._gate:
            while True:
                now = self._clock()
                wait = max(
                    self._gcra.opens_in(now, early=self.early),
                    self._peak.opens_in(now, early=self.early),
                )
                if wait <= 0 and n < self._window.limit:
                    # (a packet of a second's budget or more is counted by the platform at its
                    # own pace: the schedule alone spaces it from the next)
                    # exact for one message; for a packet, ask again one interval later
                    wait = self._window.wait(n, now)
                    if n > 1:
                        wait = min(wait, 1 / self._window.limit)
                if wait <= 0:
                    self._gcra.release(n, now, early=self.early, slack=self.slack)
                    self._peak.release(n, now, early=self.early, slack=self.early)
                    self._window.add(n, now)
                    return
                await self._sleep(wait)

    def throttled(self) -> None:
        """Multiplicative decrease."""
        self.aimd.decrease()
        self._gcra.set_rate(self.rate)

    def succeeded(self) -> None:
        """Additive increase, at most once per ``recover_every`` seconds."""
        if self.aimd.recover():
            self._gcra.set_rate(self.rate)
