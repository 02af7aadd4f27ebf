"""Pre-flight of a campaign: count, price, check content and balance; send nothing.

``dry_run`` is exactly this. It reads the whole source, so give it a list or a file, not a
one-shot generator you mean to send afterwards.
"""

from __future__ import annotations

import re
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from .._exceptions import ContentError, M5CError
from ..client import AsyncClient
from ..protocol import Rejected, segments
from ._intake import Intake
from ._model import Campaign, EngineConfig

__all__ = ["PreflightReport", "preflight"]

_SIGNATURE: Final = re.compile(r"【[^【】]{1,20}】")
_EXAMPLES: Final = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PreflightReport:
    """What a campaign would cost and what is wrong with it.

    Attributes:
        messages: messages that would be sent.
        segments: billed segments in all (messages × segments of each content).
        rejected: refused numbers (or messages) by reason.
        balance: the account's remaining balance, when it could be read.
        errors: reasons the campaign cannot be sent (content not encodable, too little balance).
        warnings: things worth a look (no 【signature】, lines holding several numbers).
        first_rejected: the first refused items, with their lines.
        split_lines: source lines (or items) that held several numbers, each taken.
    """

    messages: int
    segments: int
    rejected: dict[str, int]
    balance: Decimal | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    first_rejected: tuple[Rejected, ...] = ()
    split_lines: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing stands in the way."""
        return not self.errors


async def preflight(
    client: AsyncClient,
    campaign: Campaign,
    *,
    config: EngineConfig | None = None,
    check_balance: bool = True,
) -> PreflightReport:
    """Count and price a campaign, check its content and the balance; send nothing.

    The campaign goes through the same ``Intake`` as the engine's (``config``'s ``dedupe`` and
    ``batch_size``, the client's encoding), so the counts and reasons are the ones a run gets.
    """
    config = config or EngineConfig()
    errors: list[str] = []
    warnings: list[str] = []
    examples: list[Rejected] = []
    messages = cost = unsigned = 0
    judged = campaign
    if campaign.content is not None:
        try:
            Intake(encoding=client.encoding).check_shared(campaign.content)
        except ContentError as exc:
            errors.append(f"content: {exc.message}")
            # Still count the numbers, against a content that passes.
            judged = Campaign(numbers=campaign.numbers, content="-", name=campaign.name)
    intake = Intake(encoding=client.encoding, dedupe=config.dedupe, batch_size=config.batch_size)
    async with aclosing(intake.batches(judged)) as batches:
        async for batch in batches:
            if len(examples) < _EXAMPLES:
                examples.extend(batch.rejected[: _EXAMPLES - len(examples)])
            messages += len(batch.numbers)
            if campaign.content is not None:
                cost += segments(campaign.content) * len(batch.numbers)
            else:
                cost += sum(segments(c) for c in batch.contents)
                unsigned += sum(1 for c in batch.contents if not _SIGNATURE.search(c))
    if campaign.content is not None and not _SIGNATURE.search(campaign.content):
        unsigned = 1
    if unsigned:
        warnings.append(
            f"{unsigned} content(s) carry no 【signature】; the platform may refuse or rewrite them"
        )
    if intake.split_lines:
        warnings.append(f"{intake.split_lines} line(s) held several numbers: each number was taken")
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
        rejected={reason.value: n for reason, n in intake.rejected.items()},
        balance=balance,
        errors=tuple(errors),
        warnings=tuple(warnings),
        first_rejected=tuple(examples),
        split_lines=intake.split_lines,
    )
