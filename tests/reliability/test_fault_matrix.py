"""The fault matrix: campaigns through the engine against the simulator under each fault.

For each scenario a row is printed and stored (``benchmarks/results/fault_matrix.json``):
messages, accepted, duplicates, lost, reports stored, wall time. The promise: duplicates 0,
lost 0, every report stored once. ``M5C_CHAOS=1`` (``make chaos``) runs the full form with
larger campaigns; ``make test`` runs the short form.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from m5c_async import AsyncClient, Timeouts
from m5c_async.engine import (
    Campaign,
    EngineConfig,
    Hooks,
    OutcomeKind,
    PacketOutcome,
    SendEngine,
)
from m5c_async.journal import Journal, run_campaign
from m5c_async.protocol import DeliveryReport
from m5c_async.simulator import AccountConfig, PlatformSettings, SimulatorServer, run_simulator
from m5c_async.webhook import WebhookReceiver
from tests.conftest import APIKEY, PASSWORD
from tests.simulator.test_serving import serve

FULL = os.environ.get("M5C_CHAOS") == "1"
SIZE = 3000 if FULL else 600
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "fault_matrix.json"
Chaos = Callable[[SimulatorServer], Awaitable[None]]


@dataclass
class Row:
    scenario: str
    messages: int
    accepted: int
    pending: int
    duplicates: int
    lost: int
    reports_stored: int
    report_duplicates: int
    seconds: float


async def _down(sim: SimulatorServer, node: str) -> None:
    await sim.set_faults(node, down=True)


async def _flap(sim: SimulatorServer) -> None:
    for _ in range(4 if FULL else 2):
        await anyio.sleep(0.3)
        await sim.set_faults("qingdao", down=True)
        await anyio.sleep(0.3)
        await sim.set_faults("qingdao", down=False)


async def _set(sim: SimulatorServer, node: str, **faults: Any) -> None:
    await sim.set_faults(node, **faults)


async def _storm(sim: SimulatorServer) -> None:
    await sim.set_faults("qingdao", throttle_ratio=0.7)
    await anyio.sleep(1.0)
    await sim.set_faults("qingdao", throttle_ratio=0.0)


async def _receiver_down(sim: SimulatorServer) -> None:
    account = sim.platform.account("mlrt")
    url, account.report_push_url = account.report_push_url, "http://127.0.0.1:9/down"
    await anyio.sleep(1.0)
    account.report_push_url = url


async def _balance_out(sim: SimulatorServer) -> None:
    sim.platform.account("mlrt").balance = SIZE // 3


SCENARIOS: dict[str, Chaos] = {
    "qingdao down": lambda sim: _down(sim, "qingdao"),
    "beijing down": lambda sim: _down(sim, "beijing"),
    "hongkong down": lambda sim: _down(sim, "hongkong"),
    "us down": lambda sim: _down(sim, "us"),
    "qingdao flapping": _flap,
    "slow node (timeouts)": lambda sim: _set(sim, "qingdao", latency=0.6),
    "bursts of 5xx": lambda sim: _set(sim, "qingdao", error_ratio=0.3),
    "accept-then-drop": lambda sim: _set(sim, "qingdao", drop_ratio=0.2),
    "throttle storm": _storm,
    "balance runs out": _balance_out,
    "webhook receiver down": _receiver_down,
}


def _store(row: Row) -> None:
    if FULL:  # the short form of make test prints its rows but keeps the stored table intact
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        rows[row.scenario] = row.__dict__ | {"full": FULL}
        RESULTS.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    print(
        f"\n{row.scenario:24} messages {row.messages:5} accepted {row.accepted:5} "
        f"pending {row.pending:4} duplicates {row.duplicates} lost {row.lost} "
        f"reports {row.reports_stored:5} ({row.report_duplicates} dup) {row.seconds:.1f}s"
    )


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_fault_matrix(scenario: str, tmp_path: Path) -> None:
    """Nothing lost, nothing doubled, every report stored once, under each fault."""
    stored: Counter[tuple[str, str]] = Counter()

    async def on_reports(batch: list[DeliveryReport]) -> None:
        for report in batch:
            stored[(report.msgid, report.mobile)] += 1

    receiver = WebhookReceiver(on_reports=on_reports, insecure=True)
    outcomes: list[PacketOutcome] = []

    class Collect(Hooks):
        def on_outcome(self, outcome: PacketOutcome) -> None:
            outcomes.append(outcome)

    async with serve(receiver) as hook:
        account = AccountConfig(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            rate=600,
            report_push_url=hook + "/reports",
        )
        settings = PlatformSettings(report_delay=(0.05, 0.3))
        started = time.monotonic()
        async with run_simulator([account], nodes=4, settings=settings) as sim:
            assert sim.pusher is not None
            sim.pusher.backoff = 0.05
            async with AsyncClient(
                username="mlrt",
                password=PASSWORD,
                apikey=APIKEY,
                nodes=sim.base_urls,
                timeouts=Timeouts(read=0.4, connect=0.5),
            ) as client:
                engine = SendEngine(
                    client,
                    EngineConfig(rate=600, packet_size=3, concurrency=30, reconcile_grace=0.3),
                    hooks=[Collect()],
                )
                numbers = [f"131{i:08d}" for i in range(SIZE)]
                campaign = Campaign(numbers=numbers, content="矩阵")
                journaled = scenario == "balance runs out"
                async with anyio.create_task_group() as tg:
                    if journaled:  # before the first send, whatever the machine's load
                        await SCENARIOS[scenario](sim)
                    else:
                        tg.start_soon(SCENARIOS[scenario], sim)
                    if journaled:
                        # A stopped campaign leaves the rest pending: durable only in a journal.
                        async with Journal(tmp_path / "j.db") as journal:
                            _, result = await run_campaign(
                                client, journal, campaign, engine.config, hooks=[Collect()]
                            )
                            unsent = await journal.store.run(
                                lambda c: {
                                    r[0]
                                    for r in c.execute(
                                        "SELECT mobile FROM messages"
                                        " WHERE state IN ('pending', 'queued')"
                                    )
                                }
                            )
                    else:
                        result = await engine.run_campaign(campaign)
                        unsent = set()
            ledger = Counter(m for e in sim.platform.ledger for m in e.mobiles)
            expected_reports = sum(ledger.values())
            # a condition with a deadline: generous, since a loaded machine delays the pushes
            with anyio.move_on_after(120):
                while len(stored) < expected_reports:
                    await anyio.sleep(0.05)
            await anyio.sleep(0.2)
        seconds = time.monotonic() - started
    accepted_numbers = {n for o in outcomes if o.kind is OutcomeKind.ACCEPTED for n in o.numbers}
    pending_numbers = {n for o in outcomes if o.kind is OutcomeKind.PENDING for n in o.numbers}
    pending_numbers |= unsent
    lost = len(set(numbers) - set(ledger) - pending_numbers)
    row = Row(
        scenario=scenario,
        messages=SIZE,
        accepted=len(ledger),
        pending=len(pending_numbers),
        duplicates=sum(c - 1 for c in ledger.values()),
        lost=lost,
        reports_stored=len(stored),
        report_duplicates=sum(c - 1 for c in stored.values()),
        seconds=seconds,
    )
    _store(row)
    assert row.duplicates == 0
    assert row.lost == 0
    assert accepted_numbers == set(ledger)
    assert row.reports_stored == len(ledger)
    assert row.report_duplicates == 0
    if scenario == "balance runs out":
        assert result.stopped_by is not None
        assert row.pending > 0
    else:
        assert row.accepted == SIZE
