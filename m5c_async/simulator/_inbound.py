"""What the simulated platform sends back: delivery reports and handset replies.

Reports are scheduled when a send is accepted (a random delay, an outcome drawn from the
settings' weights; blacklisted numbers and black keywords get ``NOSEND``) and delivered by
``tick()``: onto the push queue of an account with a push URL, else kept for the one-shot pull
(§6.1.2). Every report also stays queryable by number (§6.1.3). Replies are injected (a handset
answers) and likewise pushed or kept for the pull (§8.1), and stay queryable (§8.2).
``Platform`` inherits this; the pusher drains the push queues.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from .._exceptions import InvalidNumberError
from ..protocol import (
    SHANGHAI,
    Encoding,
    format_replies,
    format_reports,
    read_number,
    split_mobiles,
    wire_text,
)
from ._accounts import AccountState

if TYPE_CHECKING:
    from ._platform import PlatformSettings

__all__ = ["Inbound", "Reply", "shanghai", "valid_numbers"]

Reply = str


def valid_numbers(mobile: str) -> list[str] | None:
    """The valid numbers of a ``mobile`` field (invalid ones filtered out, as §8.2 says the
    platform does), or None when none is left."""
    numbers = []
    for raw in split_mobiles(mobile):
        try:
            numbers.append(read_number(raw))
        except InvalidNumberError:
            continue
    return numbers or None


def shanghai(at: float) -> datetime:
    """A Unix time as the platform's wall clock shows it."""
    return datetime.fromtimestamp(at, tz=SHANGHAI)


class Inbound:
    """Reports and replies of every account: scheduled, delivered, pushed or kept for pulls."""

    # Set by Platform.__init__ before _init_inbound().
    accounts: dict[str, AccountState]
    settings: PlatformSettings
    wall: Callable[[], float]
    _rng: random.Random

    def _init_inbound(self) -> None:
        self._reply_id = 1_000_000
        self._due: list[tuple[float, int, str, str, str, str]] = []
        self._due_seq = 0
        self.report_push_queue: dict[str, list[tuple[str, str, str, int]]] = defaultdict(list)
        self.reply_push_queue: dict[str, list[tuple[str, str, str, str, int]]] = defaultdict(list)

    # --- reports --------------------------------------------------------------------------

    def _schedule_reports(
        self,
        account: AccountState,
        msgid: str,
        numbers: list[str],
        text: str,
        begin: float,
        ext: str,
    ) -> None:
        low, high = self.settings.report_delay
        blocked_text = any(word in text for word in account.black_keywords)
        weights = self.settings.outcomes
        rng = self._rng
        for number in numbers:
            if blocked_text or number in account.blacklist:
                status = "NOSEND"
            else:
                status = rng.choices(("DELIVRD", "UNDELIV", "NOSEND"), weights)[0]
            self._due_seq += 1
            due = begin + rng.uniform(low, high)
            heapq.heappush(
                self._due,
                (due, self._due_seq, account.config.username, msgid, number, f"{ext}|{status}"),
            )

    def tick(self) -> int:
        """Deliver every report whose time has come; return how many."""
        wall = self.wall()
        due = self._due
        delivered = 0
        while due and due[0][0] <= wall:
            at, _, username, msgid, number, tail = heapq.heappop(due)
            ext, status = tail.split("|", 1)
            account = self.accounts[username]
            report = (ext, msgid, number, status, at)
            account.reports_by_mobile.setdefault(number, []).append(report)
            if account.report_push_url:
                self.report_push_queue[username].append((msgid, number, status, int(at)))
            else:
                account.pending_reports.append(report)
            delivered += 1
        return delivered

    @property
    def reports_due(self) -> int:
        """Reports scheduled and not yet delivered."""
        return len(self._due)

    def pull_reports(self, account: AccountState, limit: int = 500) -> Reply:
        """One-shot pull (§6.1.2): returns up to ``limit`` reports and forgets them."""
        out: list[tuple[str, str, str, str, float]] = []
        pending = account.pending_reports
        while pending and len(out) < limit:
            out.append(pending.popleft())
        return self._format_reports(out)

    def reports_for(self, account: AccountState, mobiles: str, low: int, high: int) -> Reply:
        """Repeatable query by number and time range (§6.1.3)."""
        out: list[tuple[str, str, str, str, float]] = []
        for number in split_mobiles(wire_text(mobiles)):
            for report in account.reports_by_mobile.get(number, ()):
                if low <= int(report[4]) <= high:
                    out.append(report)
        return self._format_reports(out)

    def _format_reports(self, reports: list[tuple[str, str, str, str, float]]) -> Reply:
        rows = [
            (ext, msgid, str(index + 1), number, shanghai(at), status)
            for index, (ext, msgid, number, status, at) in enumerate(reports)
        ]
        return format_reports(rows, fields=self.settings.report_fields)

    def leave_for_pull(self, username: str, reports: list[tuple[str, str, str, int]]) -> None:
        """Push gave up on these reports: keep them for the one-shot pull instead."""
        account = self.accounts[username]
        for msgid, number, status, at in reports:
            account.pending_reports.append(("", msgid, number, status, float(at)))

    # --- replies --------------------------------------------------------------------------

    def inject_reply(self, username: str, mobile: str, content: str, ext: str = "") -> str:
        """A handset replies (admin endpoint); returns the reply id."""
        account = self.accounts[username]
        self._reply_id += 1
        reply_id = str(self._reply_id)
        at = self.wall()
        record = (ext or "0", reply_id, read_number(mobile), content, at)
        account.replies.append(record)
        if account.reply_push_url:
            self.reply_push_queue[username].append((*record[:4], int(at)))
        else:
            account.pending_replies.append(record)
        return reply_id

    def pull_replies(self, account: AccountState, debug: bool, encoding: Encoding) -> Reply:
        """One-shot reply pull (§8.1); ``debug`` leaves them in place."""
        items = list(account.pending_replies)
        if not debug:
            account.pending_replies.clear()
        return self._format_replies(items, encoding)

    def replies_between(
        self, account: AccountState, low: int, high: int, mobiles: str, encoding: Encoding
    ) -> Reply:
        """Repeatable reply query (§8.2); invalid numbers are filtered out."""
        wanted = {n for n in (valid_numbers(wire_text(mobiles)) or [])} if mobiles else None
        items = [
            r
            for r in account.replies
            if low <= int(r[4]) <= high and (wanted is None or r[2] in wanted)
        ]
        return self._format_replies(items, encoding)

    def _format_replies(
        self, items: list[tuple[str, str, str, str, float]], encoding: Encoding
    ) -> Reply:
        rows = [(e, r, m, c, shanghai(at)) for e, r, m, c, at in items]
        return format_replies(rows, encoding, separator=self.settings.reply_separator)
