"""The platform's rate rule, three ways, as pure objects shared by the simulator and the engine.

The document gives only "600 条/秒" (§3.6). How a platform counts that is not written, so three
readings are kept here, each a limiter with ``try_acquire(n, now) -> bool`` (docs/protocol.md,
"Rates"):

- ``Gcra``: a reservation of ``n`` messages is admitted while the account's *debt* (booked time
  beyond now) is at most ``tolerance`` seconds, and then adds ``n / rate`` seconds of debt.
- ``FixedWindow``: at most ``rate`` messages in each calendar second ``[k, k+1)``.
- ``SlidingWindow``: at most ``rate`` messages in *any* one-second window ``(s-1, s]``: the
  strictest, and the only one a sender can satisfy without knowing where the platform's seconds
  begin.

How a packet is counted (the same in all three): a packet of ``n`` messages arriving at ``t`` is
``n`` messages delivered at the account's rate from ``t`` (慢速下发): message ``i`` counts at
``t + i / rate``. A packet of one is a point; a 10,000-number packet at 150 msg/s fills every
window it spans to the cap for 66.7 s, so the next request is admitted only once that time has
passed. The window limiters count in whole microseconds, with the rate rounded down to whole
messages a second, so every decision is exact.

Time is always passed in; nothing here reads a clock.

Example:
    >>> g = Gcra(rate=600, tolerance=1.0)
    >>> g.try_acquire(10_000, now=0.0)
    True
    >>> g.try_acquire(1, now=1.0)
    False
    >>> round(g.debt(now=16.0), 3)
    0.667
    >>> w = SlidingWindow(rate=2)
    >>> [w.try_acquire(1, now=t) for t in (0.0, 0.5, 0.9, 1.0)]
    [True, True, False, True]
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from .._exceptions import InvalidParameterError

__all__ = [
    "FixedWindow",
    "Gcra",
    "Limiter",
    "RateLimiter",
    "SlidingWindow",
    "make_limiter",
]

US: Final = 1_000_000


def _us(now: float) -> int:
    return round(now * US)


class Limiter(StrEnum):
    """The three readings of "N messages a second"."""

    GCRA = "gcra"
    FIXED = "fixed"
    SLIDING = "sliding"


class RateLimiter(Protocol):
    """What the simulator asks of a rate rule."""

    def try_acquire(self, n: int, now: float) -> bool:
        """Admit ``n`` messages arriving at ``now`` (booking them), or change nothing."""
        ...

    def set_rate(self, rate: float) -> None:
        """Change the rate for future packets; what is booked stays booked."""
        ...


class Gcra:
    """A GCRA meter with a theoretical arrival time (``tat``) in seconds."""

    __slots__ = ("interval", "rate", "tat", "tolerance")

    def __init__(self, *, rate: float, tolerance: float = 1.0) -> None:
        if rate <= 0 or tolerance < 0:
            raise InvalidParameterError("rate must be positive and tolerance non-negative")
        self.rate = float(rate)
        self.interval = 1.0 / self.rate
        self.tolerance = float(tolerance)
        self.tat = float("-inf")

    def debt(self, now: float) -> float:
        """Seconds of traffic booked beyond ``now`` (0 when idle)."""
        return max(self.tat - now, 0.0)

    def try_acquire(self, n: int, now: float) -> bool:
        """Admit ``n`` messages now if the debt allows, booking them; else change nothing."""
        if self.tat - now > self.tolerance:
            return False
        self.tat = max(self.tat, now) + n * self.interval
        return True

    def reserve(self, n: int, now: float) -> float:
        """Book ``n`` messages unconditionally; return how long to wait before sending them.

        The wait is the time until the debt *before* this booking falls to ``tolerance``, so a
        caller that sleeps it and then sends is always admitted by a meter with the same rule.
        """
        start = max(self.tat, now)
        wait = max(start - self.tolerance - now, 0.0)
        self.tat = start + n * self.interval
        return wait

    def opens_in(self, now: float, *, early: float = 0.0) -> float:
        """Seconds until the debt falls to ``tolerance`` (0 when it is within ``early`` of it)."""
        if self.tat - now > self.tolerance + early:
            return self.tat - self.tolerance - now
        return 0.0

    def release(self, n: int, now: float, *, early: float = 0.0, slack: float = 0.0) -> float:
        """The sender's gate: book ``n`` messages leaving at ``now``, or say how long to wait.

        Returns 0 after booking when the debt is at most ``tolerance + early`` (a timer may
        fire that early); otherwise the seconds until it is at most ``tolerance``, booking
        nothing. The booking starts at ``tat`` when the request leaves at most ``slack`` late
        (a timer firing late keeps the schedule), else at ``now`` (a request that left later
        never lets the next leave early). So with ``tolerance=0``, messages leave at most
        ``rate`` a second over any window, give or take ``early + slack`` seconds' worth,
        whatever the timers do.
        """
        wait = self.opens_in(now, early=early)
        if wait > 0:
            return wait
        start = self.tat if self.tat >= now - slack else now
        self.tat = start + n * self.interval
        return 0.0

    def set_rate(self, rate: float) -> None:
        """Change the rate for future bookings; what is booked stays booked."""
        if rate <= 0:
            raise InvalidParameterError("rate must be positive")
        self.rate = float(rate)
        self.interval = 1.0 / self.rate

    def refund(self, n: int) -> None:
        """Give back ``n`` messages booked but not sent."""
        self.tat -= n * self.interval

    def __repr__(self) -> str:
        return f"Gcra(rate={self.rate}, tolerance={self.tolerance})"


def _limit(rate: float) -> int:
    if rate < 1:
        raise InvalidParameterError("a window limiter needs a rate of at least 1 message a second")
    return int(rate)


@dataclass(frozen=True, slots=True)
class _Spread:
    """One packet: ``n`` messages from ``start`` (µs), message ``i`` at ``start + i·US//per``."""

    start: int
    n: int
    per: int

    def at(self, i: int) -> int:
        return self.start + i * US // self.per

    @property
    def end(self) -> int:
        return self.at(self.n - 1)

    def upto(self, x: int) -> int:
        """How many of its messages count at or before ``x``."""
        if x < self.start:
            return 0
        # start + floor(i·US/per) <= x  <=>  i·US < (x - start + 1)·per
        return min(self.n, ((x - self.start + 1) * self.per - 1) // US + 1)

    def times(self, low: int, high: int) -> Iterable[int]:
        """The distinct times of its messages in ``(low, high]``."""
        first, last = self.upto(low), self.upto(high) - 1
        if first > last:
            return ()
        if self.per >= US:  # at least one message every microsecond: every µs is a time
            return range(self.at(first), self.at(last) + 1)
        return (self.at(i) for i in range(first, last + 1))


class SlidingWindow:
    """At most ``rate`` messages in any window ``(s - 1, s]``; ``peak`` is the largest count seen.

    ``count_with(n, now)`` is the largest window count once a packet is added; ``add`` books it
    whatever the count (the simulator's meter), ``try_acquire`` only when it stays within
    ``rate`` (the limiter).
    """

    def __init__(self, *, rate: float, spread: float | None = None) -> None:
        self.limit = _limit(rate)
        #: A packet's messages count one every ``1 / spread`` s: the platform's rate (a sender
        #: that keeps its own windows below the cap still reads packets the platform's way).
        self.spread = self.limit if spread is None else _limit(spread)
        self._own_spread = spread is None
        self.peak = 0
        self._points: list[int] = []  # single messages, in arrival order
        self._head = 0
        self._spreads: deque[_Spread] = deque()  # packets of two or more, by start
        self._latest = -(2**62)  # the latest time any booked message counts

    def set_rate(self, rate: float) -> None:
        """Change the rate for future packets; what is booked stays booked."""
        self.limit = _limit(rate)
        if self._own_spread:
            self.spread = self.limit

    def _prune(self, now: int) -> None:
        floor = now - US
        points = self._points
        self._head = bisect_right(points, floor, self._head)
        if self._head > 4096 and self._head * 2 > len(points):
            del points[: self._head]
            self._head = 0
        spreads = self._spreads
        while spreads and spreads[0].end <= floor:
            spreads.popleft()

    def _window(self, s: int, new: _Spread) -> int:
        low = s - US
        points = self._points
        count = bisect_right(points, s, self._head) - bisect_right(points, low, self._head)
        for spread in self._spreads:
            if spread.start > s:
                break
            count += spread.upto(s) - spread.upto(low)
        return count + new.upto(s) - new.upto(low)

    def count_with(self, n: int, now: float) -> int:
        """The largest one-second count of any window holding one of ``n`` messages at ``now``."""
        if n < 1:
            raise InvalidParameterError("n must be at least 1")
        t = _us(now)
        self._prune(t)
        new = _Spread(t, n, self.spread)
        # Windows holding only the new packet count at most `limit` by construction; so only
        # windows that also hold booked messages are checked, at each time a message enters.
        high = min(new.end, self._latest) + US - 1
        if high < t:
            return min(n, self.spread)
        candidates = {t, *new.times(t, high)}
        for spread in self._spreads:
            if spread.end > t:
                candidates.update(spread.times(t, high))
        return max(min(n, self.spread), *(self._window(s, new) for s in candidates))

    def add(self, n: int, now: float) -> int:
        """Book ``n`` messages arriving at ``now``; return the largest window count they make."""
        count = self.count_with(n, now)
        self._book(n, _us(now))
        self.peak = max(self.peak, count)
        return count

    def _book(self, n: int, t: int) -> None:
        if n == 1:
            self._points.append(t)
            self._latest = max(self._latest, t)
        else:
            spread = _Spread(t, n, self.spread)
            self._spreads.append(spread)
            self._latest = max(self._latest, spread.end)

    def try_acquire(self, n: int, now: float) -> bool:
        """Admit ``n`` messages at ``now`` if no one-second window would pass ``rate``."""
        count = self.count_with(n, now)
        if count > self.limit:
            return False
        self._book(n, _us(now))
        self.peak = max(self.peak, count)
        return True

    def wait(self, n: int, now: float) -> float:
        """Seconds until ``n`` messages may be added at or below ``rate`` (0: now), booking
        nothing. Exact for packets of one; for larger ones a lower bound, to be asked again."""
        if self.count_with(n, now) <= self.limit:
            return 0.0
        t = _us(now)
        floor = t - US
        times = self._points[bisect_right(self._points, floor, self._head) :]
        for spread in self._spreads:
            times.extend(spread.times(floor, self._latest))
        times.sort()
        room = self.limit - min(n, self.limit)  # booked messages the window may still hold
        leaving = times[-1] if room <= 0 else times[max(len(times) - room - 1, 0)]
        return max((leaving + US + 1 - t) / US, 1 / US)

    def __repr__(self) -> str:
        return f"SlidingWindow(rate={self.limit})"


class FixedWindow:
    """At most ``rate`` messages in each calendar second ``[k, k + 1)`` of the clock passed in."""

    def __init__(self, *, rate: float) -> None:
        self.limit = _limit(rate)
        self._seconds: Counter[int] = Counter()
        self._floor = -(2**62)  # no key below this one is kept

    def set_rate(self, rate: float) -> None:
        """Change the rate for future packets; what is booked stays booked."""
        self.limit = _limit(rate)

    def _per_second(self, n: int, t: int) -> dict[int, int]:
        spread = _Spread(t, n, self.limit)
        first, last = t // US, spread.end // US
        return {
            k: spread.upto((k + 1) * US - 1) - spread.upto(k * US - 1)
            for k in range(first, last + 1)
        }

    def try_acquire(self, n: int, now: float) -> bool:
        """Admit ``n`` messages at ``now`` if no calendar second they touch would pass ``rate``."""
        if n < 1:
            raise InvalidParameterError("n must be at least 1")
        t = _us(now)
        seconds, current = self._seconds, t // US
        if current - self._floor > len(seconds):
            for key in [k for k in seconds if k < current]:
                del seconds[key]
        else:
            for key in range(self._floor, current):
                seconds.pop(key, None)
        self._floor = max(self._floor, current)
        counts = self._per_second(n, t)
        if any(seconds[k] + c > self.limit for k, c in counts.items()):
            return False
        seconds.update(counts)
        return True

    def __repr__(self) -> str:
        return f"FixedWindow(rate={self.limit})"


def make_limiter(kind: Limiter | str, rate: float, *, tolerance: float = 1.0) -> RateLimiter:
    """Build the limiter of one reading; ``tolerance`` is GCRA's only.

    Raises:
        ValueError: an unknown kind or a rate below one message a second for a window.
    """
    mode = Limiter(kind)
    if mode is Limiter.GCRA:
        return Gcra(rate=rate, tolerance=tolerance)
    if mode is Limiter.FIXED:
        return FixedWindow(rate=rate)
    return SlidingWindow(rate=rate)
