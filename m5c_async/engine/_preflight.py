"""Pre-flight of a campaign: count, price, check content and balance; send nothing.

``dry_run`` is exactly this. It reads the whole source, so give it a list or a file, not a
one-shot generator you mean to send afterwards.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from .._exceptions import InvalidNumberError, InvalidRequestError, M5CError
from ..client import AsyncClient
from ..protocol import Recipients, RejectReason, check_content, normalize, segments
from ._model import Campaign
from ._sources import iter_messages, iter_numbers

__all__ = ["PreflightReport", "preflight"]

_SIGNATURE: Final = re.compile(r"【[^【】]{1,20}】")


@dataclass(frozen=True, slots=True, kw_only=True)
class PreflightReport:
    """What a campaign would cost and what is wrong with it.

    Attributes:
        messages: numbers that would be sent.
        segments: billed segments in all (messages × segments of each content).
        rejected: refused numbers by reason.
        balance: the account's remaining balance, when it could be read.
        errors: reasons the campaign cannot be sent (content not encodable, too little balance).
        warnings: things worth a look (no 【signature】).
    """

    messages: int
    segments: int
    rejected: dict[str, int]
    balance: Decimal | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing stands in the way."""
        return not self.errors


async def preflight(
    client: AsyncClient, campaign: Campaign, *, check_balance: bool = True
) -> PreflightReport:
    """Count and price a campaign, check its content and the balance; send nothing."""
    errors: list[str] = []
    warnings: list[str] = []
    rejected: Counter[str] = Counter()
    messages = 0
    cost = 0
    unsigned = 0
    if campaign.content is not None and campaign.numbers is not None:
        try:
            check_content(campaign.content, client.encoding)
        except InvalidRequestError as exc:
            errors.append(f"content: {exc.message}")
        if not _SIGNATURE.search(campaign.content):
            unsigned = 1
        recipients = Recipients()
        per = segments(campaign.content)
        async for raw in iter_numbers(campaign.numbers):
            result = recipients.check(raw)
            if isinstance(result, str):
                messages += 1
                cost += per
            else:
                rejected[result.reason.value] += 1
    else:
        assert campaign.messages is not None
        async for raw, content in iter_messages(campaign.messages):
            try:
                normalize(raw)
                check_content(content, client.encoding)
            except InvalidNumberError as exc:
                rejected[exc.reason] += 1
                continue
            except InvalidRequestError:
                rejected[RejectReason.BAD_CONTENT.value] += 1
                continue
            messages += 1
            cost += segments(content)
            if not _SIGNATURE.search(content):
                unsigned += 1
    if unsigned:
        warnings.append(
            f"{unsigned} content(s) carry no 【signature】; the platform may refuse or rewrite them"
        )
    balance: Decimal | None = None
    if check_balance:
        try:
            balance = (await client.balance()).remaining
        except M5CError as exc:
            warnings.append(f"balance could not be read: {exc.message}")
        else:
            if balance < cost:
                errors.append(f"balance {balance} is below the campaign's {cost} segments")
    return PreflightReport(
        messages=messages,
        segments=cost,
        rejected=dict(rejected),
        balance=balance,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )
