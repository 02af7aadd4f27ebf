"""A journal with known times, written through the journal's own API on a clock moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from m5c_async import Verdict
from m5c_async.engine import Campaign, OutcomeKind, PacketOutcome, RequestEnd
from m5c_async.journal import Journal, JournalHooks
from m5c_async.protocol import DeliveryReport, InboundReply, PushKind, read_push
from tests.conftest import FakeClock

NUMBERS = [f"1380013{i:04d}" for i in range(10)]
#: The document's §7 string example as decoded: the second record is cut by newlines and is
#: quarantined with its raw text (which holds a mobile number).
DOC_PUSH = (
    "309111755558600,13811299999,DELIVRD,1456853866;"
    "309111755559999,13811299988,DELI\n\n\n\nVRD,456853877"
)
#: Markup in a reply (no comma or semicolon: the platform's string push splits on those).
XSS = "<script>document.title='pwned'</script><img src=x onerror=\"window.__pwned=1\">"


async def build(path: Path) -> int:
    """Two packets of five on two nodes, one throttled request, reports at known delays, a
    reply with markup in it, one quarantined record. Returns the campaign id."""
    clock = FakeClock(1000.0)
    async with Journal(path, clock=clock) as journal:
        campaign = Campaign(numbers=[*NUMBERS, "not-a-number", NUMBERS[0]], content="通知【测试】")
        cid = await journal.create(campaign, profile="notification")
        await journal.import_source(cid, campaign)
        first, second = [p async for p in journal.packets(cid, 5)]
        await journal.mark_in_flight(first)
        clock.now = 1000.5
        journal.record(
            PacketOutcome(
                kind=OutcomeKind.ACCEPTED,
                packet_id=first.id,
                numbers=first.numbers,
                msgid="100",
                node="http://node-a:80",
            )
        )
        clock.now = 1001.0
        await journal.mark_in_flight(second)
        clock.now = 1001.2
        JournalHooks(journal).on_request_end(
            RequestEnd(
                packet_id=second.id,
                attempt=1,
                size=5,
                endpoint="send",
                node="http://node-b:80",
                verdict=Verdict.THROTTLED,
                latency=0.1,
            )
        )
        clock.now = 1002.0
        journal.record(
            PacketOutcome(
                kind=OutcomeKind.ACCEPTED,
                packet_id=second.id,
                numbers=second.numbers,
                msgid="200",
                node="http://node-b:80",
            )
        )
        at = datetime(2026, 1, 1, tzinfo=UTC)
        # Delays after acceptance: 1, 2, 3, 4, 10 s (first packet); 1, 1, 1, 2 s and one
        # without a report (second packet).
        for number, received in zip(
            first.numbers, (1001.5, 1002.5, 1003.5, 1004.5, 1010.5), strict=True
        ):
            clock.now = received
            await journal.store_reports(
                [DeliveryReport(msgid="100", mobile=number, status="DELIVRD", at=at)]
            )
        for number, received, status in zip(
            second.numbers[:4],
            (1003.0, 1003.0, 1003.0, 1004.0),
            ("DELIVRD", "DELIVRD", "UNDELIV", "MK:0001"),
            strict=True,
        ):
            clock.now = received
            await journal.store_reports(
                [DeliveryReport(msgid="200", mobile=number, status=status, at=at)]
            )
        await journal.store_replies(
            [
                InboundReply(
                    ext="0",
                    reply_id="7",
                    mobile=NUMBERS[3],
                    content=XSS,
                    at=datetime.now(UTC),
                )
            ]
        )
        await journal.store_push(read_push(PushKind.REPORT, DOC_PUSH), peer="127.0.0.1")
    return cid


@pytest.fixture
async def journal_file(tmp_path: Path) -> tuple[Path, int]:
    """The built journal and its campaign id."""
    path = tmp_path / "known.db"
    return path, await build(path)
