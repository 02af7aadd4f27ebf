"""Simulated accounts: their configuration (frozen) and their running state."""

from __future__ import annotations

import tomllib
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._exceptions import InvalidParameterError
from ..protocol import (
    PROFILES,
    BusinessType,
    Limiter,
    PushFormat,
    RateLimiter,
    SlidingWindow,
    make_limiter,
    md5_hex,
)

__all__ = ["DEMO_ACCOUNT", "AccountConfig", "AccountState", "load_accounts", "parse_account_spec"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountConfig:
    """One account of the simulated platform.

    Limits default to the profile's caps (§3.6); set ``rate``, ``concurrency`` or ``packet_size``
    to scale a test down or lift a cap for a benchmark.

    Example:
        >>> AccountConfig(username="demo", password="demo-pass", apikey="k" * 32).profile
        <BusinessType.NOTIFICATION: 'notification'>
    """

    username: str
    password: str
    apikey: str
    profile: BusinessType = BusinessType.NOTIFICATION
    rate: float | None = None
    concurrency: int | None = None
    packet_size: int | None = None
    balance: int = 10_000_000
    international_balance: Decimal = Decimal("1000.000")
    blocked: bool = False
    parent: str | None = None
    report_push_url: str | None = None
    reply_push_url: str | None = None
    push_format: PushFormat = PushFormat.STRING
    blacklist: tuple[tuple[str, str], ...] = ()
    black_keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.username) < 3 or not self.password or not self.apikey:
            raise InvalidParameterError(
                "an account needs a username of 3+ characters, password and apikey"
            )

    def __repr__(self) -> str:
        return f"AccountConfig(username={self.username!r}, profile={self.profile.value!r})"


#: The account served when none is given; printed at start-up, as it guards nothing.
DEMO_ACCOUNT = AccountConfig(
    username="demo",
    password="demo-password",  # noqa: S106 - a public demo credential of the simulator
    apikey="0123456789abcdef0123456789abcdef",
)


def parse_account_spec(spec: str) -> AccountConfig:
    """Read ``USERNAME:PASSWORD:APIKEY[:PROFILE]`` (the ``--account`` option).

    Raises:
        ValueError: a malformed spec or an unknown profile.
    """
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise InvalidParameterError("an account is USERNAME:PASSWORD:APIKEY[:PROFILE]")
    profile = BusinessType(parts[3]) if len(parts) == 4 else BusinessType.NOTIFICATION
    return AccountConfig(username=parts[0], password=parts[1], apikey=parts[2], profile=profile)


def load_accounts(path: Path) -> list[AccountConfig]:
    """Read ``[[accounts]]`` tables from a TOML file; keys are AccountConfig's fields."""
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    accounts = []
    for entry in data.get("accounts", []):
        fields = dict(entry)
        if "profile" in fields:
            fields["profile"] = BusinessType(fields["profile"])
        if "push_format" in fields:
            fields["push_format"] = PushFormat(fields["push_format"])
        if "blacklist" in fields:
            fields["blacklist"] = tuple((str(m), str(k)) for m, k in fields["blacklist"])
        if "black_keywords" in fields:
            fields["black_keywords"] = tuple(fields["black_keywords"])
        if "international_balance" in fields:
            fields["international_balance"] = Decimal(str(fields["international_balance"]))
        accounts.append(AccountConfig(**fields))
    return accounts


@dataclass(slots=True, kw_only=True)
class BlacklistEntry:
    """Why a number is blacklisted: ``complaint`` cannot be removed; ``td``/``frequency`` can."""

    kind: str
    description: str
    added_at: str


@dataclass(slots=True)
class AccountState:
    """The running state of one account.

    ``limiter`` enforces the account's rate under the run's reading (``limiter_kind``);
    ``meter`` records the largest count of accepted messages in any one-second window, by
    arrival, whatever the reading.
    """

    config: AccountConfig
    limiter_kind: Limiter = Limiter.SLIDING
    tolerance: float = 1.0
    password_md5: str = ""
    limiter: RateLimiter = field(init=False)
    meter: SlidingWindow = field(init=False)
    rate: float = 0.0
    concurrency: int = 0
    packet_size: int = 0
    in_flight: int = 0
    balance: int = 0
    charged: int = 0
    international_balance: Decimal = Decimal(0)
    international_charged: Decimal = Decimal(0)
    blocked: bool = False
    bound_ips: frozenset[str] = frozenset()
    blacklist: dict[str, BlacklistEntry] = field(default_factory=dict)
    black_keywords: tuple[str, ...] = ()
    report_push_url: str | None = None
    reply_push_url: str | None = None
    push_format: PushFormat = PushFormat.STRING
    pending_reports: deque[tuple[str, str, str, str, float]] = field(default_factory=deque)
    reports_by_mobile: dict[str, list[tuple[str, str, str, str, float]]] = field(
        default_factory=dict
    )
    pending_replies: deque[tuple[str, str, str, str, float]] = field(default_factory=deque)
    replies: list[tuple[str, str, str, str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.config
        profile = PROFILES[cfg.profile]
        self.password_md5 = md5_hex(cfg.password)
        self.rate = float(cfg.rate or profile.rate)
        self.concurrency = cfg.concurrency or profile.concurrency
        self.packet_size = cfg.packet_size or profile.packet_size
        self.limiter = make_limiter(self.limiter_kind, self.rate, tolerance=self.tolerance)
        self.meter = (
            self.limiter
            if isinstance(self.limiter, SlidingWindow)
            else SlidingWindow(rate=max(self.rate, 1.0))
        )
        self.balance = cfg.balance
        self.international_balance = cfg.international_balance
        self.blocked = cfg.blocked
        self.blacklist = {
            m: BlacklistEntry(kind=k, description=k, added_at="2016-12-01 10:00:00")
            for m, k in cfg.blacklist
        }
        self.black_keywords = cfg.black_keywords
        self.report_push_url = cfg.report_push_url
        self.reply_push_url = cfg.reply_push_url
        self.push_format = cfg.push_format

    def set_rate(self, rate: float) -> None:
        """Change the account's rate; what is booked stays booked."""
        self.rate = rate
        self.limiter.set_rate(rate)
        if self.meter is not self.limiter:
            self.meter.set_rate(max(rate, 1.0))
