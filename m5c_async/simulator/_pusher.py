"""Pushes delivery reports (§7) and replies (§9) to each account's URL, as the platform does.

A batch of at most ``push_batch`` records is POSTed as ``data=...`` (UTF-8) in the account's
format. Only a body of ``success`` ends it; anything else (another body, an HTTP error, a refused
connection, a timeout) schedules a retry with exponential backoff. After ``push_attempts`` the
batch is left for the one-shot pull instead, so nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sized
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx

from ..protocol import format_reply_push, format_report_push
from ._platform import Platform

__all__ = ["Pusher"]

log = logging.getLogger("m5c_async.simulator")
Kind = Literal["report", "reply"]


@dataclass(slots=True)
class _Retry:
    attempts: int = 0
    next_at: float = 0.0
    busy: bool = False


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
    ) -> None:
        self.platform = platform
        self.http = http
        self.interval = interval
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._retry: dict[tuple[Kind, str], _Retry] = {}
        self.pushed = {"report": 0, "reply": 0}
        self.failures = 0

    async def run(self) -> None:
        """Tick and push until cancelled."""
        async with anyio.create_task_group() as tg:
            while True:
                self.platform.tick()
                self._start_pushes(tg)
                await anyio.sleep(self.interval)

    def _start_pushes(self, tg: anyio.abc.TaskGroup) -> None:
        now = self.platform.clock()
        kinds: tuple[Kind, ...] = ("report", "reply")
        for kind in kinds:
            queue: Mapping[str, Sized] = (
                self.platform.report_push_queue
                if kind == "report"
                else self.platform.reply_push_queue
            )
            for username, items in queue.items():
                if not items:
                    continue
                state = self._retry.setdefault((kind, username), _Retry())
                if state.busy or now < state.next_at:
                    continue
                state.busy = True
                tg.start_soon(self._push, kind, username, state)

    async def _push(self, kind: Kind, username: str, state: _Retry) -> None:
        platform = self.platform
        account = platform.accounts[username]
        size = platform.settings.push_batch
        reports = platform.report_push_queue[username][:size] if kind == "report" else []
        replies = platform.reply_push_queue[username][:size] if kind == "reply" else []
        count = len(reports) + len(replies)
        url = account.report_push_url if kind == "report" else account.reply_push_url
        try:
            ok = False
            if url is not None:
                if kind == "report":
                    data = format_report_push(reports, account.push_format)
                else:
                    data = format_reply_push(replies, account.push_format)
                ok = await self._post(url, data)
            if not ok:
                self.failures += 1
                state.attempts += 1
                if state.attempts < platform.settings.push_attempts and url is not None:
                    delay = min(self.backoff * 2 ** (state.attempts - 1), self.max_backoff)
                    state.next_at = platform.clock() + delay
                    return
                # Given up on pushing: keep the batch for the one-shot pull, never drop it.
                if kind == "report":
                    platform.leave_for_pull(username, reports)
                else:
                    account.pending_replies.extend(
                        (e, r, m, c, float(t)) for e, r, m, c, t in replies
                    )
            else:
                self.pushed[kind] += count
            queue: dict[str, Any] = (
                platform.report_push_queue if kind == "report" else platform.reply_push_queue
            )
            del queue[username][:count]
            state.attempts = 0
            state.next_at = 0.0
        finally:
            state.busy = False

    async def _post(self, url: str, data: str) -> bool:
        try:
            response = await self.http.post(url, data={"data": data}, timeout=5.0)
        except httpx.HTTPError as exc:
            log.debug("push to %s failed: %s", url, type(exc).__name__)
            return False
        return response.status_code == 200 and response.text.strip() == "success"
