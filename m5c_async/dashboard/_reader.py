"""Reading a journal for the dashboard: read-only, short transactions, plain data out.

Rules:

1. The file is opened through a ``file:...?mode=ro`` URI with ``query_only`` on: nothing this
   module runs can write it, and a missing file is never created (``JournalNotFoundError``).
   Beside a running campaign (WAL mode) a reader never blocks the writer; each snapshot is one
   short read transaction, so it is consistent and does not hold checkpoints back.
2. Counts come from the journal's own rules (``read_status``, ``read_replies``), so the page
   shows what ``m5c campaign status`` prints.
3. Numbers are masked (``138****8000``) in replies and in quarantined raw text; everything else
   is data for the page to show as text (the page never parses it as HTML).
"""

from __future__ import annotations

import contextlib
import math
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from .._exceptions import JournalError, JournalNotFoundError
from ..journal import read_campaign, read_replies, read_status
from ..protocol import mask

__all__ = ["JournalReader"]

#: At most this many points on a chart's time axis; the bucket widens to keep to it.
MAX_POINTS: Final = 240
LATEST_REPLIES: Final = 20
LATEST_QUARANTINE: Final = 10
RAW_EXCERPT: Final = 300
#: Characters of a reply shown (anyone can send one; a page must stay a page).
REPLY_EXCERPT: Final = 500
TOP_STATUSES: Final = 5
_MOBILE = re.compile(r"(?<![0-9])1[0-9]{10}(?![0-9])")


