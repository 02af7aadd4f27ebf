"""Frozen results of the client's sends, and its timeout settings."""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import InvalidParameterError
from ..protocol import Rejected, SendFormat

__all__ = ["SendReceipt", "Timeouts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReceipt:
    """What one accepted send returned.

    Attributes:
        msgid: the platform's id, shared by every number of the request (§6.1.3).
        accepted: the numbers sent, normalised.
        rejected: numbers refused before sending, each with its reason.
        node: the node (name or base URL) that accepted the request.
        format: the send format used.
        sent_at: Unix time when the request left.
    """

    msgid: str
    accepted: tuple[str, ...]
    rejected: tuple[Rejected, ...]
    node: str
    format: SendFormat
    sent_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds to wait for each phase of a request.

    Example:
        >>> Timeouts(read=5.0).connect
        3.0
    """

    connect: float = 3.0
    read: float = 10.0
    write: float = 10.0
    pool: float = 10.0

    def __post_init__(self) -> None:
        if min(self.connect, self.read, self.write, self.pool) <= 0:
            raise InvalidParameterError("timeouts must be positive")
