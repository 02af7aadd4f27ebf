"""Reports, replies and the quarantine in the journal: history kept, nothing merged, nothing lost.

Tables (docs/journal.md draws them; additive to the first schema):

- ``report_log``: every distinct report (msgid, mobile, status, receivetime) with when it was
  received, how (``push``, ``pull``, ``reparse``) and from which peer. An identical report (a
  retry) is not added twice. ``reports`` keeps the latest per msgid + mobile by time received;
  that is what ``Journal.status`` counts. A report stored first (a forgery, or a stale one)
  cannot suppress a later genuine one: both rows are kept and the later is the status.
- ``reply_log``: every reply under a key of all its fields (ext, replyid, mobile, content as
  decoded, so a reply both pulled and pushed is one, receivetime). A reply with neither replyid
  nor receivetime has nothing that tells two of them apart, so its key adds the push it came in
  (payload digest and position) and it counts as a retry only when the same key arrived within
  ``retry_window`` seconds: two such replies an hour apart are both kept, an exact retry of the
  push is not counted twice.
- ``quarantine``: what could not be read (``protocol.Quarantined``), with its raw text, kind,
  format, reason, records held, time received, peer and payload digest; ``resolved`` is set when a
  re-parse stored it. Identical entries (same push, same position, same text) within the retry
  window are kept once. Bounded: a push whose new entries would take what the table costs the
  file (held and resolved entries alike: raw text, reason and ``QUARANTINE_ROW_BYTES`` a row,
  ``quarantine_size``) past ``limit`` bytes keeps none of them and says so
  (``InboundCounts.refused``): its records are stored, the journal raises
  ``QuarantineFullError`` and the receiver answers ``retry``, so whoever holds the token cannot
  fill the disk, and nothing is lost while the platform pushes again. Pulls are never refused
  (what was pulled is gone from the platform). ``drop_quarantine`` frees room.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from ..protocol import (
    MAX_RECORDS_PER_PUSH,
    DeliveryReport,
    InboundReply,
    PushBatch,
    PushKind,
    Quarantined,
    read_push,
)
from ._store import QUARANTINE_ROW_BYTES

__all__ = [
    "QUARANTINE_LIMIT",
    "RETRY_WINDOW",
    "InboundCounts",
    "QuarantineEntry",
    "ReparseCounts",
    "drop_quarantine",
    "held_quarantine",
    "list_quarantine",
    "migrate_first_schema",
    "quarantine_size",
    "reparse_quarantine",
    "resolve_quarantine",
    "write_push",
    "write_quarantine",
    "write_replies",
    "write_reports",
]

#: Seconds within which an identical anonymous reply or quarantine entry counts as a retry.
RETRY_WINDOW: Final = 600.0
#: Bytes the quarantine may cost the file (``quarantine_size``) before pushed entries are refused.
QUARANTINE_LIMIT: Final = 256 * 1024 * 1024
#: The ids a row can have (SQLite integers); any other names no entry.
_ROWID_MIN: Final = -(2**63)
_ROWID_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundCounts:
    """What one store did: records new, records already stored (retries), entries quarantined,
    and entries not kept because the quarantine held ``size`` bytes against its limit."""

    new: int = 0
    duplicates: int = 0
    quarantined: int = 0
    refused: int = 0
    size: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantineEntry:
    """One row of the ``quarantine`` table (module docstring)."""

    id: int
    kind: str
    format: str | None
    records: int
    raw: str
    reason: str
    received: float
    peer: str | None
    via: str
    push: str | None
    resolved: float | None


def _sha(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _at(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def write_reports(
    conn: sqlite3.Connection,
    reports: Iterable[DeliveryReport],
    *,
    received: float,
    via: str,
    peer: str | None,
) -> InboundCounts:
    """Add each distinct report to the history and make it the latest of its msgid + mobile."""
    new = duplicates = 0
    for r in reports:
        at = _at(r.at)
        key = _sha(r.msgid, r.mobile, r.status, at)
        cursor = conn.execute(
            "INSERT OR IGNORE INTO report_log (key, msgid, mobile, status, at, received, via, peer)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, r.msgid, r.mobile, r.status, at, received, via, peer),
        )
        if not cursor.rowcount:
            duplicates += 1
            continue
        new += 1
        conn.execute(
            "INSERT INTO reports (msgid, mobile, status, at, received) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (msgid, mobile) DO UPDATE SET status = excluded.status,"
            " at = excluded.at, received = excluded.received"
            " WHERE excluded.received >= reports.received",
            (r.msgid, r.mobile, r.status, at, received),
        )
    return InboundCounts(new=new, duplicates=duplicates)


def _seen(conn: sqlite3.Connection, table: str, key: str, since: float | None) -> bool:
    if since is None:
        row = conn.execute(f"SELECT 1 FROM {table} WHERE key = ? LIMIT 1", (key,))  # noqa: S608
    else:
        row = conn.execute(
            f"SELECT 1 FROM {table} WHERE key = ? AND received >= ? LIMIT 1",  # noqa: S608
            (key, since),
        )
    return row.fetchone() is not None


def write_replies(
    conn: sqlite3.Connection,
    replies: Sequence[InboundReply],
    *,
    received: float,
    via: str,
    peer: str | None,
    push: str | None = None,
    positions: Sequence[int] = (),
    window: float = RETRY_WINDOW,
) -> InboundCounts:
    """Add each reply not already stored under its key (module docstring)."""
    new = duplicates = 0
    for index, r in enumerate(replies):
        at = _at(r.at)
        raw = r.raw_content or r.content
        anonymous = not r.reply_id and at is None
        position = positions[index] if index < len(positions) else index
        # Decoded content: the same reply pulled (urlencoded) and pushed (plain) is one reply.
        key = _sha(
            r.ext, r.reply_id, r.mobile, r.content, at, *((push, position) if anonymous else ())
        )
        if _seen(conn, "reply_log", key, received - window if anonymous else None):
            duplicates += 1
            continue
        conn.execute(
            "INSERT INTO reply_log (key, ext, reply_id, mobile, content, raw_content, at,"
            " received, via, peer, push) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, r.ext, r.reply_id, r.mobile, r.content, raw, at, received, via, peer, push),
        )
        new += 1
    return InboundCounts(new=new, duplicates=duplicates)


def write_quarantine(
    conn: sqlite3.Connection,
    entries: Iterable[Quarantined],
    *,
    received: float,
    via: str,
    peer: str | None,
    push: str | None,
    window: float = RETRY_WINDOW,
    limit: int | None = None,
) -> InboundCounts:
    """Keep each entry with its raw text; an identical one within the window is a retry.

    With a ``limit``, the new entries are kept all or none (module docstring)."""
    fresh = []
    for q in entries:
        key = _sha(q.kind, push, q.position, q.raw)
        if not _seen(conn, "quarantine", key, received - window):
            fresh.append((key, q))
    if limit is not None and fresh:
        size = quarantine_size(conn)
        if size + sum(_cost(q) for _, q in fresh) > limit:
            return InboundCounts(refused=len(fresh), size=size)
    for key, q in fresh:
        conn.execute(
            "INSERT INTO quarantine (key, kind, format, records, raw, reason, received, peer, via,"
            " push) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                q.kind.value,
                q.format.value if q.format is not None else None,
                q.records,
                q.raw,
                q.reason,
                received,
                peer,
                via,
                push,
            ),
        )
    return InboundCounts(quarantined=len(fresh))


def quarantine_size(conn: sqlite3.Connection) -> int:
    """Bytes the quarantine costs the file, held and resolved entries alike: each entry's raw
    text and reason (UTF-8) and ``QUARANTINE_ROW_BYTES`` for its row (kept by the schema's
    triggers: one row read)."""
    return int(conn.execute("SELECT bytes FROM quarantine_bytes WHERE id = 1").fetchone()[0])


def _cost(q: Quarantined) -> int:
    """What an entry will cost the file, as the schema's triggers count it."""
    return _size(q.raw) + _size(q.reason) + QUARANTINE_ROW_BYTES


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def drop_quarantine(
    conn: sqlite3.Connection, ids: Sequence[int] = (), *, resolved: bool = False
) -> int:
    """Delete the entries named, and with ``resolved`` every re-parsed one; how many went.

    An id outside SQLite's 64-bit integers names no entry (it is skipped, not an error)."""
    gone = 0
    named = [(i,) for i in dict.fromkeys(ids) if _ROWID_MIN <= i <= _ROWID_MAX]
    if named:
        gone += conn.executemany("DELETE FROM quarantine WHERE id = ?", named).rowcount
    if resolved:
        gone += conn.execute("DELETE FROM quarantine WHERE resolved IS NOT NULL").rowcount
    return gone


