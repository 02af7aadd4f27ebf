"""The engine at the cap under every limiter, every profile, packets of 1 and of 10,000.

On a virtual clock, in process: the platform counts by arrival exactly, so these check the rule
(no start-up burst, no window above the cap, the next packet after a big one); the receive-side
figures on real sockets are in benchmarks/bench_goodput.py.
"""

from __future__ import annotations

import httpx
import pytest

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.protocol import NODES, PROFILES, BusinessType, Limiter
from m5c_async.simulator import AccountConfig, NodeApp, Platform, PlatformSettings
from tests.conftest import APIKEY, PASSWORD
from tests.engine.conftest import VirtualTime, numbers

CASES = [
    (BusinessType.NOTIFICATION, 1),
    (BusinessType.NOTIFICATION, 10_000),
    (BusinessType.PERSONALIZED, 1),
    (BusinessType.MARKETING, 1),
    (BusinessType.MARKETING, 10_000),
]


@pytest.mark.parametrize("limiter", list(Limiter))
@pytest.mark.parametrize(("profile", "packet"), CASES)
async def test_engine_at_the_cap(profile: BusinessType, packet: int, limiter: Limiter) -> None:
    """Zero throttles, no window above the cap, a first second at the paced rate at most, and
    the whole campaign at the paced rate (the cap less the default margin)."""
    cap = PROFILES[profile].rate
    paced = cap * (1 - EngineConfig().margin)
    time = VirtualTime()
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, profile=profile)
    platform = Platform(
        [account],
        settings=PlatformSettings(reports=False, limiter=limiter),
        clock=time.clock,
        wall=time.wall,
    )
    total = 3 * packet if packet > 1 else int(cap * 3)
    app = NodeApp(platform, NODES[0].name)
    async with httpx.AsyncClient(mounts={"http://qingdao": httpx.ASGITransport(app=app)}) as http:
        client = AsyncClient(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            nodes=["http://qingdao"],
            http_client=http,
            clock=time.clock,
            wall=time.wall,
        )
        engine = SendEngine(
            client,
            EngineConfig(profile=profile, packet_size=packet),
            hooks=[],
            clock=time.clock,
            sleep=time.sleep,
        )
        start = time.clock.now
        result = await engine.run_campaign(Campaign(numbers=numbers(total), content="x【y】"))
    assert (result.accepted, result.throttled, platform.stats.throttled) == (total, 0, 0)
    account_stats = platform.snapshot()["accounts"]["mlrt"]
    assert account_stats["max_window"] <= cap
    first = [e for e in platform.ledger if e.at - platform.ledger[0].at < 1.0]
    if packet == 1:
        assert len(first) <= paced + 1
        assert account_stats["max_window"] <= paced + 1
    # the last request leaves (total - last packet) / paced rate after the first
    assert time.clock.now - start == pytest.approx((total - packet) / paced, abs=0.05)
