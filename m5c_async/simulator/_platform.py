"""The simulated platform's state and its endpoint logic, with injected clocks.

Rules it enforces (docs/protocol.md and docs/simulator.md):

1. Authentication in the document's order: missing username, password, apikey; md5 length;
   wrong apikey or password; blocked account; unbound IP.
2. Sends: missing recipient; unrecognized encoding; content empty or not decodable in ``encode``
   (``Missing message content``); over 500 characters (same reply); packet larger than the profile
   (``Throughput Rate Exceeded``); concurrency above the cap (same); balance; then the GCRA over
   messages with one second of tolerance (same reply when refused).
3. Invalid numbers in ``mobile`` are filtered out, as §8.2 says the platform does; a send left with
   none gets ``Missing recipient``.
4. Every accepted (msgid, mobile) gets a delivery report after a random delay; blacklisted numbers
   and content with a black keyword get ``NOSEND``.

Nothing here awaits: the ASGI layer calls these methods, and a ticker calls ``tick()``.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .._exceptions import InvalidParameterError
from ..protocol import (
    MAX_CONTENT_CHARS,
    Encoding,
    ErrorReply,
    Limiter,
    decode_wire_content,
    format_balance,
    format_billing_block,
    format_records,
    md5_hex,
    read_number,
    segments,
    wire_encoding,
    wire_text,
)
from ._accounts import AccountConfig, AccountState, BlacklistEntry
from ._inbound import Inbound, Reply, shanghai, valid_numbers
from ._lag import LoopLag

__all__ = ["LedgerEntry", "Platform", "PlatformSettings", "Reply"]

INTERNATIONAL_PRICE = Decimal("0.050")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformSettings:
    """Behaviour knobs of the simulated platform.

    Attributes:
        report_delay: (min, max) seconds between acceptance and a delivery report.
        outcomes: weights of DELIVRD, UNDELIV and NOSEND.
        reports: False disables delivery reports (for memory benchmarks of millions of numbers).
        report_fields: 4, 5 or 6: the shape of pulled reports.
        reply_separator: ``;`` or ``|||`` between pulled replies.
        push_batch: reports or replies per push.
        push_attempts: pushes before a batch is left for pulling instead.
        seed: random seed, so runs repeat.
        limiter: how the account's rate is counted: ``sliding`` (any one-second window, the
            default and the strictest), ``fixed`` (calendar seconds) or ``gcra``.
        tolerance: the GCRA's seconds of debt (``limiter="gcra"`` only).
        soap_password: what SOAP's ``password`` carries: ``either`` (the md5 or the plain
            password), ``md5`` or ``plain``.
        format_from: where a POST's ``format`` is read: ``either`` (query or body), ``query``
            (the document's URL parameter) or ``body``.
    """

    report_delay: tuple[float, float] = (0.5, 3.0)
    outcomes: tuple[float, float, float] = (0.97, 0.02, 0.01)
    reports: bool = True
    report_fields: int = 5
    reply_separator: str = ";"
    push_batch: int = 200
    push_attempts: int = 8
    seed: int = 5
    limiter: Limiter = Limiter.SLIDING
    tolerance: float = 1.0
    soap_password: str = "either"  # noqa: S105 - a mode name, not a secret
    format_from: str = "either"

    def __post_init__(self) -> None:
        object.__setattr__(self, "limiter", Limiter(self.limiter))
        if self.tolerance < 0:
            raise InvalidParameterError("tolerance must not be negative")
        if self.soap_password not in ("either", "md5", "plain"):
            raise InvalidParameterError("soap_password must be either, md5 or plain")
        if self.format_from not in ("either", "query", "body"):
            raise InvalidParameterError("format_from must be either, query or body")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One accepted request: every number of it shares the msgid (§6.1.3)."""

    msgid: str
    username: str
    mobiles: tuple[str, ...]
    content: str
    node: str
    at: float
    ext: str


@dataclass(slots=True)
class _Stats:
    requests: int = 0
    accepted: int = 0
    throttled: int = 0
    duplicates: int = 0
    errors: int = 0
    per_second: Counter[int] = field(default_factory=Counter)
    per_node: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    per_node_second: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))


