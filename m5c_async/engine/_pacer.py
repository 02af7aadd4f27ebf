"""Pacing: a GCRA reservation clock over messages, with AIMD when the platform throttles.

Rules:

1. ``acquire(n)`` books ``n`` messages at the current rate and sleeps until the booked debt
   falls to ``tolerance``: a packet larger than one second's budget is admitted at once and paid
   for afterwards (aiolimiter's ``acquire(n)`` refuses ``n`` above its rate, which is why this is
   a reservation clock and not a token bucket). The clock is re-read after each sleep, never a
   fixed interval slept, so timer imprecision does not accumulate.
2. ``throttled()`` halves the rate (multiplicative decrease, floor ``min_factor``); every
   ``recover_every`` seconds without throttling adds ``increase`` of the base rate back
   (additive increase) up to the base rate.
3. Time and sleep are injected, so logic tests run on a fake clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Protocol

import anyio

from ..protocol import Gcra

__all__ = ["Aimd", "LocalPacer", "Pacer"]


class Pacer(Protocol):
    """What the engine needs of a pacer: local (this module) or shared (Redis).

    A ``shared`` pacer also caps requests in flight across processes with ``slot()``; a local
    one leaves that to the engine's worker count.
    """

    shared: bool

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

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one request slot (shared pacers only)."""
        ...


class Aimd:
    """The pacing factor: halved at each throttle (floor ``min_factor``), raised by ``increase``
    for each clean ``recover_every`` seconds, up to 1."""

    def __init__(
        self,
        *,
        min_factor: float = 0.05,
        increase: float = 0.05,
        recover_every: float = 1.0,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.factor = 1.0
        self.min_factor = min_factor
        self.increase = increase
        self.recover_every = recover_every
        self._clock = clock
        self._last_change = float("-inf")

    def decrease(self) -> None:
        """Multiplicative decrease."""
        self.factor = max(self.min_factor, self.factor / 2)
        self._last_change = self._clock()

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
        >>> # await pacer.acquire(10_000)   # admitted now, the next acquire waits ~16 s
    """

    def __init__(
        self,
        rate: float,
        *,
        tolerance: float = 0.5,
        min_factor: float = 0.05,
        increase: float = 0.05,
        recover_every: float = 1.0,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.base_rate = float(rate)
        self.aimd = Aimd(
            min_factor=min_factor, increase=increase, recover_every=recover_every, clock=clock
        )
        self._gcra = Gcra(rate=rate, tolerance=tolerance)
        self._clock = clock
        self._sleep = sleep

    shared = False

    def slot(self) -> AbstractAsyncContextManager[None]:
        """No shared slots: the engine's worker count is the cap."""
        return nullcontext()

    @property
    def rate(self) -> float:
        """The current pacing rate."""
        return self.base_rate * self.aimd.factor

    async def acquire(self, n: int) -> None:
        """Book ``n`` messages and sleep until they may go."""
        wait = self._gcra.reserve(n, self._clock())
        if wait > 0:
            await self._sleep(wait)

    def throttled(self) -> None:
        """Multiplicative decrease."""
        self.aimd.decrease()
        self._gcra.set_rate(self.rate)

    def succeeded(self) -> None:
        """Additive increase, at most once per ``recover_every`` seconds."""
        if self.aimd.recover():
            self._gcra.set_rate(self.rate)
