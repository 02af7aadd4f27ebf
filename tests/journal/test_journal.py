"""The journal: states, reports stored once and matched late, replies, status, with push."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig
from m5c_async.journal import Journal, resume_campaign, run_campaign
from m5c_async.protocol import DeliveryReport, InboundReply
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from m5c_async.webhook import WebhookReceiver
from tests.conftest import APIKEY, PASSWORD
from tests.simulator.test_serving import serve

AT = datetime(2026, 1, 1, tzinfo=UTC)


async def test_reports_once_and_matched_even_when_early(tmp_path: Path) -> None:
    """A report stored before its message is accepted is matched later; duplicates ignored."""
    async with Journal(tmp_path / "j.db") as journal:
        cid = await journal.create(Campaign(numbers=[], content="x"), profile="notification")
        await journal.import_source(
            cid, Campaign(numbers=["13800000000", "bad", "13800000000", "13900000000"], content="x")
        )
        early = DeliveryReport(
            msgid="12345678901234", mobile="13800000000", status="DELIVRD", at=AT
        )
        assert await journal.store_reports([early, early]) == 1
        assert await journal.store_reports([early]) == 0
        packets = [p async for p in journal.packets(cid, 10)]
        assert [p.numbers for p in packets] == [("13800000000", "13900000000")]
        await journal.mark_in_flight(packets[0])
        from m5c_async.engine import OutcomeKind, PacketOutcome

        journal.record(
            PacketOutcome(
                kind=OutcomeKind.ACCEPTED,
                packet_id=packets[0].id,
                numbers=packets[0].numbers,
                msgid="12345678901234",
                node="qingdao",
            )
        )
        late = DeliveryReport(msgid="12345678901234", mobile="13900000000", status="UNDELIV", at=AT)
        await journal.store_reports([late])
        await journal.store_replies(
            [
                InboundReply(
                    ext="1", reply_id="9", mobile="13800000000", content="好", at=datetime.now(UTC)
                )
            ]
            * 2
        )
        status = await journal.status(cid)
    assert (status.total, status.accepted, status.rejected, status.duplicates) == (2, 2, 1, 1)
    assert (status.delivered, status.undelivered, status.no_report) == (1, 1, 0)
    assert status.undelivered_by_status == {"UNDELIV": 1}
    assert status.replies == 1
    with sqlite3.connect(tmp_path / "j.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_campaign_with_push_to_the_receiver_stores_every_report_once(tmp_path: Path) -> None:
    """Journaled campaign over loopback; the simulator pushes reports to a receiver whose
    handler stores them in the journal; status matches every accepted number."""
    path = tmp_path / "c.db"
    async with Journal(path) as journal:
        receiver = WebhookReceiver(sink=journal, insecure=True)
        async with serve(receiver) as url:
            account = AccountConfig(
                username="mlrt",
                password=PASSWORD,
                apikey=APIKEY,
                report_push_url=url + "/reports",
                reply_push_url=url + "/replies",
            )
            settings = PlatformSettings(report_delay=(0.05, 0.2))
            async with (
                run_simulator([account], nodes=2, settings=settings) as sim,
                AsyncClient(
                    username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
                ) as client,
            ):
                numbers = [f"137{i:08d}" for i in range(300)]
                cid, result = await run_campaign(
                    client,
                    journal,
                    Campaign(numbers=numbers, content="你好【测试】"),
                    EngineConfig(packet_size=7, rate=600),
                )
                assert result.accepted == 300
                sim.platform.inject_reply("mlrt", "13700000001", "收到")

                async def settled() -> bool:
                    s = await journal.status(cid)
                    return s.no_report == 0 and s.replies == 1

                with anyio.fail_after(15):
                    while not await settled():
                        await anyio.sleep(0.1)
                status = await journal.status(cid)
                # Nothing left to resume: a resume finds nothing to settle or send.
                _, again, settled_counts = await resume_campaign(client, journal)
                assert (again.submitted, settled_counts) == (0, (0, 0))
    assert status.accepted == 300
    assert status.delivered + status.undelivered == 300
    assert receiver.received["report"] == 300


async def test_replies_match_the_campaign_ext(tmp_path: Path) -> None:
    """With an ext, only replies to that extension number count for the campaign."""
    async with Journal(tmp_path / "e.db") as journal:
        campaign = Campaign(numbers=["13800000000"], content="x", ext="77")
        cid = await journal.create(campaign, profile="notification")
        await journal.import_source(cid, campaign)
        [packet] = [p async for p in journal.packets(cid, 10)]
        await journal.mark_in_flight(packet)
        from m5c_async.engine import OutcomeKind, PacketOutcome

        journal.record(
            PacketOutcome(
                kind=OutcomeKind.ACCEPTED, packet_id=packet.id, numbers=packet.numbers, msgid="1"
            )
        )
        now = datetime.now(UTC)
        await journal.store_replies(
            [
                InboundReply(ext="77", reply_id="1", mobile="13800000000", content="好", at=now),
                InboundReply(ext="12", reply_id="2", mobile="13800000000", content="别", at=now),
            ]
        )
        status = await journal.status(cid)
    assert status.replies == 1


async def test_pull_loops_fill_the_journal_without_push(tmp_path: Path) -> None:
    """No push URL: the pull loops fetch reports and replies into the journal."""
    from m5c_async.journal import pull_replies, pull_reports

    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    settings = PlatformSettings(report_delay=(0.02, 0.1))
    async with (
        Journal(tmp_path / "p.db") as journal,
        run_simulator([account], nodes=1, settings=settings) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
        ) as client,
    ):
        cid, result = await run_campaign(
            client,
            journal,
            Campaign(numbers=[f"136{i:08d}" for i in range(120)], content="x"),
            EngineConfig(packet_size=20),
        )
        sim.platform.inject_reply("mlrt", "13600000005", "好")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: pull_reports(client, journal, interval=0.05))
            tg.start_soon(lambda: pull_replies(client, journal, interval=0.05))
            with anyio.fail_after(15):
                while True:
                    status = await journal.status(cid)
                    if status.no_report == 0 and status.replies == 1:
                        break
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    assert result.accepted == 120
    assert status.delivered + status.undelivered == 120


async def test_unknown_campaign_is_a_named_error_and_a_record_is_typed(tmp_path: Path) -> None:
    """campaign() returns a frozen StoredCampaign, or raises CampaignNotFoundError."""
    from m5c_async import CampaignNotFoundError, M5CError
    from m5c_async.journal import StoredCampaign

    async with Journal(tmp_path / "j.db", clock=lambda: 1234.5) as journal:
        with pytest.raises(CampaignNotFoundError) as missing:
            await journal.campaign()
        assert isinstance(missing.value, M5CError)
        assert missing.value.campaign is None
        cid = await journal.create(
            Campaign(numbers=[], content="x", ext="12", name="n"), profile="marketing"
        )
        stored = await journal.campaign(cid)
        assert isinstance(stored, StoredCampaign)
        assert (stored.id, stored.name, stored.content, stored.ext) == (cid, "n", "x", "12")
        assert (stored.profile, stored.created, stored.imported) == ("marketing", 1234.5, False)
        assert await journal.campaign() == stored
        with pytest.raises(CampaignNotFoundError) as other:
            await journal.campaign(cid + 1)
        assert other.value.campaign == cid + 1


class RecordsOnly:
    """Just the client's records(): every query it received, the same records every time."""

    def __init__(self, records: list[object]) -> None:
        self.records = records
        self.queries: list[tuple[int, int]] = []

    async def records_between(self, start: datetime, end: datetime) -> list[object]:
        self.queries.append((int(start.timestamp()), int(end.timestamp())))
        return self.records


