"""Reports keep their history, replies are never merged, the quarantine keeps and re-reads."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from m5c_async.engine import Campaign, OutcomeKind, PacketOutcome
from m5c_async.journal import Journal
from m5c_async.journal._store import QUARANTINE_ROW_BYTES
from m5c_async.protocol import (
    DeliveryReport,
    InboundReply,
    PushBatch,
    read_reply_push,
    read_report_push,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """A settable clock for the journal."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def _accepted(journal: Journal, numbers: list[str], msgid: str) -> int:
    campaign = Campaign(numbers=numbers, content="x")
    cid = await journal.create(campaign, profile="notification")
    await journal.import_source(cid, campaign)
    [packet] = [p async for p in journal.packets(cid, 10)]
    await journal.mark_in_flight(packet)
    journal.record(
        PacketOutcome(
            kind=OutcomeKind.ACCEPTED, packet_id=packet.id, numbers=packet.numbers, msgid=msgid
        )
    )
    return cid


def _report(status: str, msgid: str = "42", at: datetime | None = AT) -> DeliveryReport:
    return DeliveryReport(msgid=msgid, mobile="13800000000", status=status, at=at)


async def test_a_forged_report_first_cannot_suppress_the_genuine_one(tmp_path: Path) -> None:
    """Both are kept; the status is the latest received; an identical retry adds nothing."""
    clock = Clock()
    async with Journal(tmp_path / "j.db", clock=clock) as journal:
        cid = await _accepted(journal, ["13800000000"], "42")
        forged, genuine = _report("UNDELIV"), _report("DELIVRD")
        assert await journal.store_reports([forged], via="push") == 1
        assert (await journal.status(cid)).undelivered == 1
        clock.now += 5
        assert await journal.store_reports([genuine], via="push") == 1
        clock.now += 5
        assert await journal.store_reports([genuine], via="push") == 0
        status = await journal.status(cid)
    assert (status.delivered, status.undelivered, status.contested) == (1, 0, 1)
    with sqlite3.connect(tmp_path / "j.db") as conn:
        history = conn.execute("SELECT status FROM report_log ORDER BY id").fetchall()
    assert history == [("UNDELIV",), ("DELIVRD",)]


async def test_one_report_or_the_same_status_twice_is_not_contested(tmp_path: Path) -> None:
    """Only different statuses for one message count; another message's reports do not."""
    clock = Clock()
    async with Journal(tmp_path / "c.db", clock=clock) as journal:
        cid = await _accepted(journal, ["13800000000"], "42")
        reports = [_report("DELIVRD"), _report("DELIVRD", at=None), _report("UNDELIV", "43")]
        await journal.store_reports(reports, via="push")
        status = await journal.status(cid)
    assert (status.delivered, status.contested) == (1, 0)


async def test_replies_with_no_id_and_no_time_an_hour_apart_are_both_kept(tmp_path: Path) -> None:
    """Same text, empty replyid and time: a retry within the window counts once, not later."""
    clock = Clock()
    data = "<results><item><ext>1</ext><replyid></replyid><mobile>13800000000</mobile>"
    data += "<content>好</content><receivetime></receivetime></item></results>"
    async with Journal(tmp_path / "r.db", clock=clock) as journal:
        first = await journal.store_push(read_reply_push(data), peer="115.28.23.78")
        clock.now += 30
        retry = await journal.store_push(read_reply_push(data), peer="115.28.23.78")
        clock.now += 3600
        later = await journal.store_push(read_reply_push(data), peer="115.28.23.78")
        # Two identical records in one push are two replies (different positions).
        twice = await journal.store_push(read_reply_push(data.replace("</results>", "") + data[9:]))
    assert (first.new, retry.new, retry.duplicates, later.new, twice.new) == (1, 0, 1, 1, 2)


async def test_replies_with_an_id_or_a_time_dedupe_on_every_field(tmp_path: Path) -> None:
    """Same id and time is a retry at any distance; a different text is another reply."""
    clock = Clock()
    async with Journal(tmp_path / "k.db", clock=clock) as journal:
        one = InboundReply(ext="1", reply_id="9", mobile="13800000000", content="好", at=AT)
        other = InboundReply(ext="1", reply_id="9", mobile="13800000000", content="坏", at=AT)
        assert await journal.store_replies([one, one]) == 1
        clock.now += 86_400
        assert await journal.store_replies([one, other]) == 1


