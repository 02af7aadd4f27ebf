"""Pull loops for accounts without push: reports (§6) and replies (§8) into the journal.

Each pulled batch is written to the journal as soon as its reply arrives. A pull consumes data on
the platform, so a reply lost on the way loses what it carried from the one-shot pull; the
repeatable queries (``reports_for``, ``replies_between``) are the way back (docs/client.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from .._client import AsyncClient
from .._exceptions import M5CError
from ._journal import Journal

__all__ = ["pull_replies", "pull_reports"]

log = logging.getLogger("m5c_async.journal")


async def pull_reports(
    client: AsyncClient,
    journal: Journal,
    *,
    interval: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Pull delivery reports into the journal until cancelled; back off when none come."""
    while True:
        try:
            reports = await client.reports()
        except M5CError as exc:
            log.warning("report pull failed: %s", exc.message)
            reports = []
        if reports:
            await journal.store_reports(reports)
            continue
        await sleep(interval)


async def pull_replies(
    client: AsyncClient,
    journal: Journal,
    *,
    interval: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Pull handset replies into the journal until cancelled."""
    while True:
        try:
            replies = await client.replies()
        except M5CError as exc:
            log.warning("reply pull failed: %s", exc.message)
            replies = []
        if replies:
            await journal.store_replies(replies)
            continue
        await sleep(interval)
