"""The three end-to-end costs of issue 13, through ``SendEngine``, on both wires, against
scripted loopback servers replying in legal but less common ways.

- A send times out; the records reply that reconciles it has no Content-Length and arrives in
  several writes: the packet's row is found, it is not resent, the platform holds one copy.
- ``success:<msgid>`` without Content-Length, in two writes: the whole msgid is kept.
- A ``100 Continue`` before each final reply: the campaign completes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from urllib.parse import quote

import pytest

from m5c_async import AsyncClient, Timeouts
from m5c_async.engine import Campaign, EngineConfig, OutcomeKind, PacketOutcome, SendEngine
from tests.conftest import APIKEY, PASSWORD
from tests.scripted import Answer, Request, scripted

WIRES = ["fast", "httpx"]
CONTENT = "您的验证码是 4321【示例】"
LONG_MSGID = "20261125073011123456"  # 20 digits, the longest the parser takes


def client(url: str, wire: str, read: float = 5.0) -> AsyncClient:
    return AsyncClient(
        username="mlrt",
        password=PASSWORD,
        apikey=APIKEY,
        nodes=[url],
        wire=wire,
        timeouts=Timeouts(read=read),
    )


async def run(engine: SendEngine, numbers: list[str]) -> list[PacketOutcome]:
    outcomes: list[PacketOutcome] = []
    async with engine.open_campaign(Campaign(numbers=numbers, content=CONTENT)) as handle:
        assert handle.outcomes is not None
        async for outcome in handle.outcomes:
            outcomes.append(outcome)
    return outcomes


def engine_for(sms: AsyncClient) -> SendEngine:
    config = EngineConfig(packet_size=1, concurrency=2, reconcile_grace=0.001)
    return SendEngine(sms, config, hooks=[])


@pytest.mark.parametrize("wire", WIRES)
async def test_a_timed_out_send_reconciled_from_a_records_reply_in_pieces_is_sent_once(
    wire: str,
) -> None:
    slow = "13800138000"
    accepted: list[tuple[str, str, int]] = []  # (number, msgid, time) the platform holds
    msgids = itertools.count(7_000_000)
    release = asyncio.Event()

    async def platform(request: Request) -> Answer:
        form = request.form
        if "/api/send/" in request.path:
            msgid = str(next(msgids))
            accepted.append((form["mobile"], msgid, int(time.time())))
            if form["mobile"] == slow and len([a for a in accepted if a[0] == slow]) == 1:
                # Accepted, but the answer never comes back in time (the block's end frees it).
                await release.wait()
            return Answer(body=f"success:{msgid}")
        # action=record: many rows of other sends first, so the body spans several writes.
        rows = [
            f"mlrt,{9_000_000 + i},1390000{i:04d},{quote('other')},{int(time.time())}"
            for i in range(300)
        ]
        rows += [f"mlrt,{m},{n},{quote(CONTENT)},{t}" for n, m, t in accepted]
        return Answer(body=";".join(rows) + ";", close=True, writes=4)

    try:
        async with scripted(platform) as server, client(server.url, wire, read=0.5) as sms:
            outcomes = await run(engine_for(sms), [slow, "13900139000"])
    finally:
        release.set()
    by_number = {o.numbers[0]: o for o in outcomes}
    assert by_number[slow].kind is OutcomeKind.ACCEPTED
    assert by_number[slow].reconciled
    assert by_number[slow].msgid == next(m for n, m, _ in accepted if n == slow)
    assert [n for n, _, _ in accepted].count(slow) == 1  # one copy on the platform
    assert by_number["13900139000"].kind is OutcomeKind.ACCEPTED
    assert server.to("/api/query/")


@pytest.mark.parametrize("wire", WIRES)
async def test_a_close_delimited_msgid_in_two_writes_is_kept_whole(wire: str) -> None:
    async def platform(request: Request) -> Answer:
        return Answer(body=f"success:{LONG_MSGID}", close=True, writes=2)

    async with scripted(platform) as server, client(server.url, wire) as sms:
        outcomes = await run(engine_for(sms), ["13800138000", "13900139000"])
    assert [o.kind for o in outcomes] == [OutcomeKind.ACCEPTED] * 2
    assert {o.msgid for o in outcomes} == {LONG_MSGID}


@pytest.mark.parametrize("wire", WIRES)
async def test_a_100_continue_before_each_reply_lets_the_campaign_complete(wire: str) -> None:
    msgids = itertools.count(1000)

    def platform(request: Request) -> Answer:
        return Answer(body=f"success:{next(msgids)}", interim=b"HTTP/1.1 100 Continue\r\n\r\n")

    numbers = [f"1380000{i:04d}" for i in range(6)]
    async with scripted(platform) as server, client(server.url, wire) as sms:
        outcomes = await run(engine_for(sms), numbers)
    assert sorted(o.numbers[0] for o in outcomes) == numbers
    assert all(o.kind is OutcomeKind.ACCEPTED and o.attempts == 1 for o in outcomes)
    assert len({o.msgid for o in outcomes}) == len(numbers)
