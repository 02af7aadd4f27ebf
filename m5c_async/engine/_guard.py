"""A per-number frequency guard against "SMS bombing" of verification codes (§2.1's warning).

Limits are (count, seconds) pairs, e.g. ``[(1, 60), (5, 3600)]``: at most one message a minute
and five an hour per number. Local to the process by default; the clock is injected.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

from .._exceptions import FrequencyLimitError, InvalidParameterError

__all__ = ["FrequencyGuard"]


class FrequencyGuard:
    """Refuses a number that exceeds any of its limits.

    Example:
        >>> now = [0.0]
        >>> guard = FrequencyGuard([(1, 60)], clock=lambda: now[0])
        >>> guard.check("13800138000")
        >>> now[0] = 61.0; guard.check("13800138000")
    """

    def __init__(
        self,
        limits: Sequence[tuple[int, float]] = ((1, 60.0), (5, 3600.0)),
        *,
        clock: Callable[[], float] = time.monotonic,
        max_numbers: int = 1_000_000,
    ) -> None:
        if not limits or any(c < 1 or s <= 0 for c, s in limits):
            raise InvalidParameterError("limits are (count >= 1, seconds > 0) pairs")
        self.limits = tuple(sorted(((int(c), float(s)) for c, s in limits), key=lambda x: x[1]))
        self.clock = clock
        self.max_numbers = max_numbers
        self._window = max(s for _, s in self.limits)
        self._history: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, number: str) -> None:
        """Record a message for ``number``, or raise ``FrequencyLimitError`` without recording."""
        now = self.clock()
        history = self._history.get(number)
        if history is None:
            history = deque()
            self._history[number] = history
            if len(self._history) > self.max_numbers:
                self._history.popitem(last=False)
        else:
            self._history.move_to_end(number)
        while history and history[0] <= now - self._window:
            history.popleft()
        for count, seconds in self.limits:
            recent = [t for t in history if t > now - seconds]
            if len(recent) >= count:
                retry_after = recent[-count] + seconds - now
                raise FrequencyLimitError(number, retry_after, (count, seconds))
        history.append(now)

    def forget(self, number: str) -> None:
        """Drop a number's history (e.g. a message that was never sent)."""
        self._history.pop(number, None)