class Platform(Inbound):
    """All accounts, the ledger and the report/reply machinery, shared by every node.

    Sends, accounts and queries are here; what comes back (reports and replies) is ``Inbound``.

    Example:
        >>> from m5c_async.simulator import AccountConfig, Platform
        >>> p = Platform([AccountConfig(username="demo", password="pw", apikey="k" * 32)])
        >>> p.account("demo").rate
        600.0
    """

    def __init__(
        self,
        accounts: Iterable[AccountConfig],
        *,
        settings: PlatformSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or PlatformSettings()
        self.clock = clock
        self.wall = wall
        self.accounts: dict[str, AccountState] = {}
        for config in accounts:
            self.add_account(config)
        self.ledger: list[LedgerEntry] = []
        self.stats = _Stats()
        self._seen: dict[str, set[int]] = defaultdict(set)
        self._rng = random.Random(self.settings.seed)
        self._msgid = 13_000_000_000_000 + self._rng.randrange(10**11)
        self._init_inbound()
        self.throttle_storm: dict[str, float] = {}
        self.started = clock()
        #: The event loop's lateness (``_lag.py``), reported in ``/_sim/stats`` when set; the
        #: server runs its timer.
        self.loop_lag: LoopLag | None = None
        self._counted_at = -math.inf

    # --- accounts -------------------------------------------------------------------------

    def add_account(self, config: AccountConfig) -> AccountState:
        """Add (or replace) an account."""
        state = AccountState(
            config, limiter_kind=self.settings.limiter, tolerance=self.settings.tolerance
        )
        self.accounts[config.username] = state
        return state

    def account(self, username: str) -> AccountState:
        """Return an account's state (KeyError when unknown)."""
        return self.accounts[username]

    # --- authentication -------------------------------------------------------------------

    def authenticate(
        self, username: str, password_md5: str, apikey: str, client_ip: str
    ) -> AccountState | Reply:
        """Check credentials in the document's order; return the account or an error reply."""
        if not username:
            return ErrorReply.MISSING_USERNAME
        if not password_md5:
            return ErrorReply.MISSING_PASSWORD
        if not apikey:
            return ErrorReply.MISSING_APIKEY
        if len(password_md5) != 32:
            return ErrorReply.BAD_MD5_LENGTH
        account = self.accounts.get(username)
        if (
            account is None
            or account.config.apikey != apikey
            or account.password_md5 != password_md5.lower()
        ):
            return ErrorReply.BAD_CREDENTIALS
        if account.blocked:
            return ErrorReply.ACCOUNT_BLOCKED
        if account.bound_ips and client_ip not in account.bound_ips:
            return ErrorReply.UNAUTHORIZED_IP
        return account

    def auth_fields(self, fields: dict[str, str], client_ip: str) -> AccountState | Reply:
        """Authenticate from wire fields (``password_md5``, or ``password`` for SOAP)."""
        md5 = fields.get("password_md5", fields.get("password", ""))
        return self.authenticate(
            wire_text(fields.get("username", "")),
            wire_text(md5),
            wire_text(fields.get("apikey", "")),
            client_ip,
        )

    def auth_soap(self, fields: dict[str, str], client_ip: str) -> AccountState | Reply:
        """Authenticate a SOAP call, whose ``password`` may be the md5 or the plain password.

        The client library sends the md5 (V6.0 made encrypted authentication global); the
        document's PHP example passes ``$password``. ``settings.soap_password`` says which the
        simulator takes: ``either`` (default), ``md5`` or ``plain``.
        """
        username = wire_text(fields.get("username", ""))
        given = wire_text(fields.get("password", ""))
        mode = self.settings.soap_password
        looks_md5 = len(given) == 32 and all(c in "0123456789abcdefABCDEF" for c in given)
        md5 = md5_hex(given) if mode == "plain" or (mode == "either" and not looks_md5) else given
        account = self.accounts.get(username)
        if (
            mode == "either"
            and looks_md5
            and account is not None
            and md5.lower() != account.password_md5
            and md5_hex(given) == account.password_md5
        ):
            md5 = account.password_md5  # a plain password that looks like an md5
        return self.authenticate(
            username, md5 if given else "", wire_text(fields.get("apikey", "")), client_ip
        )

    # --- sending --------------------------------------------------------------------------

    def _next_msgid(self) -> str:
        self._msgid += 1
        return str(self._msgid)

    def throttled(self, node: str) -> Reply:
        """Count a ``Throughput Rate Exceeded`` answered by ``node`` and return its text."""
        self.stats.throttled += 1
        self.stats.per_node[node]["throttled"] += 1
        return ErrorReply.THROTTLED

    def send(
        self,
        account: AccountState,
        node: str,
        *,
        mobile: str,
        content: str | None,
        encode: str | None,
        start_time: str = "",
        ext: str = "",
        plain_content: bool = False,
        arrived: float | None = None,
    ) -> Reply:
        """Handle one send (any format); ``content`` is a wire string unless ``plain_content``.

        ``arrived``: when the request's first bytes were read, on ``clock`` (``_arrival.py``);
        its messages count in the rate windows from then (now when None)."""
        numbers = valid_numbers(wire_text(mobile))
        if numbers is None:
            return ErrorReply.MISSING_RECIPIENT
        encoding = Encoding.UTF8 if plain_content else wire_encoding(encode)
        if encoding is None:
            return ErrorReply.UNRECOGNIZED_ENCODING
        text = self._content(content, encoding, plain_content)
        if text is None:
            return ErrorReply.MISSING_CONTENT
        return self._accept(account, node, [(numbers, text, start_time)], ext, arrived)

    def send_batch(
        self,
        account: AccountState,
        node: str,
        encode: str | None,
        items: list[tuple[str, str, str]],
        *,
        arrived: float | None = None,
    ) -> Reply:
        """Handle ``sms_batch.php``: items of (mobile, content, startTime) wire strings."""
        encoding = wire_encoding(encode)
        if encoding is None:
            return ErrorReply.UNRECOGNIZED_ENCODING
        if not items:
            return ErrorReply.MISSING_RECIPIENT
        parts = []
        for mobile, content, start in items:
            numbers = valid_numbers(wire_text(mobile))
            if numbers is None:
                return ErrorReply.MISSING_RECIPIENT
            text = self._content(content, encoding, False)
            if text is None:
                return ErrorReply.MISSING_CONTENT
            parts.append((numbers, text, start))
        return self._accept(account, node, parts, "", arrived)

    @staticmethod
    def _content(content: str | None, encoding: Encoding, plain: bool) -> str | None:
        if not content:
            return None
        if plain:
            text: str | None = _utf8(content)
        else:
            text = decode_wire_content(content, encoding)
        if not text or len(text) > MAX_CONTENT_CHARS:
            return None
        return text

    def _accept(
        self,
        account: AccountState,
        node: str,
        parts: list[tuple[list[str], str, str]],
        ext: str,
        arrived: float | None = None,
    ) -> Reply:
        # By arrival; never before a send already counted (the windows take times in order),
        # never after now.
        now = self.clock()
        if arrived is not None:
            now = min(now, max(arrived, self._counted_at))
        self._counted_at = now
        count = sum(len(numbers) for numbers, _, _ in parts)
        if count > account.packet_size:
            return self.throttled(node)
        storm_until = self.throttle_storm.get(node)
        if storm_until is not None and now < storm_until:
            return self.throttled(node)
        # Domestic messages are paid from the domestic balance (messages); international ones
        # from the international balance (money: 0.050 a segment here), as §5.1 keeps them apart.
        cost = intl_cost = 0
        for numbers, text, _ in parts:
            per = segments(text)
            foreign = sum(1 for n in numbers if len(n) != 11)
            cost += (len(numbers) - foreign) * per
            intl_cost += foreign * per
        intl_money = INTERNATIONAL_PRICE * intl_cost
        if cost > account.balance or intl_money > account.international_balance:
            return ErrorReply.INSUFFICIENT_BALANCE
        if not account.limiter.try_acquire(count, now):
            return self.throttled(node)
        if account.meter is not account.limiter:
            account.meter.add(count, now)
        account.balance -= cost
        account.charged += cost
        account.international_balance -= intl_money
        account.international_charged += intl_money
        msgid = self._next_msgid()
        wall = self.wall()
        username = account.config.username
        stats = self.stats
        second = int(now - self.started)
        for numbers, text, start in parts:
            seen = self._seen[text]
            for number in numbers:
                key = int(number)
                if key in seen:
                    stats.duplicates += 1
                else:
                    seen.add(key)
            self.ledger.append(
                LedgerEntry(
                    msgid=msgid,
                    username=username,
                    mobiles=tuple(numbers),
                    content=text,
                    node=node,
                    at=wall,
                    ext=ext,
                )
            )
            if self.settings.reports:
                begin = max(float(start), wall) if start.isdigit() else wall
                self._schedule_reports(account, msgid, numbers, text, begin, ext)
        stats.accepted += count
        stats.per_second[second] += count
        stats.per_node[node]["accepted"] += count
        stats.per_node_second[node][second] += count
        return f"success:{msgid}"

    # --- queries --------------------------------------------------------------------------

    def balance(self, account: AccountState) -> Reply:
        """``remaining/total`` (§4.1.2)."""
        return format_balance(account.balance, account.balance + account.charged)

    def records(self, account: AccountState, low: int, high: int, encoding: Encoding) -> Reply:
        """Send records of the account in [low, high] (§5.1.2)."""
        name = account.config.username
        rows = [
            (e.username, e.msgid, e.mobiles, e.content, int(e.at))
            for e in self.ledger
            if e.username == name and low <= int(e.at) <= high
        ]
        return format_records(rows, encoding)

    def billing(self, account: AccountState, agent: str, low: int, high: int) -> Reply:
        """Billing blocks (§5.1) for the account and its sub-accounts, or one sub-account."""
        name = account.config.username
        family = [name] + [u for u, a in self.accounts.items() if a.config.parent == name]
        if agent:
            if agent not in family:
                return "no record"
            family = [agent]
        blocks = []
        for username in family:
            state = self.accounts[username]
            sent: Counter[str] = Counter()
            for entry in self.ledger:
                if entry.username == username and low <= int(entry.at) <= high:
                    for number in entry.mobiles:
                        channel = "domestic" if len(number) == 11 else "international"
                        sent[channel] += segments(entry.content)
            total = state.balance + state.charged
            intl_total = state.international_balance + state.international_charged
            balance = (
                f"{total}|{state.balance}/{intl_total:.3f}|{state.international_balance:.3f}"
                "/0|0/0|0"
            )
            blocks.append(format_billing_block(username, sent, balance))
        return "".join(blocks)

    # --- blacklist and binding ------------------------------------------------------------

    def blacklist_check(self, account: AccountState, mobile: str) -> Reply:
        """§10.1.2."""
        entry = account.blacklist.get(wire_text(mobile))
        if entry is None:
            return "success:Non black number"
        return f"success:Black number;Desc:{entry.description};Addtime:{entry.added_at}"

    def blacklist_remove(self, account: AccountState, mobile: str) -> Reply:
        """§10.2.2: complaints and marketing accounts cannot remove a blacklisting."""
        number = wire_text(mobile)
        entry = account.blacklist.get(number)
        if entry is None or entry.kind == "complaint" or account.config.profile == "marketing":
            return ErrorReply.BLACKLIST_REFUSED
        del account.blacklist[number]
        return "success:Added white number"

    def blacklist_add(self, username: str, mobile: str, kind: str, description: str = "") -> None:
        """Admin: blacklist a number for an account."""
        added = shanghai(self.wall()).strftime("%Y-%m-%d %H:%M:%S")
        self.accounts[username].blacklist[read_number(mobile)] = BlacklistEntry(
            kind=kind, description=description or kind, added_at=added
        )

    def bind(self, account: AccountState, ips: str) -> Reply:
        """IP binding (§2.3, action=0): replace the account's list."""
        addresses = frozenset(ip.strip() for ip in wire_text(ips).split(",") if ip.strip())
        if not addresses:
            return ErrorReply.MISSING_RECIPIENT
        account.bound_ips = addresses
        return f"success:{len(addresses)}"

    # --- observability --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The JSON of ``GET /_sim/stats``."""
        s = self.stats
        return {
            "requests": s.requests,
            "accepted": s.accepted,
            "throttled": s.throttled,
            "duplicates": s.duplicates,
            "errors": s.errors,
            "ledger_requests": len(self.ledger),
            "reports_due": len(self._due),
            "per_second": {str(k): v for k, v in sorted(s.per_second.items())},
            "per_node": {node: dict(c) for node, c in s.per_node.items()},
            "per_node_second": {
                node: {str(k): v for k, v in sorted(c.items())}
                for node, c in s.per_node_second.items()
            },
            "accounts": {
                u: {
                    "balance": a.balance,
                    "charged": a.charged,
                    "rate": a.rate,
                    "limiter": a.limiter_kind.value,
                    "max_window": a.meter.peak,
                    "in_flight": a.in_flight,
                    "pending_reports": len(a.pending_reports),
                }
                for u, a in self.accounts.items()
            },
            **({"loop_lag": self.loop_lag.summary()} if self.loop_lag is not None else {}),
        }


def _utf8(value: str) -> str:
    return value.encode("latin-1", errors="replace").decode("utf-8", errors="replace")