def _masked(text: str) -> str:
    return _MOBILE.sub(lambda m: mask(m.group(0)), text)


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of a sorted, non-empty list."""
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


class JournalReader:
    """Snapshots of a journal for the dashboard (module docstring).

    Example:
        >>> # reader = JournalReader(Path("campaign.db"))   # raises when it is not there
        >>> # reader.campaigns(); reader.snapshot(1)
    """

    def __init__(self, path: Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.wall = wall
        if not self.path.is_file():
            raise JournalNotFoundError(f"no journal at {self.path}", path=str(self.path))
        with self._connect() as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "campaigns" not in tables or "messages" not in tables:
            raise JournalError(f"{self.path} is not a campaign journal")

    def version(self) -> tuple[int, ...]:
        """What a writer's commit changes: inode, size and modification time of the file and of
        its ``-wal`` (equal versions: the snapshot read before still holds)."""
        parts: list[int] = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                st = path.stat()
            except OSError:
                parts += (0, 0, 0)
            else:
                parts += (st.st_ino, st.st_size, st.st_mtime_ns)
        return tuple(parts)

    def _connect(self) -> _ReadOnly:
        return _ReadOnly(self.path)

    def campaigns(self) -> list[dict[str, Any]]:
        """Every campaign, newest first: id, name, profile, created."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, name, profile, created FROM campaigns ORDER BY id DESC LIMIT 500"
            ).fetchall()
        return [{"id": r[0], "name": r[1], "profile": r[2], "created": r[3]} for r in rows]

    def snapshot(self, campaign_id: int | None = None) -> dict[str, Any] | None:
        """Everything the page shows for one campaign (the latest when None), or None when the
        journal has no such campaign."""
        with self._connect() as conn:
            row = read_campaign(conn, campaign_id)
            if row is None:
                return None
            status = read_status(conn, row)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            has_requests = "request_log" in tables
            cid = row.id
            failures = sorted(status.undelivered_by_status.items(), key=lambda kv: (-kv[1], kv[0]))
            reasons = conn.execute(
                "SELECT COALESCE(reason, ''), COUNT(*) FROM messages"
                " WHERE campaign = ? AND state = 'failed' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                (cid, TOP_STATUSES),
            ).fetchall()
            latencies = sorted(
                max(0.0, float(r[0]))
                for r in conn.execute(
                    "SELECT r.received - p.ended_at FROM messages m"
                    " JOIN reports r ON r.msgid = m.msgid AND r.mobile = m.mobile"
                    " JOIN packets p ON p.id = m.packet"
                    " WHERE m.campaign = ? AND m.state = 'accepted' AND p.ended_at IS NOT NULL",
                    (cid,),
                )
            )
            timeline = self._timeline(conn, cid, row.created, has_requests)
            replies = read_replies(conn, row, LATEST_REPLIES)
            quarantine = self._quarantine(conn)
        sent = status.accepted + status.failed + status.ambiguous
        return {
            "generated": self.wall(),
            "campaign": {
                "id": cid,
                "name": row.name,
                "profile": row.profile,
                "created": row.created,
                "imported": row.imported,
                "content": row.content,
            },
            "progress": {
                "total": status.total,
                "sent": sent,
                "pending": status.pending,
                "in_flight": status.in_flight,
                "accepted": status.accepted,
                "failed": status.failed,
                "ambiguous": status.ambiguous,
                "rejected": status.rejected,
                "duplicates": status.duplicates,
            },
            "funnel": {
                "accepted": status.accepted,
                "delivered": status.delivered,
                "undelivered": status.undelivered,
                "awaiting": status.no_report,
                "contested": status.contested,
                "top_failures": [list(f) for f in failures[:TOP_STATUSES]],
                "other_failures": sum(n for _, n in failures[TOP_STATUSES:]),
            },
            "failed_reasons": [list(r) for r in reasons],
            "latency": (
                {
                    "count": len(latencies),
                    "p50": _percentile(latencies, 0.50),
                    "p90": _percentile(latencies, 0.90),
                    "p99": _percentile(latencies, 0.99),
                    "max": latencies[-1],
                }
                if latencies
                else {"count": 0}
            ),
            "timeline": timeline,
            "replies": {
                "count": status.replies,
                "latest": [
                    {
                        "id": r[0],
                        "mobile": mask(r[1]),
                        "ext": r[2],
                        "content": r[3][:REPLY_EXCERPT],
                        "content_chars": len(r[3]),
                        "at": r[4],
                        "received": r[5],
                    }
                    for r in replies
                ],
            },
            "quarantine": quarantine,
            "request_log": has_requests,
        }

    def _timeline(
        self, conn: sqlite3.Connection, cid: int, created: float, has_requests: bool
    ) -> dict[str, Any]:
        accepted = conn.execute(
            "SELECT COALESCE(node, '?'), ended_at, size FROM packets"
            " WHERE campaign = ? AND state = 'accepted' AND ended_at IS NOT NULL",
            (cid,),
        ).fetchall()
        refused = (
            conn.execute(
                "SELECT at, verdict FROM request_log WHERE campaign = ?", (cid,)
            ).fetchall()
            if has_requests
            else []
        )
        first_sent = conn.execute(
            "SELECT MIN(sent_at) FROM packets WHERE campaign = ?", (cid,)
        ).fetchone()[0]
        times = [t for _, t, _ in accepted] + [t for t, _ in refused]
        start = math.floor(first_sent if first_sent is not None else created)
        end = max(times, default=start)
        bucket = max(1, math.ceil((end - start + 1) / MAX_POINTS))
        points = max(1, math.floor((end - start) / bucket) + 1)

        def index(at: float) -> int:
            return min(points - 1, max(0, math.floor((at - start) / bucket)))

        nodes: dict[str, list[float]] = defaultdict(lambda: [0.0] * points)
        for node, at, size in accepted:
            nodes[node][index(at)] += size / bucket
        throttled = [0] * points
        errors = [0] * points
        verdicts: dict[str, int] = defaultdict(int)
        for at, verdict in refused:
            (throttled if verdict == "throttled" else errors)[index(at)] += 1
            verdicts[verdict] += 1
        return {
            "start": start,
            "bucket": bucket,
            "points": points,
            "nodes": dict(sorted(nodes.items())),
            "throttled": throttled,
            "errors": errors,
            "verdicts": dict(sorted(verdicts.items())),
        }

    def _quarantine(self, conn: sqlite3.Connection) -> dict[str, Any]:
        held, resolved = conn.execute(
            "SELECT COUNT(*) - COUNT(resolved), COUNT(resolved) FROM quarantine"
        ).fetchone()
        latest = conn.execute(
            "SELECT id, kind, format, records, reason, received, via, raw FROM quarantine"
            " WHERE resolved IS NULL ORDER BY id DESC LIMIT ?",
            (LATEST_QUARANTINE,),
        ).fetchall()
        return {
            "held": held,
            "resolved": resolved,
            "latest": [
                {
                    "id": r[0],
                    "kind": r[1],
                    "format": r[2],
                    "records": r[3],
                    "reason": r[4],
                    "received": r[5],
                    "via": r[6],
                    "raw": _masked(r[7][:RAW_EXCERPT]),
                    "raw_chars": len(r[7]),
                }
                for r in latest
            ],
        }


class _ReadOnly:
    """One read-only connection holding one read transaction: ``with _ReadOnly(path) as conn``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA busy_timeout = 2000")
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read {self.path}: {exc}") from exc
        self.conn = conn
        return conn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("COMMIT")
            conn.close()
        if isinstance(exc, sqlite3.Error):
            raise JournalError(f"cannot read {self.path}: {exc}") from exc