async def test_store_push_keeps_records_and_quarantine_in_one_go(tmp_path: Path) -> None:
    """A push with a bad record: the good stored, the bad held with raw text, peer and reason;
    a retry of the same push adds nothing; a re-parse stores what today's parser reads."""
    clock = Clock()
    data = "1,13800000000,DELIVRD,1462880473;2,13800000001,UNDELIV,14628"
    async with Journal(tmp_path / "q.db", clock=clock) as journal:
        counts = await journal.store_push(read_report_push(data), peer="58.96.181.93")
        again = await journal.store_push(read_report_push(data), peer="58.96.181.93")
        [entry] = await journal.quarantined()
        assert (counts.new, counts.quarantined, again.new, again.quarantined) == (1, 1, 0, 0)
        assert (entry.kind, entry.format, entry.records, entry.peer, entry.via) == (
            "report",
            "string",
            1,
            "58.96.181.93",
            "push",
        )
        assert entry.raw == "2,13800000001,UNDELIV,14628" and "10-digit" in entry.reason
        unchanged = await journal.reparse_quarantine()
        assert (unchanged.resolved, unchanged.still_held) == (0, 1)
        # An operator repairs the raw text in place (or a newer parser reads it): now it stores.
        await journal.store.run(
            lambda c: c.execute(
                "UPDATE quarantine SET raw = raw || '00000' WHERE id = ?", (entry.id,)
            )
        )
        fixed = await journal.reparse_quarantine()
        assert (fixed.resolved, fixed.stored, fixed.still_held) == (1, 1, 0)
        assert await journal.quarantined() == []
        [kept] = await journal.quarantined(include_resolved=True)
        assert kept.resolved == clock.now


