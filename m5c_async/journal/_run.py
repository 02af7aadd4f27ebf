"""Running and resuming a journaled campaign with the engine."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from pathlib import Path

import anyio

from .._exceptions import JournalError
from ..client import AsyncClient
from ..engine import Campaign, CampaignResult, EngineConfig, Hooks, Intake, Pacer, SendEngine
from ..protocol import RECORDED_LATE, BusinessType
from ._journal import Journal, JournalHooks, StoredCampaign

__all__ = ["resume_campaign", "run_campaign", "source_fingerprint"]


async def run_campaign(
    client: AsyncClient,
    journal: Journal,
    campaign: Campaign,
    config: EngineConfig,
    *,
    source: Path | None = None,
    pacer: Pacer | None = None,
    hooks: list[Hooks] | None = None,
    new: bool = False,
) -> tuple[int, CampaignResult]:
    """Record a campaign, import its source, and send it; returns (campaign id, result).

    The campaign is owned by this journal while it runs (``Journal.own``). With a ``source``
    file, a campaign of the same file content and content already in the journal is refused
    (resume it) unless ``new``.

    Raises:
        ContentError: the shared content cannot be sent in the client's encoding (nothing is
            recorded).
        CampaignExistsError: the same campaign is in the journal already.
        CampaignBusyError: ... and another process is running it.
    """
    if campaign.content is not None:
        Intake(encoding=client.encoding).check_shared(campaign.content)
    fingerprint = None
    if source is not None:
        fingerprint = await anyio.to_thread.run_sync(source_fingerprint, source)
    campaign_id = await journal.create(
        campaign,
        profile=config.profile.value,
        source=str(source) if source is not None else None,
        settings={"packet_size": config.packet_size, "rate": config.rate},
        fingerprint=fingerprint,
        new=new,
        own=True,
    )
    async with journal.own(campaign_id):
        await journal.import_source(
            campaign_id, campaign, encoding=client.encoding, batch_size=config.batch_size
        )
        result = await _send(client, journal, campaign_id, config, pacer, hooks, ext=campaign.ext)
    return campaign_id, result


def source_fingerprint(path: Path) -> str | None:
    """The SHA-256 (hex) of a numbers file, as a campaign records it (None: not a file)."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def resume_campaign(
    client: AsyncClient,
    journal: Journal,
    config: EngineConfig | None = None,
    *,
    campaign_id: int | None = None,
    pacer: Pacer | None = None,
    hooks: list[Hooks] | None = None,
    recorded_late: float = RECORDED_LATE,
) -> tuple[int, CampaignResult, tuple[int, int]]:
    """Settle what a crash left in flight against the platform's records, then send the rest.

    ``recorded_late``: seconds after a request was last known of that the platform may still
    record it; packets left in flight more recently are waited for (``Journal.recover``).

    Returns (campaign id, result, (reconciled as accepted, returned to pending)). The campaign
    is owned by this journal from before the reconciliation to the end (``Journal.own``); a
    dead owner's lease is taken over, and its in-flight packets reconciled, first.

    Raises:
        CampaignBusyError: another live process owns the campaign.
    """
    row = await journal.campaign(campaign_id)
    async with journal.own(row.id):
        return await _resume(client, journal, row, config, pacer, hooks, recorded_late)


async def _resume(
    client: AsyncClient,
    journal: Journal,
    row: StoredCampaign,
    config: EngineConfig | None,
    pacer: Pacer | None,
    hooks: list[Hooks] | None,
    recorded_late: float,
) -> tuple[int, CampaignResult, tuple[int, int]]:
    cid = row.id
    if not row.imported and row.source:
        # Killed while importing: importing again is idempotent.
        content = row.content
        source = Path(row.source)
        again = (
            Campaign(numbers=source, content=content, name=row.name)
            if content is not None
            else Campaign(messages=source, name=row.name)
        )
        await journal.import_source(
            cid,
            again,
            encoding=client.encoding,
            batch_size=config.batch_size if config is not None else 1,
        )
    settled = await journal.recover(cid, client, late=recorded_late)
    if config is None:
        settings = row.settings
        config = EngineConfig(
            profile=BusinessType(row.profile),
            packet_size=settings.get("packet_size"),
            rate=settings.get("rate"),
        )
    result = await _send(client, journal, cid, config, pacer, hooks, ext=row.ext)
    return cid, result, settled


async def _send(
    client: AsyncClient,
    journal: Journal,
    campaign_id: int,
    config: EngineConfig,
    pacer: Pacer | None,
    hooks: list[Hooks] | None,
    *,
    ext: str | None,
) -> CampaignResult:
    engine = SendEngine(client, config, pacer=pacer, hooks=[JournalHooks(journal), *(hooks or [])])
    size = engine.packet_size if config.batch_size == 1 else config.batch_size
    # A mark waits to share a commit at most a quarter of the time the gate takes to let every
    # worker's packet go: with few workers, waiting for company would idle the gate.
    within = engine.concurrency * size / engine.rate / 4
    result = await engine.run_packets(
        journal.packets(campaign_id, size),
        before_send=functools.partial(journal.mark_in_flight, within=within),
        ext=ext,
    )
    # The last outcomes are deferred past the last mark: commit them now, so an outcome that
    # did not reach the file stops the run like any other (``halted``), not after a success.
    if journal.halted is None:
        with contextlib.suppress(JournalError):
            await journal.flush()
    # A journal that stopped taking writes stopped the run (in-flight requests finished,
    # nothing new left, pending stays pending): that is an error, not a result.
    stopped = journal.halted or result.stopped_by
    if isinstance(stopped, JournalError):
        raise stopped
    return result
