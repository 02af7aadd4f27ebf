"""Per-run state: each campaign, each run_packets call and the submit() service has its own
scheduled time, extension, stop flag and statistics; hooks see each event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from m5c_async import InvalidParameterError
from m5c_async.engine import (
    Campaign,
    EngineConfig,
    Hooks,
    OutcomeKind,
    PacketOutcome,
    ReconcileEvent,
    RequestEnd,
    SendEngine,
)
from m5c_async.protocol import BusinessType
from tests.conftest import WALL_OFFSET
from tests.engine.conftest import Rig, numbers


async def test_campaign_at_and_ext_never_reach_submit_traffic(rig: Rig) -> None:
    """A scheduled campaign with an extension runs beside submit(): the web app's messages go
    out now and without the extension; the campaign's go scheduled with it."""
    engine = rig.make(packet_size=5, concurrency=4, linger=0.001)
    client = engine.client
    seen: dict[str, list[datetime | None]] = {"campaign": [], "web": []}
    original = client.send_prepared

    async def spy(numbers: Sequence[str], content: str, **kw: Any) -> Any:
        seen["campaign" if content.startswith("活动") else "web"].append(kw.get("at"))
        return await original(numbers, content, **kw)

    client.send_prepared = spy  # type: ignore[method-assign]
    later = datetime.now(UTC) + timedelta(days=1)
    receipts = []
    async with engine:

        async def web(number: str) -> None:
            receipts.append(await engine.submit(number, "验证码123【示例】"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                engine.run_campaign,
                Campaign(numbers=numbers(200), content="活动【示例】", at=later, ext="12"),
            )
            for number in numbers(30, start=1000):
                tg.start_soon(web, number)
    assert len(receipts) == 30
    assert seen["campaign"] and set(seen["campaign"]) == {later}
    assert seen["web"] and set(seen["web"]) == {None}
    exts = {(e.content.startswith("活动"), e.ext) for e in rig.platform.ledger}
    assert exts == {(True, "12"), (False, "")}


async def test_two_runs_in_a_row_have_separate_stats(rig: Rig) -> None:
    """The second campaign's result and stats count only its own messages."""
    engine = rig.make(packet_size=10)
    first = await engine.run_campaign(Campaign(numbers=numbers(100), content="a"))
    first_stats = engine.stats
    second = await engine.run_campaign(
        Campaign(numbers=[*numbers(30, start=500), "bad"], content="b")
    )
    assert (first.submitted, first.accepted, first.rejected) == (100, 100, 0)
    assert (second.submitted, second.accepted, second.rejected) == (30, 30, 1)
    assert engine.stats is not first_stats
    assert (engine.stats.accepted, first_stats.accepted) == (30, 100)
    assert second.per_node == {"http://qingdao": 30}


async def test_submit_traffic_is_not_counted_in_a_campaign(rig: Rig) -> None:
    """The service's counters and a campaign's beside it stay apart."""
    engine = rig.make(packet_size=10, linger=0.001)
    async with engine:
        service = engine.stats
        await engine.submit("13900000000", "x")
        result = await engine.run_campaign(Campaign(numbers=numbers(20), content="y"))
        await engine.submit("13900000001", "x")
    assert (result.submitted, result.accepted) == (20, 20)
    assert (service.submitted, service.accepted) == (2, 2)


async def test_stop_is_not_sticky_across_runs(rig: Rig) -> None:
    """stop() ends the run in progress; the next run sends normally."""
    engine = rig.make(packet_size=10, concurrency=2, rate=100)
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.run_campaign, Campaign(numbers=numbers(2000), content="x"))
        while engine.stats.accepted < 100:
            await anyio.lowlevel.checkpoint()
        engine.stop()
    stopped = engine.stats
    assert stopped.pending > 0
    again = await engine.run_campaign(Campaign(numbers=numbers(50, start=5000), content="y"))
    assert (again.accepted, again.pending, again.stopped_by) == (50, 0, None)
    assert again.complete


async def test_a_fatal_error_stops_its_run_only(rig: Rig) -> None:
    """A blocked account stops the campaign; once unblocked, the next campaign runs."""
    engine = rig.make(packet_size=10)
    rig.platform.account("mlrt").blocked = True
    blocked = await engine.run_campaign(Campaign(numbers=numbers(50), content="x"))
    assert blocked.stopped_by is not None
    assert blocked.pending == 50
    rig.platform.account("mlrt").blocked = False
    again = await engine.run_campaign(Campaign(numbers=numbers(50), content="x"))
    assert (again.accepted, again.stopped_by) == (50, None)