async def test_a_journal_of_the_first_schema_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    """reports/replies written before the logs existed are carried into them on open."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE reports (msgid TEXT NOT NULL, mobile TEXT NOT NULL, status TEXT NOT NULL,"
            " at REAL, received REAL NOT NULL, PRIMARY KEY (msgid, mobile)) WITHOUT ROWID;"
            "CREATE TABLE replies (reply_id TEXT NOT NULL, mobile TEXT NOT NULL, ext TEXT,"
            " content TEXT NOT NULL, at REAL, received REAL NOT NULL,"
            " PRIMARY KEY (reply_id, mobile, content)) WITHOUT ROWID;"
            "INSERT INTO reports VALUES ('7', '13800000000', 'DELIVRD', 1767225600.0, 1.0);"
            "INSERT INTO replies VALUES ('', '13800000000', '1', '好', NULL, 1.0);"
        )
    async with Journal(path) as journal:
        report = DeliveryReport(
            msgid="7",
            mobile="13800000000",
            status="DELIVRD",
            at=datetime.fromtimestamp(1767225600, UTC),
        )
        assert await journal.store_reports([report]) == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM reply_log").fetchone() == (1,)


async def test_a_pulled_batch_whose_write_fails_is_written_again(tmp_path: Path) -> None:
    """The platform forgot the batch: the pull loop retries the store, pulling nothing more."""
    from m5c_async.journal import pull_reports
    from m5c_async.protocol import read_report_pull

    pulls = 0

    class Client:
        async def pull_reports(self) -> PushBatch[DeliveryReport]:
            nonlocal pulls
            pulls += 1
            text = "1,13800000000,DELIVRD,2016-05-10 22:51:22" if pulls == 1 else "no record"
            return read_report_pull(text)

    async with Journal(tmp_path / "p.db") as journal:
        real = journal.store_push
        failures = 2

        async def flaky(batch: PushBatch[DeliveryReport], **kw: str) -> object:
            nonlocal failures
            if failures:
                failures -= 1
                raise sqlite3.OperationalError("disk I/O error")
            return await real(batch, **kw)

        journal.store_push = flaky  # type: ignore[method-assign,assignment]
        naps = 0

        class Stop(Exception):
            pass

        async def sleep(_: float) -> None:
            nonlocal naps
            naps += 1
            if naps == 3:  # two retries of the write, then one idle wait: stop there
                raise Stop

        with pytest.raises(Stop):
            await pull_reports(Client(), journal, sleep=sleep)  # type: ignore[arg-type]
        assert (pulls, failures) == (2, 0)
    with sqlite3.connect(tmp_path / "p.db") as conn:
        assert conn.execute("SELECT COUNT(*), MIN(via) FROM report_log").fetchone() == (1, "pull")


async def test_a_reply_both_pulled_and_pushed_is_one_reply(tmp_path: Path) -> None:
    """Pulled content arrives urlencoded, pushed content plain: the key uses the decoded text."""
    from m5c_async.protocol import parse_replies

    [pulled] = parse_replies("1,9,13800000000,%E5%A5%BD,2016-05-10 22:51:22")
    pushed = read_reply_push("1,9,13800000000,好,1462891882")
    async with Journal(tmp_path / "b.db") as journal:
        assert await journal.store_replies([pulled]) == 1
        counts = await journal.store_push(pushed)
    assert (counts.new, counts.duplicates) == (0, 1)


def _junk_push(msgid: str, junk: str) -> PushBatch[DeliveryReport]:
    """One readable report and one unreadable part of ``len(junk)`` characters."""
    return read_report_push(f"{msgid},13800000000,DELIVRD,1462880473;{junk}")


#: What a junk part of ``_junk_push`` costs the file beside its raw text: its reason ("a report
#: has 4 fields, not 1", 28 bytes) and its row.
JUNK = 28 + QUARANTINE_ROW_BYTES


async def test_the_quarantine_is_bounded_for_pushes_but_never_for_pulls(tmp_path: Path) -> None:
    """Past the limit a push keeps its records but not its unreadable part, and says so; a retry
    of what is held, and a pull, are never refused; dropping entries makes room again."""
    from m5c_async import QuarantineFullError

    clock = Clock()
    first, second = "x" * 60, "y" * 60
    async with Journal(tmp_path / "q.db", clock=clock, quarantine_limit=100 + JUNK) as journal:
        kept = await journal.store_push(_junk_push("1", first), peer="1.2.3.4")
        assert (kept.new, kept.quarantined, kept.refused) == (1, 1, 0)
        with pytest.raises(QuarantineFullError) as refused:
            await journal.store_push(_junk_push("2", second), peer="1.2.3.4")
        assert (refused.value.held, refused.value.limit) == (60 + JUNK, 100 + JUNK)
        assert "y" * 60 not in str(refused.value)  # the pushed text is not echoed
        assert await journal.quarantine_size() == 60 + JUNK
        # The refused push's record was stored all the same; its retry is a duplicate of it.
        clock.now += 1
        retry = await journal.store_push(_junk_push("1", first), peer="1.2.3.4")
        assert (retry.new, retry.duplicates, retry.quarantined) == (0, 1, 0)
        pulled = await journal.store_push(_junk_push("3", "z" * 80), via="pull")
        assert (pulled.quarantined, pulled.refused) == (1, 0)
        assert await journal.quarantine_size() == 140 + 2 * JUNK
        held = await journal.quarantined()
        assert await journal.drop_quarantine([e.id for e in held if e.raw == "z" * 80]) == 1
        assert await journal.drop_quarantine([e.id for e in held if e.raw == first]) == 1
        assert await journal.quarantine_size() == 0
        again = await journal.store_push(_junk_push("2", second), peer="1.2.3.4")
        assert (again.new, again.duplicates, again.quarantined) == (0, 1, 1)
    with sqlite3.connect(tmp_path / "q.db") as conn:
        msgids = sorted(r[0] for r in conn.execute("SELECT msgid FROM report_log"))
        raws = [r[0] for r in conn.execute("SELECT raw FROM quarantine")]
    assert (msgids, raws) == (["1", "2", "3"], [second])


async def test_no_quarantine_limit_and_dropping_resolved_entries(tmp_path: Path) -> None:
    """None: no limit; ``resolved=True`` drops only what a re-parse already stored."""
    async with Journal(tmp_path / "n.db", quarantine_limit=None) as journal:
        for k in range(3):
            await journal.store_push(_junk_push(str(k), str(k) * 50_000))
        assert await journal.quarantine_size() == 150_000 + 3 * JUNK
        assert await journal.drop_quarantine(resolved=True) == 0
        with sqlite3.connect(tmp_path / "n.db") as conn:
            conn.execute("UPDATE quarantine SET resolved = 1 WHERE raw LIKE '1%'")
        assert await journal.drop_quarantine(resolved=True) == 1
        assert await journal.quarantine_size() == 100_000 + 2 * JUNK


async def test_the_quarantine_size_is_bytes_kept_by_the_file_itself(tmp_path: Path) -> None:
    """UTF-8 bytes, not characters, of raw text and reason, and a row's cost; rows written by
    another connection (any process) count; a journal from before the size table gets it filled
    from its rows when opened."""
    other = 1 + QUARANTINE_ROW_BYTES  # the other writer's reason, "r", and its row
    db = tmp_path / "b.db"
    async with Journal(db) as journal:
        await journal.store_push(_junk_push("1", "好" * 10))
        assert await journal.quarantine_size() == 30 + JUNK
        with sqlite3.connect(db) as conn:  # another writer, outside this Journal
            conn.execute(
                "INSERT INTO quarantine (key, kind, records, raw, reason, received, via)"
                " VALUES ('k', 'report', 1, 'abc', 'r', 0, 'push')"
            )
            conn.execute("UPDATE quarantine SET raw = '好好' WHERE key = 'k'")
        assert await journal.quarantine_size() == 36 + JUNK + other
    with sqlite3.connect(db) as conn:  # as a journal of the previous version was
        conn.executescript(
            "DROP TRIGGER quarantine_bytes_in; DROP TRIGGER quarantine_bytes_out;"
            " DROP TRIGGER quarantine_bytes_raw; DROP TABLE quarantine_bytes;"
        )
    async with Journal(db) as journal:
        assert await journal.quarantine_size() == 36 + JUNK + other
        assert await journal.drop_quarantine([1]) == 1
        assert await journal.quarantine_size() == 6 + other


async def test_dropping_ids_no_row_can_have_is_a_no_op(tmp_path: Path) -> None:
    """Ids past SQLite's 64-bit integers (``m5c quarantine drop --id 99999999999999999999``),
    negative and repeated ids name no entry or one once: nothing raises, nothing else goes."""
    async with Journal(tmp_path / "d.db") as journal:
        await journal.store_push(_junk_push("1", "junk"))
        [entry] = await journal.quarantined()
        for ids in ([2**63], [-(2**63) - 1], [10**20, -1, 0]):
            assert await journal.drop_quarantine(ids) == 0
        assert await journal.drop_quarantine([entry.id, entry.id, 2**64]) == 1
        assert await journal.quarantine_size() == 0


@pytest.mark.parametrize(
    "step",
    [
        "CREATE TRIGGER IF NOT EXISTS quarantine_bytes_in",
        "INSERT INTO quarantine_bytes (id, bytes)",
    ],
)
async def test_a_write_while_an_old_journal_gets_its_size_table_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Another process adds to the quarantine of a journal from before the size table while
    this one opens it, just before ``step`` of the schema (each statement its own transaction):
    the size still matches the rows."""
    db = tmp_path / "old.db"
    async with Journal(db) as journal:
        await journal.store_push(_junk_push("1", "abc"))
    connect = sqlite3.connect
    with connect(db) as conn:  # as a journal of the previous version was
        conn.executescript(
            "DROP TRIGGER quarantine_bytes_in; DROP TRIGGER quarantine_bytes_out;"
            " DROP TRIGGER quarantine_bytes_raw; DROP TABLE quarantine_bytes;"
        )
    other = connect(db, isolation_level=None, timeout=5, check_same_thread=False)
    written: list[str] = []

    def intrude(sql: str) -> None:
        if not written and step in sql:
            other.execute(
                "INSERT INTO quarantine (key, kind, records, raw, reason, received, via)"
                " VALUES ('other', 'report', 1, 'other writer', 'r', 0, 'push')"
            )
            written.append(sql)

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(intrude)
        return conn

    monkeypatch.setattr("m5c_async.journal._store.sqlite3.connect", traced)
    try:
        async with Journal(db) as journal:
            size = await journal.quarantine_size()
    finally:
        monkeypatch.undo()
        other.close()
    assert written
    with connect(db) as conn:
        rows = conn.execute("SELECT raw, reason FROM quarantine").fetchall()
    assert len(rows) == 2
    assert size == sum(
        len(raw.encode()) + len(why.encode()) + QUARANTINE_ROW_BYTES for raw, why in rows
    )


async def test_a_flood_of_tiny_unreadable_parts_cannot_outgrow_the_limit_on_disk(
    tmp_path: Path,
) -> None:
    """Pushes of a thousand one-character junk parts each: a row costs the file some 300 bytes
    beside its text (key, digest, reason, indexes), so counting the raw text alone let a 1 MB
    limit grow the file by hundreds of MB. The file grows by no more than about the limit."""
    from m5c_async import QuarantineFullError

    db = tmp_path / "flood.db"
    limit = 1_000_000
    async with Journal(db, quarantine_limit=limit, synchronous="OFF") as journal:
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        empty = db.stat().st_size
        for n in range(50):
            try:
                await journal.store_push(read_report_push(f"{n},2;" + ";".join("b" * 1000)))
            except QuarantineFullError:
                break
        else:
            pytest.fail("50 floods (50,000 entries) and the quarantine is not full")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db.stat().st_size - empty <= 1.5 * limit
