"""Rate windows count a request when it arrived, not when its handler got to it; the loop's
lateness is measured."""

from __future__ import annotations

import anyio
import httpx
import pytest

from m5c_async.simulator import AccountConfig, Platform, PlatformSettings, SimulatorServer
from m5c_async.simulator._lag import LoopLag
from tests.conftest import APIKEY, PASSWORD
from tests.simulator.test_serving import form, wait_for


@pytest.mark.parametrize("limiter", ["sliding", "fixed", "gcra"])
async def test_a_request_held_before_its_handler_counts_when_it_arrived(limiter: str) -> None:
    """One message a second. A second send right after the first, held 1.5 s by the node's
    latency before it is handled: by arrival it is in the first one's second (throttled); by
    the time it was handled it would not be."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=1)
    settings = PlatformSettings(reports=False, limiter=limiter, tolerance=0)
    server = SimulatorServer(Platform([account], settings=settings), nodes=1)
    async with server.running(), httpx.AsyncClient(base_url=server.base_urls[0]) as http:
        # Early in a calendar second, so both arrivals share one under the fixed reading too.
        await wait_for(lambda: server.platform.clock() % 1.0 < 0.3)
        first = await http.post("/api/send/index.php", data=form(mobile="13800000000", content="x"))
        assert first.text.startswith("success:")
        await server.set_faults("qingdao", latency=1.5)
        held = await http.post(
            "/api/send/index.php", data=form(mobile="13800000001", content="x"), timeout=10
        )
        assert held.text == "error:Throughput Rate Exceeded"
        # Handled as it arrives, a send a window later is accepted: the limit is one a second.
        await server.set_faults("qingdao", latency=0.0)
        await anyio.sleep(1.1)
        later = await http.post("/api/send/index.php", data=form(mobile="13800000002", content="x"))
        assert later.text.startswith("success:")


def test_loop_lag_counts_each_late_tick() -> None:
    """Ticks late by 2, 7, 12 and 30 ms (and one early, as 0): max and counts per threshold."""
    lag = LoopLag(interval=0.005)
    for late in (0.002, 0.007, 0.012, 0.030, -0.001):
        lag.observe(late)
    assert lag.summary() == {
        "interval_ms": 5.0,
        "samples": 5,
        "max_ms": 30.0,
        "over_5ms": 3,
        "over_10ms": 2,
        "over_20ms": 1,
    }


async def test_stats_report_the_loop_lag_when_measured() -> None:
    """With a ``LoopLag`` on the platform, the server ticks it and ``/_sim/stats`` shows it;
    without, the key is absent."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    platform = Platform([account], settings=PlatformSettings(reports=False))
    platform.loop_lag = LoopLag(interval=0.002)
    server = SimulatorServer(platform, nodes=1)
    async with server.running(), httpx.AsyncClient(base_url=server.base_urls[0]) as http:
        await wait_for(lambda: platform.loop_lag is not None and platform.loop_lag.samples >= 3)
        lag = (await http.get("/_sim/stats")).json()["loop_lag"]
        assert lag["samples"] >= 3 and lag["interval_ms"] == 2.0 and lag["max_ms"] >= 0
    bare = SimulatorServer(Platform([account], settings=PlatformSettings(reports=False)), nodes=1)
    async with bare.running(), httpx.AsyncClient(base_url=bare.base_urls[0]) as http:
        assert "loop_lag" not in (await http.get("/_sim/stats")).json()
