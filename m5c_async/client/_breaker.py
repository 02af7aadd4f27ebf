"""Per-node health: a circuit breaker, with the clock passed in.

Rules:

1. *Closed*: requests flow; ``failure_threshold`` consecutive failures open the circuit.
2. *Open*: the node is skipped until ``cooldown`` seconds have passed.
3. *Half-open*: one probe request is let through; success closes the circuit, failure opens it
   for another cool-down. Other requests keep skipping the node while the probe is out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .._exceptions import InvalidParameterError

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    """The three states of a circuit."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """How quickly a failing node is set aside, and for how long.

    Example:
        >>> BreakerConfig(failure_threshold=3, cooldown=5.0).cooldown
        5.0
    """

    failure_threshold: int = 3
    cooldown: float = 5.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.cooldown < 0:
            raise InvalidParameterError("failure_threshold must be >= 1 and cooldown >= 0")


class CircuitBreaker:
    """The health of one node.

    Example:
        >>> b = CircuitBreaker(BreakerConfig(failure_threshold=1, cooldown=10))
        >>> b.failure(now=0.0); b.allow(now=5.0), b.allow(now=10.0), b.allow(now=10.0)
        (False, True, False)
    """

    __slots__ = ("config", "failures", "opened_at", "probing", "state")

    def __init__(self, config: BreakerConfig | None = None) -> None:
        self.config = config or BreakerConfig()
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def allow(self, now: float) -> bool:
        """Whether a request may go to this node now (may start a half-open probe)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if now - self.opened_at < self.config.cooldown:
                return False
            self.state = BreakerState.HALF_OPEN
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        """A request to the node worked."""
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.probing = False

    def failure(self, now: float) -> None:
        """A request to the node failed at the transport level."""
        self.probing = False
        if self.state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        self.failures += 1
        if self.failures >= self.config.failure_threshold:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.failures = 0

    @property
    def healthy(self) -> bool:
        """True when the circuit is closed."""
        return self.state is BreakerState.CLOSED
