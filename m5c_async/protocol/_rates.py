"""GCRA (generic cell rate algorithm) over messages: one pure object, shared by sides.

The simulator enforces the platform's rate with it, and the engine paces with it, so both read
the same rule (docs/protocol.md, "Rates"): a reservation of ``n`` messages is admitted while the
account's *debt* (booked time beyond now) is at most ``tolerance`` seconds, and then adds
``n / rate`` seconds of debt. A packet larger than one second's budget is thus admitted and paid
for afterwards. Time is always passed in; nothing here reads a clock.

Example:
    >>> g = Gcra(rate=600, tolerance=1.0)
    >>> g.try_acquire(10_000, now=0.0)
    True
    >>> g.try_acquire(1, now=1.0)
    False
    >>> round(g.debt(now=16.0), 3)
    0.667
"""

from __future__ import annotations

__all__ = ["Gcra"]


class Gcra:
    """A GCRA meter with a theoretical arrival time (``tat``) in seconds."""

    __slots__ = ("interval", "rate", "tat", "tolerance")

    def __init__(self, *, rate: float, tolerance: float = 1.0) -> None:
        if rate <= 0 or tolerance < 0:
            raise ValueError("rate must be positive and tolerance non-negative")
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

    def set_rate(self, rate: float) -> None:
        """Change the rate for future bookings; what is booked stays booked."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.interval = 1.0 / self.rate

    def refund(self, n: int) -> None:
        """Give back ``n`` messages booked but not sent."""
        self.tat -= n * self.interval

    def __repr__(self) -> str:
        return f"Gcra(rate={self.rate}, tolerance={self.tolerance})"
