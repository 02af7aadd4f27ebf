"""A per-number frequency guard against "SMS bombing" of verification codes (§2.1's warning).

Limits are (count, seconds) pairs, e.g. ``[(1, 60), (5, 3600)]``: at most one message a minute
and five an hour per number. Two forms, one rule:

- ``FrequencyGuard`` (this module): the history in this process's memory, the default for one
  process; the clock is injected.
- ``RedisGuard`` (``_redis_guard.py``): the history in Redis, shared by every process and kept
  across restarts (several web workers, several hosts).

Rules of the local form:

1. A number's history holds its sends inside the longest window; a send is refused, and not
   recorded, when any limit is reached (``FrequencyLimitError`` with ``retry_after``).
2. Nothing is forgotten while its window is open: a number leaves the table only when its last
   send is older than the longest window (the table is kept in order of last send, so expiry
   is cheap). Memory is bounded by ``max_numbers``: when that many numbers all have a window
   still open, a new number is refused with ``GuardFullError`` (fail closed, with the seconds
   until the oldest expires) rather than another number's count being dropped.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Protocol

from .._exceptions import FrequencyLimitError, GuardFullError, InvalidParameterError

__all__ = ["FrequencyGuard", "Guard", "check_limits"]


class Guard(Protocol):
    """What the engine's ``submit()`` asks of a frequency guard (local or Redis)."""

    async def acheck(self, number: str) -> None:
        """Record a message for ``number``, or raise without recording."""
        ...


def check_limits(limits: Sequence[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    """The limits as (count, seconds) pairs from the shortest window to the longest.

    Raises:
        InvalidParameterError: no limit, a count below 1 or a window that is not positive.
    """
    if not limits or any(c < 1 or s <= 0 for c, s in limits):
        raise InvalidParameterError("limits are (count >= 1, seconds > 0) pairs")
    return tuple(sorted(((int(c), float(s)) for c, s in limits), key=lambda x: x[1]))


class FrequencyGuard:
    """Refuses a number that exceeds any of its limits (in this process's memory).

    Example:
        >>> now = [0.0]
        >>> guard = FrequencyGuard([(1, 60)], clock=lambda: now[0])
        >>> guard.check("13800138000")
        >>> now[0] = 61.0; guard.check("13800138000")
    """

    shared = False

    def __init__(
        self,
        limits: Sequence[tuple[int, float]] = ((1, 60.0), (5, 3600.0)),
        *,
        clock: Callable[[], float] = time.monotonic,
        max_numbers: int = 1_000_000,
    ) -> None:
        if max_numbers < 1:
            raise InvalidParameterError("max_numbers must be at least 1")
        self.limits = check_limits(limits)
        self.clock = clock
        self.max_numbers = max_numbers
        self._window = max(s for _, s in self.limits)
        # number -> its send times; ordered by last send, oldest first (rule 2)
        self._history: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many numbers the table holds (each with a window still open, or about to
        expire at the next check)."""
        return len(self._history)

    def _expire(self, now: float) -> None:
        history = self._history
        floor = now - self._window
        while history:
            number, sends = next(iter(history.items()))
            if sends and sends[-1] > floor:
                break
            del history[number]

    def check(self, number: str) -> None:
        """Record a message for ``number``, or raise without recording.

        Raises:
            FrequencyLimitError: a limit refused it.
            GuardFullError: ``max_numbers`` other numbers all have a window open.
        """
        now = self.clock()
        self._expire(now)
        history = self._history.get(number)
        if history is not None:
            while history and history[0] <= now - self._window:
                history.popleft()
            for count, seconds in self.limits:
                recent = [t for t in history if t > now - seconds]
                if len(recent) >= count:
                    retry_after = recent[-count] + seconds - now
                    raise FrequencyLimitError(number, retry_after, (count, seconds))
        elif len(self._history) >= self.max_numbers:
            oldest = next(iter(self._history.values()))
            raise GuardFullError(self.max_numbers, oldest[-1] + self._window - now)
        else:
            history = self._history[number] = deque()
        history.append(now)
        self._history.move_to_end(number)

    async def acheck(self, number: str) -> None:
        """``check`` for the engine's ``submit()`` (the ``Guard`` protocol)."""
        self.check(number)

    def forget(self, number: str) -> None:
        """Drop a number's history (e.g. a message that was never sent)."""
        self._history.pop(number, None)
