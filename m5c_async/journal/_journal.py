"""Durable campaigns: every number's state in one SQLite file, so a campaign survives a crash.

Life of a message: ``pending`` -> ``queued`` (in a packet, not yet sent) -> ``in_flight`` (written
and committed *before* the request leaves) -> ``accepted`` / ``failed`` / ``ambiguous``, or back
to ``pending`` when refused for speed or when the campaign stops.

Resume, in order:

1. ``queued`` packets never left: their messages go back to ``pending``.
2. ``in_flight`` and ``ambiguous`` packets may have been accepted: the platform's records
   (``action=record``) are read and each packet's messages are looked up by the one
   reconciliation rule (``protocol/_reconcile.py``: the packet's own window, number + content);
   each found is ``accepted`` with its msgid, the rest go back to ``pending``. Nothing is resent
   before the platform has been asked.
3. Pending messages are sent as usual.

Reports and replies keep their history and are matched to messages when status is asked, so a
report that arrives before its send outcome is recorded is kept, not lost; what cannot be read
is quarantined with its raw text (``_inbound.py`` states the rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio

from .._exceptions import (
    CampaignBusyError,
    CampaignExistsError,
    CampaignNotFoundError,
    JournalError,
    JournalWriteError,
    QuarantineFullError,
)
from .._observers import JournalObserver
from ..client import AsyncClient
from ..engine import (
    Campaign,
    Hooks,
    Intake,
    OutcomeKind,
    Packet,
    PacketOutcome,
    RequestEnd,
)
from ..protocol import (
    CLOCK_SKEW,
    RECORDED_LATE,
    DeliveryReport,
    Encoding,
    InboundReply,
    PushBatch,
    RejectReason,
    SendRecord,
    match_records,
    merge_windows,
    record_window,
)
from ._inbound import (
    QUARANTINE_LIMIT,
    RETRY_WINDOW,
    InboundCounts,
    QuarantineEntry,
    ReparseCounts,
    drop_quarantine,
    list_quarantine,
    migrate_first_schema,
    quarantine_size,
    reparse_quarantine,
    write_push,
    write_replies,
    write_reports,
)
from ._lease import LEASE, Lease, Owner, busy_error, fence, owner_of, release, take
from ._store import Store

__all__ = [
    "CampaignStatus",
    "CampaignSummary",
    "Journal",
    "JournalHooks",
    "StoredCampaign",
    "read_campaign",
    "read_replies",
    "read_status",
]

log = logging.getLogger("m5c_async.journal")

_BATCH = 5000
#: Packets taken from the journal in one transaction: at most this many, of at most this many
#: messages in all (``Journal.packets``).
_TAKE_PACKETS = 64
_TAKE_MESSAGES = 2000
#: Seconds between two commits of in-flight marks (``Journal.mark_in_flight``): the marks made
#: meanwhile share one commit (one fsync). A mark waits for it *before* the pacer's gate, where
#: packets queue anyway at the cap, so it delays no request that the gate would have let go.
MARK_INTERVAL = 0.02
#: Messages whose marks make a commit go at once, without waiting for the interval.
_MARK_MESSAGES = 10_000
#: Seconds an unawaited write (an outcome, a request log line) may wait to share a commit.
WRITE_DEFER = 0.1
#: Seconds closing the journal waits for marks still waiting to share a commit.
_CLOSE_MARKS = 0.5


@dataclass(slots=True)
class _Marks:
    """In-flight marks waiting for one commit."""

    done: asyncio.Future[None]
    full: asyncio.Event
    packets: list[tuple[int, float]]
    due: float
    messages: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCampaign:
    """A campaign as the journal recorded it.

    Attributes:
        id: the campaign's id in the journal.
        name: its name.
        content: the content shared by every number, or None for per-number messages.
        profile: the business type's name it was created with.
        source: the file it was imported from, when it came from one.
        settings: the engine settings recorded with it (``packet_size``, ``rate``, ``ext``...).
        created: Unix time of its creation.
        imported: True once its whole source was imported.
        duplicates: numbers dropped at import as repeats.
    """

    id: int
    name: str
    content: str | None
    profile: str
    source: str | None
    settings: dict[str, Any]
    created: float
    imported: bool
    duplicates: int

    @property
    def ext(self) -> str | None:
        """The extension number it is sent with, if any."""
        ext = self.settings.get("ext")
        return str(ext) if ext is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignStatus:
    """Where a journaled campaign stands (messages unless said otherwise)."""

    campaign: int
    name: str
    total: int
    pending: int
    in_flight: int
    accepted: int
    failed: int
    ambiguous: int
    rejected: int
    duplicates: int
    delivered: int
    undelivered: int
    no_report: int
    undelivered_by_status: dict[str, int]
    replies: int
    #: Accepted messages whose report history holds more than one status: the latest received
    #: counts, and the others are kept in ``report_log`` to look at (a forged report, or the
    #: platform correcting itself). Anything but 0 is worth a look.
    contested: int = 0


_CAMPAIGN_COLUMNS = "id, name, content, profile, source, settings, created, imported, duplicates"


def read_campaign(conn: sqlite3.Connection, campaign_id: int | None) -> StoredCampaign | None:
    """The campaign ``campaign_id`` (the latest when None) as recorded, or None.

    A plain read on any connection to a journal, a read-only one included (``m5c dashboard``).
    """
    if campaign_id is not None:
        query = conn.execute(
            f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?",  # noqa: S608
            (campaign_id,),
        )
    else:
        query = conn.execute(
            f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id DESC LIMIT 1"  # noqa: S608
        )
    found: tuple[Any, ...] | None = query.fetchone()
    if found is None:
        return None
    cid, name, content, profile, source, settings, created, imported, duplicates = found
    return StoredCampaign(
        id=int(cid),
        name=name,
        content=content,
        profile=profile,
        source=source,
        settings=json.loads(settings),
        created=float(created),
        imported=bool(imported),
        duplicates=int(duplicates),
    )


#: The replies of a campaign: from its accepted numbers, at or after its creation, to its
#: extension number when it has one (§8: match by ext + mobile + date).
_REPLIES_OF = (
    "FROM reply_log p JOIN messages m ON m.mobile = p.mobile WHERE m.campaign = ?"
    " AND m.state = 'accepted' AND (p.at IS NULL OR p.at >= ?) AND (? IS NULL OR p.ext = ?)"
)


def _replies_of(row: StoredCampaign) -> tuple[Any, ...]:
    # Wall-clock reply times have whole seconds; compare at that precision.
    return (row.id, int(row.created), row.ext, row.ext)


def read_replies(
    conn: sqlite3.Connection, row: StoredCampaign, limit: int
) -> list[tuple[int, str, str | None, str, int | None, float]]:
    """The campaign's latest ``limit`` replies, newest first, by the rule ``read_status`` counts
    with: (id, mobile, ext, content, receive time, time stored)."""
    return conn.execute(
        "SELECT DISTINCT p.id, p.mobile, p.ext, p.content, p.at, p.received "
        + _REPLIES_OF
        + " ORDER BY p.id DESC LIMIT ?",
        (*_replies_of(row), limit),
    ).fetchall()


def read_status(conn: sqlite3.Connection, row: StoredCampaign) -> CampaignStatus:
    """Where ``row`` stands: counts by state, reports matched by msgid + mobile (the one rule,
    shared by ``Journal.status`` and ``m5c dashboard``); a plain read on any connection."""
    cid = row.id
    states = dict(
        conn.execute(
            "SELECT state, COUNT(*) FROM messages WHERE campaign = ? GROUP BY state", (cid,)
        ).fetchall()
    )
    by_status = dict(
        conn.execute(
            "SELECT r.status, COUNT(*) FROM messages m JOIN reports r"
            " ON r.msgid = m.msgid AND r.mobile = m.mobile"
            " WHERE m.campaign = ? AND m.state = 'accepted' GROUP BY r.status",
            (cid,),
        ).fetchall()
    )
    rejected = conn.execute("SELECT COUNT(*) FROM rejected WHERE campaign = ?", (cid,)).fetchone()[
        0
    ]
    replies = conn.execute(
        f"SELECT COUNT(DISTINCT p.id) {_REPLIES_OF}",
        _replies_of(row),
    ).fetchone()[0]
    contested = conn.execute(
        "SELECT COUNT(*) FROM messages m WHERE m.campaign = ? AND m.state = 'accepted' AND"
        " (SELECT COUNT(DISTINCT l.status) FROM report_log l"
        "  WHERE l.msgid = m.msgid AND l.mobile = m.mobile) > 1",
        (cid,),
    ).fetchone()[0]
    accepted = states.get("accepted", 0)
    delivered = by_status.get("DELIVRD", 0)
    undelivered = {k: v for k, v in by_status.items() if k != "DELIVRD"}
    return CampaignStatus(
        campaign=cid,
        name=row.name,
        total=sum(states.values()),
        pending=states.get("pending", 0) + states.get("queued", 0),
        in_flight=states.get("in_flight", 0),
        accepted=accepted,
        failed=states.get("failed", 0),
        ambiguous=states.get("ambiguous", 0),
        rejected=rejected,
        duplicates=row.duplicates,
        delivered=delivered,
        undelivered=sum(undelivered.values()),
        no_report=accepted - delivered - sum(undelivered.values()),
        undelivered_by_status=undelivered,
        replies=replies,
        contested=contested,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignSummary:
    """One line of ``Journal.campaigns()`` (``m5c campaign list``).

    Attributes:
        owner: who runs it now (``pid N on HOST (since ...)``), or None.
    """

    id: int
    name: str
    created: float
    profile: str
    content: str | None
    source: str | None
    total: int
    pending: int
    in_flight: int
    accepted: int
    failed: int
    ambiguous: int
    owner: str | None


class Journal:
    """A campaign journal: ``async with Journal(path) as journal``.

    Example:
        >>> # async with Journal(Path("c.db")) as j:
        >>> #     cid = await j.create(campaign, profile="notification")
        >>> #     await j.import_source(cid, campaign)
        >>> #     await engine.run_packets(j.packets(cid, 100), before_send=j.mark_in_flight)

    Args (of the constructor):
        path: the SQLite file (created 0600 when missing).
        clock: Unix time, injectable for tests.
        retry_window: seconds within which an identical anonymous reply is a retry.
        quarantine_limit: bytes the quarantine may cost the file (``quarantine_size``) before
            a push's unreadable part is refused with ``QuarantineFullError`` (None: no limit).
        lease: seconds without a heartbeat after which a campaign's owner counts as dead.
        mark_interval: seconds between two commits of in-flight marks; the marks made
            meanwhile share the commit (0: every mark commits on its own).
        write_defer: seconds an outcome (not awaited) may wait to share a commit.
        synchronous: SQLite's ``synchronous`` setting; ``FULL`` (the default) fsyncs every
            commit, so what was acknowledged survives a power cut. ``NORMAL`` survives a
            killed process only: for throwaway journals.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Any = time.time,
        retry_window: float = RETRY_WINDOW,
        quarantine_limit: int | None = QUARANTINE_LIMIT,
        observer: JournalObserver | None = None,
        lease: float = LEASE,
        synchronous: str = "FULL",
        mark_interval: float = MARK_INTERVAL,
        write_defer: float = WRITE_DEFER,
    ) -> None:
        self.path = Path(path)
        self.store = Store(self.path, observer=observer, synchronous=synchronous, defer=write_defer)
        self.mark_interval = mark_interval
        self._marks: _Marks | None = None
        self._marked_at = -math.inf
        self._flushes: set[asyncio.Task[None]] = set()
        #: Packets whose in-flight mark is committed and whose outcome is not yet recorded.
        self._marked: set[int] = set()
        #: Outcomes recorded and not yet taken by the writer (``record``).
        self._outcomes: list[
            tuple[str, float, str | None, str | None, str | None, int, Sequence[str]]
        ] = []
        self._outcomes_lock = threading.Lock()
        #: The store's failed groups when the last ``_write_outcomes`` was submitted, while it
        #: has not taken the list yet (None: none waiting). A group that failed meanwhile may
        #: have failed before running it: the next outcome submits another (``record``).
        self._outcomes_job: int | None = None
        self.clock = clock
        self.retry_window = retry_window
        self.quarantine_limit = quarantine_limit
        self.lease = lease
        self._token = secrets.token_hex(8)
        self._owned: set[int] = set()
        self._lost_at = 0
        #: The storage error that stopped the current run, if any (``run_campaign`` raises it).
        self.halted: JournalError | None = None

    async def __aenter__(self) -> Self:
        await self.store.start()
        await self.store.run(migrate_first_schema)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Marks waiting to share a commit go now, before the writer stops: within a bounded
        # moment (a hung writer is the close's own deadline), so Ctrl-C still ends in 2 s.
        if self._marks is not None:
            self._marks.full.set()
        flushes = set(self._flushes)
        try:
            if flushes:
                await asyncio.wait(flushes, timeout=_CLOSE_MARKS)
        finally:
            await self.store.close()

    # --- campaigns --------------------------------------------------------------------------

    async def create(
        self,
        campaign: Campaign,
        *,
        profile: str,
        source: str | None = None,
        settings: dict[str, Any] | None = None,
        fingerprint: str | None = None,
        new: bool = False,
        own: bool = False,
    ) -> int:
        """Record a new campaign; returns its id.

        Args:
            fingerprint: the SHA-256 of the numbers source; with it, a campaign of the same
                fingerprint and content already in the journal is refused unless ``new``.
            new: record a new campaign even when the same one exists.
            own: take the campaign's lease in the same transaction (``acquire``).

        Raises:
            CampaignExistsError: the same campaign exists (resume it, or pass ``new``).
            CampaignBusyError: the same campaign exists and another process is running it.
        """
        now = self.clock()
        if fingerprint is not None:
            settings = {**(settings or {}), "source_sha256": fingerprint}

        def insert(conn: sqlite3.Connection) -> int:
            if fingerprint is not None and not new:
                same = conn.execute(
                    "SELECT id FROM campaigns WHERE json_extract(settings, '$.source_sha256') = ?"
                    " AND content IS ? ORDER BY id DESC LIMIT 1",
                    (fingerprint, campaign.content),
                ).fetchone()
                if same is not None:
                    cid = int(same[0])
                    running = owner_of(conn, cid, now=now, lease=self.lease)
                    if running is not None:
                        raise busy_error(cid, running, now, str(self.path))
                    raise CampaignExistsError(
                        f"campaign {cid} in {self.path} already has these numbers and this"
                        f" content: continue it with `m5c campaign resume --campaign {cid}`, or"
                        " start another with --new",
                        campaign=cid,
                    )
            cursor = conn.execute(
                "INSERT INTO campaigns (name, content, profile, source, settings, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    campaign.name,
                    campaign.content,
                    profile,
                    source,
                    json.dumps({**(settings or {}), "ext": campaign.ext}),
                    now,
                ),
            )
            cid = int(cursor.lastrowid or 0)
            if own:
                take(conn, cid, self._token, now=now, lease=self.lease, where=str(self.path))
            return cid

        cid = await self.store.run(insert)
        if own:
            self._owned.add(cid)
        return cid

    # --- ownership (``_lease.py``) ----------------------------------------------------------

    async def acquire(self, campaign_id: int) -> Lease:
        """Take the campaign's lease (or renew ours); a dead owner's is taken over.

        Raises:
            CampaignBusyError: another live process owns it.
        """
        now = self.clock()
        lease = await self.store.run(
            lambda conn: take(
                conn, campaign_id, self._token, now=now, lease=self.lease, where=str(self.path)
            )
        )
        self._owned.add(campaign_id)
        if lease.previous is not None:
            log.warning(
                "campaign %d: took over from %s, whose lease had expired or whose process is"
                " gone; reconciling its in-flight packets first",
                campaign_id,
                lease.previous.describe(),
            )
        return lease

    async def release(self, campaign_id: int) -> None:
        """Give the campaign's lease back (a no-op when not held)."""
        self._owned.discard(campaign_id)
        await self.store.run(lambda conn: release(conn, campaign_id, self._token))

    @asynccontextmanager
    async def own(self, campaign_id: int) -> AsyncIterator[Lease]:
        """Hold the campaign for the block: acquire, heartbeat every ``lease / 4`` s, release.

        The heartbeat is written by the journal's writer thread itself, in the group it
        commits next, so it needs no task of the caller's.

        Raises:
            CampaignBusyError: another live process owns it.
        """
        lease = await self.acquire(campaign_id)
        self._lost_at = self.store.lost
        self.halted = None
        self.store.heartbeat(self.lease / 4, self._beat)
        try:
            yield lease
        finally:
            self.store.heartbeat(None, None)
            with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                try:
                    await self.release(campaign_id)
                except JournalError as exc:  # the row stays; our exit makes it a dead owner's
                    log.debug("lease not released: %s", exc.message)

    def _beat(self, conn: sqlite3.Connection) -> None:
        now = self.clock()
        for campaign_id in list(self._owned):
            try:
                fence(conn, campaign_id, self._token, now=now, where=str(self.path))
            except CampaignBusyError as exc:
                # Taken over while stalled: the next take or mark refuses, so nothing leaves.
                log.error("%s", exc.message)

    def _halt(self, error: JournalError) -> None:
        if self.halted is None:
            self.halted = error

    def _check_writes(self) -> None:
        """Raise when an unawaited write (an outcome) failed since the campaign was taken."""
        lost = self.store.lost - self._lost_at
        if lost > 0 and self._owned:
            error = self.store.error
            cause = error.cause if isinstance(error, JournalWriteError) else "write failed"
            raise JournalWriteError(
                f"{cause}: {lost} outcome write(s) did not reach {self.path}; the messages stay"
                " in flight, to be reconciled by resume",
                cause=cause,
            )

    def _fence(self, conn: sqlite3.Connection, campaign_id: int, now: float) -> None:
        if campaign_id in self._owned:
            fence(conn, campaign_id, self._token, now=now, where=str(self.path))

    async def owner(self, campaign_id: int) -> Owner | None:
        """Who runs the campaign now (None when nobody, or a dead owner's row is left)."""
        now = self.clock()
        return await self.store.run(
            lambda conn: owner_of(conn, campaign_id, now=now, lease=self.lease)
        )

    async def campaigns(self) -> list[CampaignSummary]:
        """Every campaign of the journal, oldest first, with its counts and its owner."""
        now = self.clock()

        def read(conn: sqlite3.Connection) -> list[CampaignSummary]:
            counts: dict[int, dict[str, int]] = {}
            for cid, state, n in conn.execute(
                "SELECT campaign, state, COUNT(*) FROM messages GROUP BY campaign, state"
            ):
                counts.setdefault(int(cid), {})[state] = int(n)
            rows = []
            for cid, name, created, profile, content, source in conn.execute(
                "SELECT id, name, created, profile, content, source FROM campaigns ORDER BY id"
            ).fetchall():
                c = counts.get(int(cid), {})
                who = owner_of(conn, int(cid), now=now, lease=self.lease)
                rows.append(
                    CampaignSummary(
                        id=int(cid),
                        name=name,
                        created=float(created),
                        profile=profile,
                        content=content,
                        source=source,
                        total=sum(c.values()),
                        pending=c.get("pending", 0) + c.get("queued", 0),
                        in_flight=c.get("in_flight", 0),
                        accepted=c.get("accepted", 0),
                        failed=c.get("failed", 0),
                        ambiguous=c.get("ambiguous", 0),
                        owner=who.describe() if who is not None else None,
                    )
                )
            return rows

        return await self.store.run(read)

    async def campaign(self, campaign_id: int | None = None) -> StoredCampaign:
        """A campaign as recorded (the latest when no id is given).

        Raises:
            CampaignNotFoundError: no such campaign (or, without an id, no campaign at all).
        """
        row = await self.store.run(lambda conn: read_campaign(conn, campaign_id))
        if row is None:
            which = f"campaign {campaign_id}" if campaign_id is not None else "campaign"
            raise CampaignNotFoundError(f"no {which} in {self.path}", campaign=campaign_id)
        return row

    async def import_source(
        self,
        campaign_id: int,
        campaign: Campaign,
        *,
        encoding: Encoding = Encoding.UTF8,
        batch_size: int = 1,
    ) -> int:
        """Stream the campaign's source into the journal through the engine's ``Intake``.

        Idempotent: importing again (after a crash mid-import) adds only what is missing and
        counts rejections and duplicates afresh. Returns the messages added.

        Args:
            campaign_id: the campaign ``create`` returned.
            campaign: its source.
            encoding: the client's encoding: contents it cannot carry are rejected here, one
                message each (a shared content it cannot carry raises before anything is added).
            batch_size: the engine's ``batch_size`` (personalized batches are domestic only).

        Raises:
            ContentError: the shared content cannot be sent (nothing is imported).
            SourceError: a file that is not UTF-8, a CSV without its columns.
        """
        intake = Intake(encoding=encoding, batch_size=batch_size, packet_size=_BATCH)
        if campaign.content is not None:
            intake.check_shared(campaign.content)

        def start(conn: sqlite3.Connection) -> None:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(rejected)")}
            if "line" not in columns:  # journals written before rejections kept their line
                conn.execute("ALTER TABLE rejected ADD COLUMN line INTEGER")
            conn.execute("DELETE FROM rejected WHERE campaign = ?", (campaign_id,))
            conn.execute("UPDATE campaigns SET duplicates = 0 WHERE id = ?", (campaign_id,))

        await self.store.run(start)
        added = 0
        rows: list[tuple[int, str, str]] = []
        rejected: list[tuple[int, str, str, int | None]] = []
        duplicates = 0

        async def flush() -> None:
            nonlocal added, duplicates
            batch, bad, dup = list(rows), list(rejected), duplicates
            rows.clear()
            rejected.clear()
            duplicates = 0

            def write(conn: sqlite3.Connection) -> int:
                before = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO messages (campaign, mobile, content) VALUES (?, ?, ?)",
                    batch,
                )
                inserted = conn.total_changes - before
                conn.executemany(
                    "INSERT INTO rejected (campaign, number, reason, line) VALUES (?, ?, ?, ?)",
                    bad,
                )
                conn.execute(
                    "UPDATE campaigns SET duplicates = duplicates + ? WHERE id = ?",
                    (dup, campaign_id),
                )
                return inserted

            added += await self.store.run(write)

        async with aclosing(intake.batches(campaign)) as batches:
            async for batch in batches:
                if campaign.content is None:
                    rows.extend(
                        (campaign_id, number, content)
                        for number, content in zip(batch.numbers, batch.contents, strict=True)
                    )
                else:
                    rows.extend((campaign_id, number, "") for number in batch.numbers)
                for item in batch.rejected:
                    if item.reason is RejectReason.DUPLICATE:
                        duplicates += 1
                    else:
                        rejected.append((campaign_id, item.number, item.reason.value, item.line))
                if len(rows) + len(rejected) >= _BATCH:
                    await flush()
        await flush()
        await self.store.run(
            lambda conn: conn.execute(
                "UPDATE campaigns SET imported = 1 WHERE id = ?", (campaign_id,)
            )
        )
        return added

    # --- sending ----------------------------------------------------------------------------

    async def packets(self, campaign_id: int, packet_size: int) -> AsyncIterator[Packet]:
        """Yield packets of pending messages, each recorded ``queued`` before it is yielded.

        Small packets are taken several at a time (up to ``_TAKE_MESSAGES`` messages, at most
        ``_TAKE_PACKETS`` packets, in one transaction): at 600 single-number packets a second,
        one commit (and fsync) per packet would make the journal the bottleneck. Packets taken
        but never sent stay ``queued``, which resume puts back to ``pending``.
        """
        shared = (await self.campaign(campaign_id)).content
        per_take = max(1, min(_TAKE_PACKETS, _TAKE_MESSAGES // max(packet_size, 1)))
        while True:
            now = self.clock()

            def take(
                conn: sqlite3.Connection, now: float = now
            ) -> list[tuple[int, list[tuple[str, str]]]]:
                self._fence(conn, campaign_id, now)
                picked = conn.execute(
                    "SELECT mobile, content FROM messages WHERE campaign = ? AND state = 'pending'"
                    " LIMIT ?",
                    (campaign_id, packet_size * per_take),
                ).fetchall()
                taken = []
                for start in range(0, len(picked), packet_size):
                    chunk = picked[start : start + packet_size]
                    packet = conn.execute(
                        "INSERT INTO packets (campaign, state, size) VALUES (?, 'queued', ?)",
                        (campaign_id, len(chunk)),
                    ).lastrowid
                    conn.executemany(
                        "UPDATE messages SET state = 'queued', packet = ?"
                        " WHERE campaign = ? AND mobile = ? AND content = ?",
                        [(packet, campaign_id, m, c) for m, c in chunk],
                    )
                    taken.append((int(packet or 0), chunk))
                return taken

            if self.halted is not None:
                return
            try:
                self._check_writes()
                taken = await self.store.run(take)
            except JournalError as exc:
                # Nothing new goes out: the engine finishes what is in flight, the mark of
                # anything already queued refuses, and run_campaign raises this error.
                self._halt(exc)
                return
            if not taken:
                return
            for packet_id, picked in taken:
                numbers = tuple(m for m, _ in picked)
                if shared is not None:
                    yield Packet(packet_id, numbers, (shared,))
                else:
                    yield Packet(packet_id, numbers, tuple(c for _, c in picked))

    async def mark_in_flight(self, packet: Packet, *, within: float | None = None) -> None:
        """Commit the packet's ``in_flight`` state; awaited before its request may leave.

        Marks made within ``mark_interval`` (or ``within``, when shorter: the longest this
        mark may wait) of the previous commit of marks share the next one (one fsync for many
        packets); a mark after a quiet spell commits at once.

        Raises:
            JournalError: the mark could not be committed, an earlier write of this run failed
                (``halted``), or the campaign was taken over: the request must not leave.
        """
        if self.halted is not None:
            raise self.halted
        try:
            self._check_writes()
        except JournalError as exc:
            self._halt(exc)
            raise
        loop = asyncio.get_running_loop()
        interval = self.mark_interval if within is None else min(within, self.mark_interval)
        if packet.id in self._marked:
            # Marked again after its booking (held long at the gate): its request is due now.
            interval = 0.0
        due = self._marked_at + interval
        marks = self._marks
        if marks is None:
            marks = self._marks = _Marks(loop.create_future(), asyncio.Event(), [], due=due)
            task = loop.create_task(self._commit_marks(marks, due - loop.time()))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        marks.packets.append((packet.id, self.clock()))
        marks.messages += len(packet)
        if marks.messages >= _MARK_MESSAGES or due < marks.due:
            marks.full.set()  # commit now: enough waits, or this mark may not wait as long
        try:
            # Shielded: a caller cancelled while waiting leaves the shared commit to the others.
            await asyncio.shield(marks.done)
        except JournalError as exc:
            self._halt(exc)
            raise

    async def _commit_marks(self, marks: _Marks, delay: float) -> None:
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(marks.full.wait(), delay)
        if self._marks is marks:
            self._marks = None
        self._marked_at = asyncio.get_running_loop().time()
        rows = marks.packets
        owned = bool(self._owned)

        def mark(conn: sqlite3.Connection) -> None:
            if owned:
                ids = json.dumps([packet_id for packet_id, _ in rows])
                latest = max(at for _, at in rows)
                for (campaign_id,) in conn.execute(
                    "SELECT DISTINCT campaign FROM packets"
                    " WHERE id IN (SELECT value FROM json_each(?))",
                    (ids,),
                ).fetchall():
                    self._fence(conn, int(campaign_id), latest)
            # Only a packet not settled meanwhile: a waiter cancelled before this commit may
            # have put its packet back to ``pending`` already (nothing left).
            conn.executemany(
                "UPDATE packets SET state = 'in_flight', sent_at = ?"
                " WHERE id = ? AND state IN ('queued', 'in_flight')",
                [(at, packet_id) for packet_id, at in rows],
            )
            conn.executemany(
                "UPDATE messages SET state = 'in_flight' WHERE packet = ? AND state = 'queued'",
                [(packet_id,) for packet_id, _ in rows],
            )

        try:
            await self.store.run(mark)
        except asyncio.CancelledError:
            marks.done.cancel()
            raise
        except Exception as exc:  # every waiter of this commit gets its failure
            marks.done.set_exception(exc)
        else:
            self._marked.update(packet_id for packet_id, _ in rows)
            marks.done.set_result(None)
        # Nobody may be left to retrieve it (every waiter cancelled): not worth a warning.
        if marks.done.done() and not marks.done.cancelled():
            marks.done.exception()

    async def flush(self) -> None:
        """Commit the outcomes still deferred (``write_defer``).

        Raises:
            JournalError: they could not be committed, or an earlier outcome write of this run
                failed (``halted``).
        """
        self._submit_outcomes()
        try:
            await self.store.run(lambda conn: None)
            self._check_writes()
        except JournalError as exc:
            self._halt(exc)
            raise

    def record(self, outcome: PacketOutcome) -> None:
        """Write an outcome (not awaited: it commits after the packet's in-flight mark)."""
        self._marked.discard(outcome.packet_id)
        if outcome.kind is OutcomeKind.REJECTED or not outcome.numbers:
            return
        now = self.clock()
        state = {
            OutcomeKind.ACCEPTED: "accepted",
            OutcomeKind.FAILED: "failed",
            OutcomeKind.AMBIGUOUS: "ambiguous",
            OutcomeKind.PENDING: "pending",
        }[outcome.kind]
        reason = outcome.error.message if outcome.error is not None else None
        with self._outcomes_lock:  # the writer thread takes the list
            self._outcomes.append(
                (
                    state,
                    now,
                    outcome.msgid,
                    outcome.node,
                    reason,
                    outcome.packet_id,
                    outcome.numbers,
                )
            )
        self._submit_outcomes()

    def _submit_outcomes(self) -> None:
        """Queue one ``_write_outcomes`` for every outcome recorded until the writer takes
        them, unless one is queued already; one queued before a group failed may never have
        run (the group failed at ``BEGIN``): it is queued again."""
        with self._outcomes_lock:
            due = bool(self._outcomes) and self._outcomes_job != self.store.failures
            if due:
                self._outcomes_job = self.store.failures
        if due:
            self.store.submit(self._write_outcomes)

    def _write_outcomes(self, conn: sqlite3.Connection) -> None:
        """Write the outcomes recorded so far, in order (in the writer thread)."""
        with self._outcomes_lock:
            outcomes, self._outcomes = self._outcomes, []
            self._outcomes_job = None
        conn.executemany(
            "UPDATE messages SET state = ?, msgid = ?, node = ?, reason = ?,"
            " packet = CASE WHEN ? = 'pending' THEN NULL ELSE packet END"
            " WHERE packet = ? AND mobile = ?",
            [
                (state, msgid, node, reason, state, packet, number)
                for state, _, msgid, node, reason, packet, numbers in outcomes
                for number in numbers
            ],
        )
        # A packet ends with the outcome that settles its last message.
        conn.executemany(
            "UPDATE packets SET state = ?1, ended_at = ?2, msgid = ?3, node = ?4, error = ?5"
            " WHERE id = ?6 AND NOT EXISTS (SELECT 1 FROM messages"
            " WHERE packet = ?6 AND state IN ('queued', 'in_flight'))",
            [
                (state, at, msgid, node, reason, packet)
                for state, at, msgid, node, reason, packet, _ in outcomes
            ],
        )

    def record_request(self, event: RequestEnd) -> None:
        """Log a request that was not accepted, under its packet's campaign (not awaited)."""
        assert event.verdict is not None
        row = (
            self.clock(),
            event.node,
            event.endpoint,
            event.attempt,
            event.size,
            event.verdict.value,
            event.packet_id,
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO request_log"
                " (campaign, packet, at, node, endpoint, attempt, size, verdict)"
                " SELECT campaign, id, ?, ?, ?, ?, ?, ? FROM packets WHERE id = ?",
                row,
            )

        self.store.submit(write)

    # --- resume -----------------------------------------------------------------------------

    async def recover(
        self,
        campaign_id: int,
        client: AsyncClient,
        *,
        late: float = RECORDED_LATE,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> tuple[int, int]:
        """Settle what a crash left unsettled; returns (found accepted, back to pending).

        Each unsettled packet is looked up by the one reconciliation rule
        (``protocol/_reconcile.py``) in its own window, from its ``in_flight`` mark to its end
        (or the mark, when the process died first); overlapping windows share one query.
        A request the platform read may be recorded up to ``late`` seconds after the host last
        knew of it (a stop cut it short, the process died): until then its window is open, and
        a number not found yet could still be accepted, so the lookup waits for every window to
        close (logged) rather than read early and send the number again.
        """
        shared = (await self.campaign(campaign_id)).content

        def unsettled(
            conn: sqlite3.Connection,
        ) -> tuple[list[tuple[int, float | None, float | None]], list[tuple[int, str, str]]]:
            conn.execute(
                "UPDATE messages SET state = 'pending', packet = NULL"
                " WHERE campaign = ? AND state = 'queued'",
                (campaign_id,),
            )
            conn.execute(
                "UPDATE packets SET state = 'abandoned' WHERE campaign = ? AND state = 'queued'",
                (campaign_id,),
            )
            packets = [
                (int(r[0]), r[1], r[2])
                for r in conn.execute(
                    "SELECT id, sent_at, ended_at FROM packets WHERE campaign = ?"
                    " AND state IN ('in_flight', 'ambiguous')",
                    (campaign_id,),
                )
            ]
            messages = conn.execute(
                "SELECT m.packet, m.mobile, m.content FROM messages m JOIN packets p"
                " ON p.id = m.packet WHERE p.campaign = ? AND p.state IN ('in_flight', 'ambiguous')"
                " AND m.state IN ('in_flight', 'ambiguous', 'queued')",
                (campaign_id,),
            ).fetchall()
            return packets, messages

        packets, messages = await self.store.run(unsettled)
        if not packets:
            return (0, 0)
        now = self.clock()
        open_for = max(ended or sent or now for _, sent, ended in packets) + late - now
        if open_for > 0:
            log.warning(
                "resume: waiting %.1f s for the platform to record the %d packet(s) left in"
                " flight, before looking them up",
                open_for,
                len(packets),
            )
            await sleep(open_for)
            now = self.clock()
        windows = {
            pid: record_window(sent if sent is not None else now, ended or sent or now, late=late)
            for pid, sent, ended in packets
        }
        records: list[SendRecord] = []
        for window in merge_windows(windows.values()):
            last = max(window.first, min(window.last, math.ceil(now + CLOCK_SKEW)))
            records.extend(await client.records(window.start, window.at(last)))
        wanted: dict[int, list[tuple[str, str]]] = {pid: [] for pid in windows}
        for packet, mobile, content in messages:
            wanted[int(packet)].append((mobile, shared if shared is not None else content))
        found: dict[tuple[int, str], str] = {}
        for pid, pairs in wanted.items():
            matches = match_records(pairs, records, windows[pid])
            for (mobile, _), msgid in matches.found.items():
                found[(pid, mobile)] = msgid
        ids = list(windows)

        def settle(conn: sqlite3.Connection) -> tuple[int, int]:
            accepted = returned = 0
            for packet, mobile, _ in messages:
                msgid = found.get((int(packet), mobile))
                if msgid is not None:
                    conn.execute(
                        "UPDATE messages SET state = 'accepted', msgid = ?, reason = 'reconciled'"
                        " WHERE packet = ? AND mobile = ?",
                        (msgid, packet, mobile),
                    )
                    accepted += 1
                else:
                    conn.execute(
                        "UPDATE messages SET state = 'pending', packet = NULL"
                        " WHERE packet = ? AND mobile = ?",
                        (packet, mobile),
                    )
                    returned += 1
            conn.executemany(
                "UPDATE packets SET state = 'reconciled' WHERE id = ?", [(i,) for i in ids]
            )
            return accepted, returned

        return await self.store.run(settle)

    # --- reports and replies ----------------------------------------------------------------

    async def store_reports(
        self, reports: Sequence[DeliveryReport], *, via: str = "pull", peer: str | None = None
    ) -> int:
        """Store each distinct report in the history (``_inbound.py``); returns how many were new.

        Committed when it returns. The latest report of a msgid + mobile is its status.
        """
        now = self.clock()
        counts = await self.store.run(
            lambda conn: write_reports(conn, reports, received=now, via=via, peer=peer)
        )
        return counts.new

    async def store_replies(
        self, replies: Sequence[InboundReply], *, via: str = "pull", peer: str | None = None
    ) -> int:
        """Store replies not already stored (``_inbound.py``); returns how many were new."""
        now = self.clock()
        counts = await self.store.run(
            lambda conn: write_replies(
                conn, replies, received=now, via=via, peer=peer, window=self.retry_window
            )
        )
        return counts.new

    async def store_push(
        self, batch: PushBatch[Any], *, peer: str | None = None, via: str = "push"
    ) -> InboundCounts:
        """Store a push's records and its quarantined parts in one committed transaction.

        This is the webhook receiver's ``sink``: it answers ``success`` once this returned. A
        pull read record by record (``AsyncClient.pull_reports``) is stored the same way with
        ``via="pull"``.

        Raises:
            QuarantineFullError: a push's unreadable part was not kept, the quarantine being
                at ``quarantine_limit``; its records are stored (a pull is never refused).
        """
        now = self.clock()
        limit = self.quarantine_limit if via == "push" else None
        counts = await self.store.run(
            lambda conn: write_push(
                conn, batch, received=now, via=via, peer=peer, window=self.retry_window, limit=limit
            )
        )
        if counts.refused:
            assert limit is not None
            raise QuarantineFullError(
                f"quarantine full: {counts.size} bytes held, limit {limit}; "
                f"{counts.refused} unreadable part(s) of a {batch.kind} push not kept (list,"
                " re-parse or drop with `m5c quarantine`)",
                held=counts.size,
                limit=limit,
            )
        return counts

    async def quarantined(
        self, *, include_resolved: bool = False, limit: int | None = None
    ) -> list[QuarantineEntry]:
        """The quarantine, oldest first (held entries unless ``include_resolved``)."""
        return await self.store.run(
            lambda conn: list_quarantine(conn, include_resolved=include_resolved, limit=limit)
        )

    async def quarantine_size(self) -> int:
        """Bytes the quarantine costs the file (what ``quarantine_limit`` bounds): each entry's
        raw text and reason in UTF-8, and ``QUARANTINE_ROW_BYTES`` (320) for the rest of its row."""
        return await self.store.run(quarantine_size)

    async def drop_quarantine(self, ids: Sequence[int] = (), *, resolved: bool = False) -> int:
        """Delete the entries named (and every re-parsed one with ``resolved``): how many."""
        return await self.store.run(lambda conn: drop_quarantine(conn, ids, resolved=resolved))

    async def reparse_quarantine(self) -> ReparseCounts:
        """Read the held quarantine again; store what reads now (``_inbound.py``)."""
        now = self.clock()
        return await self.store.run(
            lambda conn: reparse_quarantine(conn, now=now, window=self.retry_window)
        )

    async def status(self, campaign_id: int | None = None) -> CampaignStatus:
        """Counts by state, with delivery reports matched by msgid + mobile."""
        row = await self.campaign(campaign_id)
        return await self.store.run(lambda conn: read_status(conn, row))


class JournalHooks(Hooks):
    """Engine hooks that write every outcome, and every request that was not accepted, to the
    journal (the ``request_log`` is what ``m5c dashboard`` draws throttles and errors from)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def on_outcome(self, outcome: PacketOutcome) -> None:
        """Record the outcome."""
        self.journal.record(outcome)

    def on_request_end(self, event: RequestEnd) -> None:
        """Record a request that was not accepted (throttled, failed, lost); not awaited."""
        if event.verdict is not None:
            self.journal.record_request(event)
