"""SendEngine against the in-process simulator on a virtual clock: caps, faults, outcomes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from m5c_async import (
    ContentEncodingError,
    EngineStoppedError,
    FrequencyLimitError,
    InsufficientBalanceError,
    InvalidNumberError,
    InvalidParameterError,
)
from m5c_async.engine import Campaign, FrequencyGuard, OutcomeKind, PacketOutcome, preflight
from m5c_async.protocol import RejectReason
from tests.engine.conftest import Rig, numbers


def ledger_numbers(rig: Rig) -> Counter[str]:
    return Counter(m for e in rig.platform.ledger for m in e.mobiles)


async def test_campaign_at_the_cap_is_never_throttled(rig: Rig) -> None:
    """6,000 single-number packets at 600/s less 0.8%: zero throttles (the platform counts any
    one-second window), each number accepted once, and no window above the paced rate."""
    engine = rig.make(packet_size=1, concurrency=50)
    start = rig.time.clock.now
    result = await engine.run_campaign(Campaign(numbers=numbers(6000), content="通知【示例】"))
    assert result.accepted == 6000
    assert result.throttled == 0
    assert rig.platform.stats.throttled == 0
    assert set(ledger_numbers(rig).values()) == {1}
    assert rig.time.clock.now - start == pytest.approx(6000 / 595.2, abs=0.2)
    assert rig.platform.snapshot()["accounts"]["mlrt"]["max_window"] <= 596


async def test_big_packets_are_admitted_and_paid_for(rig: Rig) -> None:
    """Packets of 10,000 at 600/s: no throttle; the third leaves 2 x 10,000/595.2 s after."""
    engine = rig.make()
    start = rig.time.clock.now
    result = await engine.run_campaign(Campaign(numbers=numbers(30_000), content="x【y】"))
    assert (result.accepted, result.throttled) == (30_000, 0)
    assert rig.platform.stats.requests == 3
    assert rig.time.clock.now - start == pytest.approx(20_000 / 595.2, abs=0.5)


async def test_rejected_numbers_come_out_with_reasons(rig: Rig) -> None:
    """Invalid and duplicate numbers are reported, never silently dropped."""
    engine = rig.make(packet_size=3)
    outcomes: list[PacketOutcome] = []
    source = ["13800000001", "bad", "13800000001", "+86 138 0000 0002", "123"]
    async with engine.open_campaign(Campaign(numbers=source, content="x")) as run:
        async for outcome in run.outcomes:
            outcomes.append(outcome)
    assert run.result is not None
    rejected = [r for o in outcomes if o.kind is OutcomeKind.REJECTED for r in o.rejected]
    assert [(r.number, r.reason) for r in rejected] == [
        ("bad", RejectReason.NOT_DIGITS),
        ("13800000001", RejectReason.DUPLICATE),
        ("123", RejectReason.BAD_LENGTH),
    ]
    accepted = [n for o in outcomes if o.kind is OutcomeKind.ACCEPTED for n in o.numbers]
    assert accepted == ["13800000001", "13800000002"]
    assert (run.result.accepted, run.result.rejected) == (2, 3)


async def test_throttled_by_another_sender_backs_off_and_loses_nothing(rig: Rig) -> None:
    """The account's real limit is half what the engine thinks: AIMD, resends, no duplicate."""
    rig.platform.account("mlrt").set_rate(300)
    engine = rig.make(packet_size=1, concurrency=20)
    result = await engine.run_campaign(Campaign(numbers=numbers(3000), content="x"))
    assert result.throttled > 0
    assert result.accepted == 3000
    assert set(ledger_numbers(rig).values()) == {1}
    assert engine.pacer.rate < 600


async def test_node_errors_fail_over_and_5xx_is_reconciled(rig: Rig) -> None:
    """Qingdao answers 5xx a third of the time: each is reconciled, resent only if absent."""
    rig.faults["qingdao"].update({"error_ratio": 0.3})
    engine = rig.make(packet_size=10, concurrency=10, reconcile_grace=0.5)
    result = await engine.run_campaign(Campaign(numbers=numbers(2000), content="x"))
    assert result.accepted == 2000
    assert result.retried > 0
    assert set(ledger_numbers(rig).values()) == {1}
    assert rig.platform.stats.duplicates == 0


async def test_insufficient_balance_stops_promptly(rig: Rig) -> None:
    """The balance runs out: the campaign stops, the rest is pending, the reason is given."""
    rig.platform.account("mlrt").balance = 250
    engine = rig.make(packet_size=50, concurrency=2)
    result = await engine.run_campaign(Campaign(numbers=numbers(1000), content="x"))
    assert isinstance(result.stopped_by, InsufficientBalanceError)
    assert result.accepted == 250
    assert result.pending > 0
    assert result.accepted + result.pending == result.submitted
    assert not result.complete


async def test_personalized_messages_and_batches(rig: Rig, tmp_path: Path) -> None:
    """Per-number content from a CSV, one request each or several per sms_batch.php."""
    csv_file = tmp_path / "m.csv"
    lines = ["mobile,content"] + [f"138{i:08d},您好{i}号" for i in range(40)] + ["bad,x"]
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    single = rig.make(profile="personalized")
    result = await single.run_campaign(Campaign(messages=csv_file))
    assert (result.accepted, result.rejected) == (40, 1)
    assert rig.platform.stats.requests == 40
    batched = rig.make(profile="personalized", batch_size=10)
    pairs = [(f"139{i:08d}", f"第{i}条") for i in range(40)]
    result = await batched.run_campaign(Campaign(messages=pairs))
    assert result.accepted == 40
    assert rig.platform.stats.requests == 44
    contents = {(m, e.content) for e in rig.platform.ledger for m in e.mobiles}
    assert ("13900000007", "第7条") in contents