@pytest.mark.parametrize("late", [30.0, 0.0])
async def test_resume_waits_until_a_window_can_no_longer_change(
    tmp_path: Path, late: float
) -> None:
    """A stop cut a request short one second ago, and the platform, which had read it, accepts
    it four seconds later: resume waits until ``late`` after the request was last known of
    (here 29 s more) and then finds it. Read at once (``late=0``), the window shows nothing
    yet and the number would go back to pending: sent twice."""
    from m5c_async.protocol import SendRecord

    t = 1_700_000_000.0
    now = [t]
    mobile = "13800000001"
    slept: list[float] = []

    async def records(start: datetime, end: datetime) -> list[SendRecord]:
        if now[0] < t + 5:  # not recorded yet
            return []
        at = datetime.fromtimestamp(int(t + 5), tz=UTC)
        return [SendRecord(username="mlrt", msgid="1", mobiles=(mobile,), content="x", sent_at=at)]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    async with Journal(tmp_path / "j.db", clock=lambda: now[0]) as journal:
        cid = await journal.create(Campaign(numbers=[], content="x"), profile="notification")
        await journal.import_source(cid, Campaign(numbers=[mobile], content="x"))
        [packet] = [p async for p in journal.packets(cid, 1)]
        await journal.mark_in_flight(packet)
        now[0] = t + 1
        client = type("C", (), {"records": staticmethod(records)})()
        settled = await journal.recover(cid, client, late=late, sleep=sleep)
    if late:
        assert slept == [pytest.approx(late - 1)]
        assert settled == (1, 0)
    else:
        assert slept == []
        assert settled == (0, 1)  # what reading early does: the number goes out again


async def test_resume_matches_each_packet_in_its_own_window(tmp_path: Path) -> None:
    """Two packets in flight at a crash, an hour apart: two queries (one per window); a record of
    the second packet's number stamped in the first packet's window is not the second's."""
    from m5c_async.protocol import SendRecord

    now = [1_700_000_000.0]
    a, b = "13800000001", "13800000002"

    def stamp(at: float, mobile: str) -> SendRecord:
        return SendRecord(
            username="mlrt",
            msgid=f"{int(at)}",
            mobiles=(mobile,),
            content="x",
            sent_at=datetime.fromtimestamp(int(at), tz=UTC),
        )

    t1, t2 = now[0], now[0] + 3600
    fake = RecordsOnly([stamp(t1 + 3, a), stamp(t1 + 4, b)])
    async with Journal(tmp_path / "j.db", clock=lambda: now[0]) as journal:
        cid = await journal.create(Campaign(numbers=[], content="x"), profile="notification")
        await journal.import_source(cid, Campaign(numbers=[a, b], content="x"))
        first, second = [p async for p in journal.packets(cid, 1)]
        await journal.mark_in_flight(first)
        now[0] = t2
        await journal.mark_in_flight(second)
        now[0] = t2 + 600  # resumed ten minutes after the crash
        client = type("C", (), {"records": fake.records_between})()
        found, returned = await journal.recover(cid, client)  # type: ignore[arg-type]
        status = await journal.status(cid)
    assert (found, returned) == (1, 1)
    assert (status.accepted, status.pending) == (1, 1)
    assert len(fake.queries) == 2
    assert fake.queries[0][0] <= t1 - 10 and fake.queries[1][0] <= t2 - 10
