"""What the receiver, the pull loops and the journal tell an observer (metrics, for one).

The engine has ``Hooks``; the parts that do not run in the engine take one of these small
protocols instead. ``m5c_async.observability.Metrics`` implements both. Every call is cheap and
never raises into the caller's work: an observer's failure is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from .protocol import PushBatch

__all__ = ["InboundObserver", "JournalObserver", "notify"]

log = logging.getLogger("m5c_async")


class InboundObserver(Protocol):
    """Told about reports and replies as they arrive, pushed or pulled."""

    def on_inbound(self, batch: PushBatch[Any], *, via: str) -> None:
        """A push (``via="push"``) or a pull (``via="pull"``) was read and stored: its records,
        and the parts quarantined."""

    def on_push_refused(self, status: int) -> None:
        """A request to the receiver was refused with this HTTP status (403, 404, 413...)."""


class JournalObserver(Protocol):
    """Told about each group commit of the journal, from the journal's writer thread."""

    def on_journal_commit(self, seconds: float, operations: int, errors: Sequence[str]) -> None:
        """A transaction of ``operations`` committed in ``seconds``; ``errors`` holds the class
        name of each operation that failed (and was rolled back) in it, or of the commit
        itself when it failed."""


def notify(method: Any, *args: Any, **kwargs: Any) -> None:
    """Call an observer's method; its failure is logged, never raised."""
    try:
        method(*args, **kwargs)
    except Exception:
        log.exception("observer %s failed", getattr(method, "__qualname__", method))