async def test_numbers_file_is_streamed(rig: Rig, tmp_path: Path) -> None:
    """A file of numbers, one a line, comments and blanks skipped."""
    path = tmp_path / "n.txt"
    path.write_text("# header\n" + "\n".join(numbers(500)) + "\n\n")
    result = await rig.make().run_campaign(Campaign(numbers=path, content="x"))
    assert result.accepted == 500


async def test_bounded_queue_pushes_back_on_the_source(rig: Rig) -> None:
    """A slow platform: the producer reads only a bounded amount ahead of what is sent."""
    pulled = 0

    def source():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for number in numbers(100_000):
            pulled += 1
            yield number

    engine = rig.make(packet_size=10, concurrency=2, queue_size=4, rate=100)
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.run_campaign, Campaign(numbers=source(), content="x"))
        while engine.stats.accepted < 500:
            await anyio.lowlevel.checkpoint()
        ahead = pulled - engine.stats.accepted
        engine.stop()
    assert ahead <= (4 + 2 + 2) * 10


async def test_submit_coalesces_same_content(rig: Rig) -> None:
    """Concurrent same-content submits within the linger window share packets."""
    engine = rig.make(linger=0.01)
    receipts = []
    async with engine:

        async def one(number: str) -> None:
            receipts.append(await engine.submit(number, "验证码123【示例】"))

        async with anyio.create_task_group() as tg:
            for number in numbers(50):
                tg.start_soon(one, number)
    assert len(receipts) == 50
    assert rig.platform.stats.requests < 50
    assert {r.accepted[0] for r in receipts} == set(numbers(50))
    assert all(r.msgid for r in receipts)


async def test_submit_guard_and_errors(rig: Rig) -> None:
    """Frequency guard, invalid numbers, bad content, and a stopped engine."""
    guard = FrequencyGuard([(1, 60), (5, 3600)], clock=rig.time.clock)
    engine = rig.make(linger=0.001)
    engine.guard = guard
    async with engine:
        await engine.submit("13800000000", "a")
        with pytest.raises(FrequencyLimitError, match=r"138\*\*\*\*0000"):
            await engine.submit("13800000000", "b")
        rig.time.clock.advance(61)
        await engine.submit("13800000000", "c")
        with pytest.raises(InvalidNumberError):
            await engine.submit("12", "a")
        with pytest.raises(ContentEncodingError):
            await engine.submit("13900000000", "\ud800")
        rig.platform.account("mlrt").blocked = True
        with pytest.raises(EngineStoppedError, match="blocked"):
            await engine.submit("13700000000", "x")
        with pytest.raises(EngineStoppedError):
            await engine.submit("13600000000", "x")


async def test_preflight_and_dry_run(rig: Rig) -> None:
    """Counts, segments, rejected reasons, signature warning, balance comparison."""
    client = rig.make().client
    campaign = Campaign(
        numbers=["13800000000", "13800000000", "x", *numbers(9, 1)], content="好" * 71
    )
    report = await preflight(client, campaign)
    assert (report.messages, report.segments) == (10, 20)
    assert report.rejected == {"duplicate": 1, "not-digits": 1}
    assert report.ok
    assert any("signature" in w for w in report.warnings)
    rig.platform.account("mlrt").balance = 5
    poor = await preflight(client, campaign)
    assert not poor.ok
    assert rig.platform.ledger == []
    with pytest.raises(InvalidParameterError, match="numbers and content"):
        Campaign(numbers=["1"])


async def test_cancellation_leaves_no_task_and_nothing_half_recorded(rig: Rig) -> None:
    """Cancelling a campaign: no leaked tasks, no request left in flight, the ledger matches."""
    import asyncio

    before = len(asyncio.all_tasks())
    engine = rig.make(packet_size=5, concurrency=20)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.run_campaign, Campaign(numbers=numbers(5000), content="x"))
            while engine.stats.accepted < 1000:
                await anyio.lowlevel.checkpoint()
            scope.cancel()
    assert len(asyncio.all_tasks()) == before
    assert engine.stats.in_flight == 0
    assert engine.stats.accepted == sum(len(e.mobiles) for e in rig.platform.ledger)


async def test_stop_turns_queued_packets_pending(rig: Rig) -> None:
    """stop(): nothing new goes out; what was queued is reported pending, not lost."""
    engine = rig.make(packet_size=10, concurrency=2, queue_size=8, rate=100)
    outcomes: list[PacketOutcome] = []
    async with engine.open_campaign(Campaign(numbers=numbers(2000), content="x")) as run:
        assert run.outcomes is not None
        async for outcome in run.outcomes:
            outcomes.append(outcome)
            if len(outcomes) == 3:
                engine.stop()
    assert run.result is not None
    pending = [o for o in outcomes if o.kind is OutcomeKind.PENDING]
    assert pending
    assert run.result.accepted == sum(len(e.mobiles) for e in rig.platform.ledger)
    assert run.result.accepted + run.result.pending == run.result.submitted
