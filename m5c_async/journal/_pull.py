"""Pull loops for accounts without push: reports (§6) and replies (§8) into the journal.

Each pulled batch is written to the journal as soon as its reply arrives. A pull consumes data on
the platform, so a reply lost on the way loses what it carried from the one-shot pull; the
repeatable queries (``reports_for``, ``replies_between``) are the way back (docs/client.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

from .._exceptions import M5CError
from ..client import AsyncClient
from ._journal import Journal

__all__ = ["pull_replies", "pull_reports"]

log = logging.getLogger("m5c_async.journal")
T = TypeVar("T")


async def _pull(
    fetch: Callable[[], Awaitable[Sequence[T]]],
    store: Callable[[Sequence[T]], Awaitable[int]],
    what: str,
    interval: float,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    while True:
        try:
            batch = await fetch()
        except M5CError as exc:
            log.warning("%s pull failed: %s", what, exc.message)
            batch = []
        if batch:
            await store(batch)
            continue
        await sleep(interval)


async def pull_reports(
    client: AsyncClient,
    journal: Journal,
    *,
    interval: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Pull delivery reports into the journal until cancelled; wait ``interval`` when none."""
    await _pull(client.reports, journal.store_reports, "report", interval, sleep)


async def pull_replies(
    client: AsyncClient,
    journal: Journal,
    *,
    interval: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Pull handset replies into the journal until cancelled."""
    await _pull(client.replies, journal.store_replies, "reply", interval, sleep)