def write_push(
    conn: sqlite3.Connection,
    batch: PushBatch[Any],
    *,
    received: float,
    via: str,
    peer: str | None,
    window: float = RETRY_WINDOW,
    limit: int | None = None,
) -> InboundCounts:
    """Store a push's records and its quarantined parts in the caller's transaction."""
    if batch.kind is PushKind.REPORT:
        counts = write_reports(conn, batch.records, received=received, via=via, peer=peer)
    else:
        counts = write_replies(
            conn,
            batch.records,
            received=received,
            via=via,
            peer=peer,
            push=batch.digest,
            positions=batch.positions,
            window=window,
        )
    held = write_quarantine(
        conn,
        batch.quarantined,
        received=received,
        via=via,
        peer=peer,
        push=batch.digest,
        window=window,
        limit=limit,
    )
    return replace(held, new=counts.new, duplicates=counts.duplicates)


_COLUMNS: Final = "id, kind, format, records, raw, reason, received, peer, via, push, resolved"


def list_quarantine(
    conn: sqlite3.Connection, *, include_resolved: bool = False, limit: int | None = None
) -> list[QuarantineEntry]:
    """The quarantine, oldest first; held entries only unless ``include_resolved``."""
    where = "" if include_resolved else " WHERE resolved IS NULL"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM quarantine{where} ORDER BY id LIMIT ?",  # noqa: S608
        (-1 if limit is None else limit,),
    ).fetchall()
    return [QuarantineEntry(**dict(zip(_COLUMNS.split(", "), row, strict=True))) for row in rows]