async def test_profile_given_by_name(rig: Rig) -> None:
    """The journal docs' EngineConfig(profile="marketing") runs; a wrong name is a named error."""
    config = EngineConfig(profile="marketing")  # type: ignore[arg-type]
    assert config.profile is BusinessType.MARKETING
    engine = rig.make(profile="marketing")
    result = await engine.run_campaign(Campaign(numbers=numbers(20), content="x【y】"))
    assert result.accepted == 20
    with pytest.raises(InvalidParameterError, match="unknown profile"):
        EngineConfig(profile="spam")  # type: ignore[arg-type]


async def test_submit_receipt_sent_at_is_wall_clock(rig: Rig) -> None:
    """SendReceipt.sent_at is Unix time (the client's wall clock), not the monotonic clock."""
    engine = rig.make(linger=0.001)
    before = rig.time.wall()
    async with engine:
        receipt = await engine.submit("13800000000", "x")
    assert before - 1 <= receipt.sent_at <= rig.time.wall() + 1
    assert receipt.sent_at > WALL_OFFSET


class Recorder(Hooks):
    """Overrides only some events: the others are never called."""

    def __init__(self) -> None:
        self.ends: list[RequestEnd] = []
        self.nodes: list[tuple[str | None, str]] = []
        self.reconciles: list[ReconcileEvent] = []
        self.rates: list[float] = []

    def on_request_end(self, event: RequestEnd) -> None:
        self.ends.append(event)

    def on_node_change(self, previous: str | None, node: str) -> None:
        self.nodes.append((previous, node))

    def on_reconcile(self, event: ReconcileEvent) -> None:
        self.reconciles.append(event)

    def on_rate_change(self, rate: float) -> None:
        self.rates.append(rate)


class Broken(Hooks):
    def on_outcome(self, outcome: PacketOutcome) -> None:
        raise RuntimeError("a hook's bug")


async def test_hooks_see_requests_node_changes_and_reconciles(rig: Rig) -> None:
    """Qingdao starts answering 5xx: each failed request ends with its verdict, is reconciled
    (nothing found, resent), its breaker opens and the node change to Beijing is told once; a
    hook that raises changes nothing."""
    recorder = Recorder()
    engine = SendEngine(
        rig.make().client,
        EngineConfig(packet_size=10, concurrency=1, reconcile_grace=0.1),
        hooks=[recorder, Broken()],
        clock=rig.time.clock,
        sleep=rig.time.sleep,
    )
    first = await engine.run_campaign(Campaign(numbers=numbers(50), content="x"))
    assert len(recorder.ends) == 5
    assert all(e.verdict is None and e.attempt == 1 for e in recorder.ends)
    assert all(e.latency >= 0 and e.size == 10 for e in recorder.ends)
    rig.faults["qingdao"].update({"error_ratio": 1.0})
    second = await engine.run_campaign(Campaign(numbers=numbers(50, start=100), content="x"))
    assert (first.accepted, second.accepted) == (50, 50)
    assert recorder.nodes == [(None, "http://qingdao"), ("http://qingdao", "http://beijing")]
    failed = [e for e in recorder.ends if e.verdict is not None]
    assert failed and {(e.node, e.verdict.value) for e in failed} == {("http://qingdao", "unsafe")}
    assert len(recorder.reconciles) == len(failed)
    assert all(r.read and r.found == 0 for r in recorder.reconciles)
    assert {e.endpoint for e in recorder.ends} == {"send"}
    assert set(ledger := [m for e in rig.platform.ledger for m in e.mobiles]) == set(
        numbers(50) + numbers(50, start=100)
    )
    assert len(ledger) == 100


async def test_outcome_kinds_unchanged_by_hook_failures(rig: Rig) -> None:
    """An outcome hook that raises on every call: the campaign still completes, counted."""
    engine = SendEngine(
        rig.make().client,
        EngineConfig(packet_size=10),
        hooks=[Broken()],
        clock=rig.time.clock,
        sleep=rig.time.sleep,
    )
    outcomes: list[PacketOutcome] = []
    async with engine.open_campaign(Campaign(numbers=numbers(30), content="x")) as run:
        assert run.outcomes is not None
        async for outcome in run.outcomes:
            outcomes.append(outcome)
    assert {o.kind for o in outcomes} == {OutcomeKind.ACCEPTED}
    assert run.result is not None and run.result.complete
