"""Frozen result records shared by the parsers, the client, the simulator and the webhook."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

__all__ = [
    "SHANGHAI",
    "Balance",
    "BillingEntry",
    "BlacklistStatus",
    "ChannelBalance",
    "DeliveryReport",
    "InboundReply",
    "SendRecord",
]

#: The platform's wall-clock times (``2013-09-12 09:09:31``) are Beijing time. China has kept
#: UTC+8 without daylight saving since 1991, so a fixed offset is exact and needs no tz database.
SHANGHAI: Final = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """§4.1.2 ``remaining/total``: what is left and what was ever charged."""

    remaining: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRecord:
    """One record of ``action=record`` (§5.1.2)."""

    username: str
    msgid: str
    mobiles: tuple[str, ...]
    content: str
    sent_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelBalance:
    """Charged total and balance of one channel; ``None`` where the reply omits a value."""

    charged: Decimal | None
    remaining: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingEntry:
    """One ``username:...,sum:...,balance:...;`` block of ``action=billing`` (§5.1).

    ``sent`` holds the domestic, international, MMS and voice totals for the period.
    """

    username: str
    sent_domestic: int
    sent_international: int
    sent_mms: int
    sent_voice: int
    domestic: ChannelBalance
    international: ChannelBalance
    mms: ChannelBalance
    voice: ChannelBalance
    raw_balance: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """A delivery report, pulled (§6.1.5) or pushed (§7.1.1).

    Attributes:
        msgid: the id returned by ``success:msgid``, shared by every number of one request.
        status: ``DELIVRD``, ``UNDELIV``, ``NOSEND``, ``TOO FAST`` or another platform code.
        at: when the handset received it (aware, UTC+8 for pulled wall-clock times).
        ext: extension number, when the reply carries one.
        report_id: the platform's own number for the report (6-field pull form only).
    """

    msgid: str
    mobile: str
    status: str
    at: datetime | None
    ext: str | None = None
    report_id: str | None = None

    @property
    def delivered(self) -> bool:
        """True for ``DELIVRD``."""
        return self.status == "DELIVRD"


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundReply:
    """A reply from a handset, pulled (§8.3) or pushed (§9.1).

    ``content`` is decoded; ``raw_content`` is the text as it arrived, kept so nothing is lost when
    the decoding had to replace invalid bytes.
    """

    ext: str | None
    reply_id: str | None
    mobile: str
    content: str
    at: datetime | None
    raw_content: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BlacklistStatus:
    """The answer of a blacklist check (§10.1.2)."""

    listed: bool
    description: str | None = None
    added_at: str | None = None
