"""Pushes delivery reports (§7) and replies (§9) to each account's URL, as the platform does.

What goes on the wire copies the document's examples byte for byte (``protocol.format_*_push``
and ``encode_push_data``): content plain inside ``data`` (no second encoding), ``data`` URL-encoded
once with lower-case escapes in the string form (``%2c``, ``%e5%a5%bd``) and PHP's upper-case
ones in JSON and XML. It is POSTed as a form body (``data=...``), or in the query string when
``via="query"`` (the examples write it there).

"请求线程：多线程": up to ``max_in_flight`` batches of one account and kind are in flight at
once, each of at most ``push_batch`` records. Only a body of ``success`` ends a batch; anything
else (another body, an HTTP error, a refused connection, a timeout) retries that same batch, byte
for byte, with exponential backoff. After ``push_attempts`` the batch is left for the one-shot
pull instead, so nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.abc
import httpx

from .._exceptions import InvalidParameterError
from ..protocol import encode_push_data, format_reply_push, format_report_push
from ._platform import Platform

__all__ = ["Pusher"]

log = logging.getLogger("m5c_async.simulator")
Kind = Literal["report", "reply"]


@dataclass(slots=True)
class _Batch:
    kind: Kind
    username: str
    items: list[Any]
    attempts: int = 0
    next_at: float = 0.0


@dataclass(slots=True)
class _Lane:
    in_flight: int = 0
    waiting: list[_Batch] = field(default_factory=list)


class Pusher:
    """Ticks the platform (reports fall due) and pushes what is queued.

    Example:
        >>> # async with httpx.AsyncClient() as http:
        >>> #     await Pusher(platform, http).run()   # until cancelled
    """

    def __init__(
        self,
        platform: Platform,
        http: httpx.AsyncClient,
        *,
        interval: float = 0.05,
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        max_in_flight: int = 4,
        via: Literal["body", "query"] = "body",
        timeout: float = 5.0,
    ) -> None:
        if max_in_flight < 1:
            raise InvalidParameterError("max_in_flight must be at least 1")
        self.platform = platform
        self.http = http
        self.interval = interval
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_in_flight = max_in_flight
        self.via = via
        self.timeout = timeout
        self._lanes: dict[tuple[Kind, str], _Lane] = {}
        self.pushed = {"report": 0, "reply": 0}
        self.failures = 0
        self.peak_in_flight = 0

    async def run(self) -> None:
        """Tick and push until cancelled."""
        async with anyio.create_task_group() as tg:
            while True:
                self.platform.tick()
                self._start_pushes(tg)
                await anyio.sleep(self.interval)

    def _queue(self, kind: Kind, username: str) -> list[Any]:
        queues: Any = (
            self.platform.report_push_queue if kind == "report" else self.platform.reply_push_queue
        )
        queue: list[Any] = queues[username]
        return queue

    def _start_pushes(self, tg: anyio.abc.TaskGroup) -> None:
        now = self.platform.clock()
        size = self.platform.settings.push_batch
        kinds: tuple[Kind, ...] = ("report", "reply")
        for kind in kinds:
            queues: Any = (
                self.platform.report_push_queue
                if kind == "report"
                else self.platform.reply_push_queue
            )
            for username in list(queues):
                lane = self._lanes.setdefault((kind, username), _Lane())
                due = [b for b in lane.waiting if b.next_at <= now]
                queue = self._queue(kind, username)
                while lane.in_flight < self.max_in_flight and (due or queue):
                    if due:
                        batch = due.pop(0)
                        lane.waiting.remove(batch)
                    else:
                        batch = _Batch(kind, username, queue[:size])
                        del queue[:size]
                    lane.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, lane.in_flight)
                    tg.start_soon(self._push, lane, batch)

    def _data(self, batch: _Batch) -> tuple[str | None, str]:
        account = self.platform.accounts[batch.username]
        fmt = account.push_format
        if batch.kind == "report":
            return account.report_push_url, format_report_push(batch.items, fmt)
        return account.reply_push_url, format_reply_push(batch.items, fmt)

    async def _push(self, lane: _Lane, batch: _Batch) -> None:
        platform = self.platform
        try:
            url, data = self._data(batch)
            fmt = platform.accounts[batch.username].push_format
            ok = url is not None and await self._post(url, encode_push_data(data, fmt))
            if ok:
                self.pushed[batch.kind] += len(batch.items)
                return
            self.failures += 1
            batch.attempts += 1
            if batch.attempts < platform.settings.push_attempts and url is not None:
                delay = min(self.backoff * 2 ** (batch.attempts - 1), self.max_backoff)
                batch.next_at = platform.clock() + delay
                lane.waiting.append(batch)
                return
            self._give_up(batch)
        finally:
            lane.in_flight -= 1

    def _give_up(self, batch: _Batch) -> None:
        # Given up on pushing: keep the batch for the one-shot pull, never drop it.
        if batch.kind == "report":
            self.platform.leave_for_pull(batch.username, batch.items)
            return
        account = self.platform.accounts[batch.username]
        items: Sequence[tuple[str, str, str, str, int]] = batch.items
        account.pending_replies.extend((e, r, m, c, float(t)) for e, r, m, c, t in items)

    async def _post(self, url: str, encoded: str) -> bool:
        try:
            if self.via == "query":
                sep = "&" if "?" in url else "?"
                response = await self.http.post(f"{url}{sep}data={encoded}", timeout=self.timeout)
            else:
                response = await self.http.post(
                    url,
                    content=b"data=" + encoded.encode("ascii"),
                    headers={"content-type": "application/x-www-form-urlencoded"},
                    timeout=self.timeout,
                )
        except httpx.HTTPError as exc:
            log.debug("push to %s failed: %s", url, type(exc).__name__)
            return False
        return response.status_code == 200 and response.text.strip() == "success"
