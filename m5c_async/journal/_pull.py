"""Pull loops for accounts without push: reports (§6) and replies (§8) into the journal.

Each pulled batch is written to the journal as soon as its reply arrives, and before the next
pull: a pull consumes data on the platform, so a batch whose write fails is written again until
it holds (the loop stays cancellable). A reply lost on the way loses what it carried from the
one-shot pull; the repeatable queries (``reports_for``, ``replies_between``) are the way back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._exceptions import M5CError
from .._observers import InboundObserver, notify
from ..client import AsyncClient
from ..protocol import PushBatch
from ._journal import Journal

__all__ = ["pull_replies", "pull_reports"]

log = logging.getLogger("m5c_async.journal")


async def _pull(
    fetch: Callable[[], Awaitable[PushBatch[Any]]],
    journal: Journal,
    what: str,
    interval: float,
    sleep: Callable[[float], Awaitable[None]],
    observer: InboundObserver | None,
) -> None:
    while True:
        try:
            batch = await fetch()
        except M5CError as exc:
            log.warning("%s pull failed: %s", what, exc.message)
            await sleep(interval)
            continue
        if not batch.received:
            await sleep(interval)
            continue
        # The platform has forgotten this batch: storing it (records and quarantined parts) is
        # retried, cancellably, until it holds, and nothing more is pulled meanwhile.
        while True:
            try:
                await journal.store_push(batch, via="pull")
                if observer is not None:
                    notify(observer.on_inbound, batch, via="pull")
                break
            except Exception as exc:  # a failed journal write: the batch exists only here
                log.error("storing %d pulled %ss failed (%s); retrying", batch.received, what, exc)
                await sleep(interval)


async def pull_reports(
    client: AsyncClient,
    journal: Journal,
    *,
    interval: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    observer: InboundObserver | None = None,
) -> None:
    """Pull delivery reports into the journal until cancelled; wait ``interval`` when none."""
    await _pull(client.pull_reports, journal, "report", interval, sleep, observer)


async def pull_replies(
    client: AsyncClient,
    journal: Journal,
    *,
    interval: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    observer: InboundObserver | None = None,
) -> None:
    """Pull handset replies into the journal until cancelled."""
    await _pull(client.pull_replies, journal, "reply", interval, sleep, observer)
