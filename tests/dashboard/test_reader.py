"""The dashboard's reader: what a snapshot says about a journal of known times, and that it
never writes, creates or needs more than an existing journal."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from m5c_async import JournalError, JournalNotFoundError
from m5c_async.dashboard import JournalReader
from m5c_async.journal import Journal

from .conftest import NUMBERS, XSS, build


async def test_snapshot_of_a_journal_with_known_times(journal_file: tuple[Path, int]) -> None:
    """Counts as ``Journal.status`` gives them; latency percentiles by nearest rank over the
    known delays; accepted messages per node per second; the throttle in its second; replies
    and quarantine with numbers masked."""
    path, cid = journal_file
    async with Journal(path) as journal:
        status = await journal.status(cid)
    snap = JournalReader(path, wall=lambda: 5.0).snapshot(cid)
    assert snap is not None
    assert snap["generated"] == 5.0
    assert snap["campaign"]["name"] == "campaign"
    assert snap["progress"] == {
        "total": 10,
        "sent": 10,
        "pending": 0,
        "in_flight": 0,
        "accepted": 10,
        "failed": 0,
        "ambiguous": 0,
        "rejected": 1,
        "duplicates": 1,
    }
    assert (status.total, status.accepted, status.rejected) == (10, 10, 1)
    assert (status.delivered, status.undelivered, status.no_report) == (7, 2, 1)
    assert status.contested == 0
    assert snap["funnel"] == {
        "accepted": 10,
        "delivered": 7,
        "undelivered": 2,
        "awaiting": 1,
        "contested": status.contested,
        "top_failures": [["MK:0001", 1], ["UNDELIV", 1]],
        "other_failures": 0,
    }
    # Delays 1, 1, 1, 1, 2, 2, 3, 4, 10 s: nearest rank p50 = 5th = 2, p90 = 9th = 10.
    assert snap["latency"] == {"count": 9, "p50": 2.0, "p90": 10.0, "p99": 10.0, "max": 10.0}
    timeline = snap["timeline"]
    assert (timeline["start"], timeline["bucket"], timeline["points"]) == (1000, 1, 3)
    assert timeline["nodes"] == {
        "http://node-a:80": [5.0, 0.0, 0.0],
        "http://node-b:80": [0.0, 0.0, 5.0],
    }
    assert timeline["throttled"] == [0, 1, 0]
    assert timeline["errors"] == [0, 0, 0]
    assert timeline["verdicts"] == {"throttled": 1}
    assert snap["replies"]["count"] == status.replies == 1
    [reply] = snap["replies"]["latest"]
    assert reply["mobile"] == NUMBERS[3][:3] + "****" + NUMBERS[3][-4:]
    assert reply["content"] == XSS, "data is passed on as it is; the page shows it as text"
    assert reply["content_chars"] == len(XSS)
    quarantine = snap["quarantine"]
    assert (quarantine["held"], quarantine["resolved"]) == (1, 0)
    [held] = quarantine["latest"]
    assert "13811299988" not in held["raw"] and "138****9988" in held["raw"]
    assert "309111755559999" in held["raw"], "long digit runs (msgids) are not numbers"
    assert snap["request_log"] is True


async def test_reading_never_writes_the_file(journal_file: tuple[Path, int]) -> None:
    """The database file is byte for byte the same after snapshots, and a write through the
    reader's connection is refused (a named error)."""
    path, cid = journal_file
    before = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    reader = JournalReader(path)
    for _ in range(3):
        assert reader.snapshot(cid) is not None
        assert reader.campaigns()[0]["id"] == cid
    with pytest.raises(JournalError, match=r"readonly|read-only"), reader._connect() as conn:
        conn.execute("DELETE FROM campaigns")
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before


def test_a_missing_journal_is_a_named_error_and_is_not_created(tmp_path: Path) -> None:
    """No file: JournalNotFoundError naming the path; nothing appears on disk."""
    path = tmp_path / "nope.db"
    with pytest.raises(JournalNotFoundError, match="no journal at") as caught:
        JournalReader(path)
    assert caught.value.path == str(path)
    assert list(tmp_path.iterdir()) == []


def test_files_that_are_not_journals_are_named_errors(tmp_path: Path) -> None:
    """A text file and an SQLite file without the journal's tables: JournalError."""
    text = tmp_path / "notes.db"
    text.write_text("hello, not a database\n" * 100)
    with pytest.raises(JournalError, match="cannot read"):
        JournalReader(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(JournalError, match="not a campaign journal"):
        JournalReader(other)


async def test_a_journal_without_the_request_log_still_shows(tmp_path: Path) -> None:
    """A journal from before the request log (the table dropped here) shows everything else."""
    path = tmp_path / "old.db"
    cid = await build(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE request_log")
    conn.close()
    snap = JournalReader(path).snapshot(cid)
    assert snap is not None
    assert snap["request_log"] is False
    assert snap["timeline"]["throttled"] == [0, 0, 0]
    assert snap["progress"]["accepted"] == 10


async def test_no_campaign_and_unknown_campaign(tmp_path: Path) -> None:
    """A journal with no campaign yet lists none and has no latest; an unknown id is None."""
    path = tmp_path / "empty.db"
    async with Journal(path):
        pass
    reader = JournalReader(path)
    assert reader.campaigns() == []
    assert reader.snapshot() is None
    assert reader.snapshot(42) is None


async def test_wide_campaigns_keep_to_the_points_limit(tmp_path: Path) -> None:
    """Packets spread over an hour: buckets widen so a chart has at most 240 points, and the
    rate stays messages per second."""
    from m5c_async.engine import Campaign, OutcomeKind, PacketOutcome
    from tests.conftest import FakeClock

    path = tmp_path / "wide.db"
    clock = FakeClock(0.0)
    async with Journal(path, clock=clock) as journal:
        campaign = Campaign(numbers=[f"1390000{i:04d}" for i in range(40)], content="x")
        cid = await journal.create(campaign, profile="notification")
        await journal.import_source(cid, campaign)
        packets = [p async for p in journal.packets(cid, 1)]
        for k, packet in enumerate(packets):
            clock.now = k * 90.0  # one message every 90 s: 3,510 s in all
            await journal.mark_in_flight(packet)
            journal.record(
                PacketOutcome(
                    kind=OutcomeKind.ACCEPTED,
                    packet_id=packet.id,
                    numbers=packet.numbers,
                    msgid=str(k),
                    node="n",
                )
            )
    timeline = JournalReader(path).snapshot(cid)["timeline"]  # type: ignore[index]
    assert timeline["bucket"] == 15  # ceil(3511 / 240)
    assert timeline["points"] == 235 <= 240
    series = timeline["nodes"]["n"]
    assert sum(series) * timeline["bucket"] == pytest.approx(40)


async def test_a_long_reply_is_cut_and_says_how_long_it_was(tmp_path: Path) -> None:
    """Anyone can send a reply: 10,000 characters are cut to 500, with the full length."""
    from datetime import UTC, datetime

    from m5c_async.protocol import InboundReply

    path = tmp_path / "long.db"
    cid = await build(path)
    async with Journal(path) as journal:
        await journal.store_replies(
            [
                InboundReply(
                    ext="0",
                    reply_id="8",
                    mobile=NUMBERS[4],
                    content="长" * 10_000,
                    at=datetime.now(UTC),
                )
            ]
        )
    snap = JournalReader(path).snapshot(cid)
    assert snap is not None
    latest = snap["replies"]["latest"][0]
    assert (latest["content"], latest["content_chars"]) == ("长" * 500, 10_000)
