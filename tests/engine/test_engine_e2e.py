"""The engine over real loopback sockets against uvicorn nodes: faults that need a real wire."""

from __future__ import annotations

import time
from collections import Counter

import anyio
import pytest

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.simulator import (
    AccountConfig,
    Platform,
    PlatformSettings,
    SimulatorServer,
    run_simulator,
)
from tests.conftest import APIKEY, PASSWORD
from tests.engine.conftest import numbers

ACCOUNT = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=400)


async def test_drops_node_down_and_throttle_storm_lose_and_double_nothing() -> None:
    """Accept-then-drop on Beijing, Qingdao down for a second, a throttle storm on Hong Kong:
    every number accepted exactly once, and the dropped ones reconciled, not resent."""
    settings = PlatformSettings(reports=False)
    async with (
        run_simulator([ACCOUNT], nodes=3, settings=settings) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
        ) as client,
    ):
        engine = SendEngine(
            client,
            EngineConfig(rate=400, packet_size=4, concurrency=20, reconcile_grace=0.2),
            hooks=[],
        )

        async def chaos() -> None:
            await anyio.sleep(0.5)
            await sim.set_faults("beijing", drop_ratio=0.2)
            await sim.set_faults("hongkong", throttle_ratio=0.5)
            await sim.set_faults("qingdao", down=True)
            await anyio.sleep(1.0)
            await sim.set_faults("qingdao", down=False)

        async with anyio.create_task_group() as tg:
            tg.start_soon(chaos)
            result = await engine.run_campaign(Campaign(numbers=numbers(800), content="x"))
        ledger = Counter(m for e in sim.platform.ledger for m in e.mobiles)
        stats = sim.platform.snapshot()
    assert result.accepted == 800
    assert set(ledger.values()) == {1}
    assert len(ledger) == 800
    assert stats["duplicates"] == 0
    dropped = stats["per_node"].get("beijing", {}).get("dropped", 0)
    assert dropped > 0
    assert result.reconciled >= dropped * 4  # every dropped packet found in the records
    assert result.pending == 0
    assert result.ambiguous == 0


@pytest.mark.parametrize("offset", [+8.0, -8.0], ids=["platform-ahead", "platform-behind"])
async def test_reconcile_under_clock_skew_never_doubles(offset: float) -> None:
    """The platform's clock is 8 s ahead of (or behind) ours and accepts-then-drops 30% of
    Qingdao's replies: every dropped packet is found in the records (stamped on the platform's
    clock) and none is sent twice."""
    platform = Platform(
        [ACCOUNT], settings=PlatformSettings(reports=False), wall=lambda: time.time() + offset
    )
    server = SimulatorServer(platform, host="127.0.0.1", port=0, nodes=2)
    async with (
        server.running(),
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=server.base_urls
        ) as client,
    ):
        await server.set_faults("qingdao", drop_ratio=0.3)
        engine = SendEngine(
            client,
            EngineConfig(rate=400, packet_size=4, concurrency=10, reconcile_grace=0.2),
            hooks=[],
        )
        result = await engine.run_campaign(Campaign(numbers=numbers(200), content="x"))
        ledger = Counter(m for e in platform.ledger for m in e.mobiles)
    assert (result.accepted, result.ambiguous, result.pending) == (200, 0, 0)
    assert set(ledger.values()) == {1}
    assert result.reconciled > 0