def held_quarantine(conn: sqlite3.Connection) -> list[QuarantineEntry]:
    """Every entry still held."""
    return list_quarantine(conn)


def resolve_quarantine(conn: sqlite3.Connection, entry_id: int, *, at: float) -> None:
    """Mark an entry as re-parsed and stored (kept, for the record)."""
    conn.execute("UPDATE quarantine SET resolved = ? WHERE id = ?", (at, entry_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReparseCounts:
    """What a re-parse of the quarantine did."""

    resolved: int = 0
    stored: int = 0
    still_held: int = 0


def reparse_quarantine(
    conn: sqlite3.Connection,
    *,
    now: float,
    window: float = RETRY_WINDOW,
    max_records: int = MAX_RECORDS_PER_PUSH,
) -> ReparseCounts:
    """Read every held entry again with today's parser; store what reads, keep what does not.

    An entry from which nothing reads stays held as it is. One from which some records read is
    resolved: those are stored, and what still does not read is quarantined anew (``reparse``).
    """
    resolved = stored = held = 0
    for entry in held_quarantine(conn):
        batch = read_push(entry.kind, entry.raw, entry.format, max_records=max_records)
        if not batch.records:
            held += 1
            continue
        counts = write_push(
            conn, batch, received=now, via="reparse", peer=entry.peer, window=window
        )
        resolve_quarantine(conn, entry.id, at=now)
        resolved += 1
        stored += counts.new
        held += counts.quarantined
    return ReparseCounts(resolved=resolved, stored=stored, still_held=held)


def migrate_first_schema(conn: sqlite3.Connection) -> None:
    """Copy the reports and replies of a journal written before the logs existed (once)."""
    if conn.execute("SELECT 1 FROM report_log LIMIT 1").fetchone() is None:
        conn.executemany(
            "INSERT OR IGNORE INTO report_log (key, msgid, mobile, status, at, received, via)"
            " VALUES (?, ?, ?, ?, ?, ?, 'migrated')",
            [
                (_sha(m, mob, st, None if at is None else int(at)), m, mob, st, at, rec)
                for m, mob, st, at, rec in conn.execute(
                    "SELECT msgid, mobile, status, CAST(at AS INTEGER), received FROM reports"
                )
            ],
        )
    if conn.execute("SELECT 1 FROM reply_log LIMIT 1").fetchone() is None:
        conn.executemany(
            "INSERT INTO reply_log (key, ext, reply_id, mobile, content, raw_content, at,"
            " received, via) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'migrated')",
            [
                (_sha(ext, rid or None, mob, c, at), ext, rid or None, mob, c, c, at, rec)
                for rid, mob, ext, c, at, rec in conn.execute(
                    "SELECT reply_id, mobile, ext, content, CAST(at AS INTEGER), received"
                    " FROM replies"
                )
            ],
        )
