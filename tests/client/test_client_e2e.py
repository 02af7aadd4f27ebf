"""AsyncClient end to end against the simulator: in process and over real loopback sockets."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from m5c_async import AmbiguousOutcomeError, AsyncClient, Encoding, SendFormat
from m5c_async.protocol import NODES
from m5c_async.simulator import AccountConfig, NodeApp, Platform, PlatformSettings, run_simulator
from tests.conftest import APIKEY, PASSWORD, FakeClock

ACCOUNT = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
TRICKY = "验证码：1A1C % + & = # ; , 【签名】\n第二行"
CASES = [
    (fmt, enc, TRICKY + ("" if enc is Encoding.GBK else " 😀"))
    for fmt in SendFormat
    for enc in Encoding
    if not (fmt is SendFormat.SOAP and enc is Encoding.GBK)
]


def in_process(platform: Platform) -> httpx.AsyncClient:
    mounts = {f"http://{n.name}": httpx.ASGITransport(app=NodeApp(platform, n.name)) for n in NODES}
    return httpx.AsyncClient(mounts=mounts)


@pytest.mark.parametrize(("fmt", "encoding", "content"), CASES, ids=str)
async def test_content_intact_in_process(fmt: SendFormat, encoding: Encoding, content: str) -> None:
    """Every format and encode delivers the exact text (SOAP is UTF-8 only, §3.4)."""
    platform = Platform([ACCOUNT])
    async with (
        in_process(platform) as http,
        AsyncClient(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            nodes=["http://qingdao"],
            encode=encoding,
            http_client=http,
        ) as sms,
    ):
        receipt = await sms.send(["13800138000", "+44 7874 321404"], content, format=fmt)
    [entry] = platform.ledger
    assert entry.content == content
    assert entry.msgid == receipt.msgid
    assert entry.mobiles == ("13800138000", "447874321404")


async def test_real_sockets_every_endpoint_and_failover() -> None:
    """Over uvicorn on loopback: formats, queries, a node taken down, no duplicates."""
    settings = PlatformSettings(report_delay=(0.05, 0.1))
    clock = FakeClock()
    async with (
        run_simulator([ACCOUNT], nodes=4, settings=settings) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls, clock=clock
        ) as sms,
    ):
        for fmt in SendFormat:
            receipt = await sms.send(["13800138000"], f"{TRICKY} {fmt}", format=fmt)
            assert receipt.node == sim.base_urls[0]
        await sim.set_faults("qingdao", down=True)
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as probe:
                await probe.get(sim.base_urls[0] + "/_sim/stats")
        moved = await sms.send(["13900139000"], "after failover")
        assert moved.node == sim.base_urls[1]
        assert sms.health()[sim.base_urls[0]] == "closed"  # one failure, threshold is three
        balance = await sms.balance()
        assert balance.total - balance.remaining == 5
        start = datetime(2020, 1, 1, tzinfo=UTC)
        end = datetime(2099, 1, 1, tzinfo=UTC)
        records = await sms.records(start, end)
        assert len(records) == 5
        assert sms.health()[sim.base_urls[0]] == "open"  # three failures: set aside
        await sim.set_faults("qingdao", down=False)
        assert (await sms.send(["13600136000"], "still away")).node == sim.base_urls[1]
        clock.advance(6)  # past the cool-down: one probe goes to Qingdao and closes the circuit
        again = await sms.send(["13700137000"], "back")
        assert again.node == sim.base_urls[0]
        assert sms.health()[sim.base_urls[0]] == "closed"
        stats = sim.platform.snapshot()
        assert stats["accepted"] == 7
        assert stats["duplicates"] == 0


async def test_real_sockets_ambiguous_drop_is_surfaced_not_resent() -> None:
    """Accept-then-drop: the client raises AmbiguousOutcomeError; the ledger holds one copy."""
    async with (
        run_simulator([ACCOUNT], nodes=2) as sim,
        AsyncClient(username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls) as sms,
    ):
        await sim.set_faults("qingdao", drop_ratio=1.0)
        with pytest.raises(AmbiguousOutcomeError) as info:
            await sms.send(["13800138000"], "maybe")
        assert info.value.node == sim.base_urls[0]
        assert len(sim.platform.ledger) == 1
        records = await sms.records(
            datetime.fromtimestamp(info.value.started_at - 1, tz=UTC),
            datetime.fromtimestamp(info.value.ended_at + 1, tz=UTC),
        )
        assert [r.mobiles for r in records] == [("13800138000",)]


async def test_real_sockets_slow_node_times_out_as_ambiguous() -> None:
    """A node slower than the read timeout: ambiguous for a send, failover for a query."""
    from m5c_async import Timeouts

    async with (
        run_simulator([ACCOUNT], nodes=2) as sim,
        AsyncClient(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            nodes=sim.base_urls,
            timeouts=Timeouts(read=0.2),
        ) as sms,
    ):
        await sim.set_faults("qingdao", latency=0.5)
        with pytest.raises(AmbiguousOutcomeError, match="ReadTimeout"):
            await sms.send(["13800138000"], "slow")
        assert (await sms.balance()).remaining > 0
