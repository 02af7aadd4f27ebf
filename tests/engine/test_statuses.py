"""Every HTTP status a gateway can answer is one packet's outcome, on both wires.

A scripted loopback server answers sends to numbers ending in 403 or 404 with that status
(always), to numbers ending in 408, 502 or 503 with that status the first time (the engine
reconciles: the first records query gets a 503 too, the next finds nothing, and the packet is
resent once), and ``success:<n>`` otherwise. The campaign ends normally with one outcome per
packet; a web app's concurrent ``submit()`` calls each get a receipt or a library error (never
``CancelledError``), and the engine keeps serving afterwards.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from m5c_async import (
    AllNodesRefusedError,
    AsyncClient,
    BreakerConfig,
    M5CError,
    SendReceipt,
    Verdict,
)
from m5c_async.engine import Campaign, EngineConfig, OutcomeKind, PacketOutcome, SendEngine
from tests.conftest import APIKEY, PASSWORD
from tests.scripted import Answer, Request, scripted

REFUSED = ("403", "404")
ONCE = ("408", "502", "503")
OK = [f"1380000{i:04d}" for i in range(12)]
ODD = [f"13900000{s}" for s in (*REFUSED, *ONCE)] + [f"13700000{s}" for s in (*REFUSED, *ONCE)]


class Platform:
    """The scripted server's state: numbers seen, records queries answered."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.records_queries = 0
        self.msgids = itertools.count(100)

    def __call__(self, request: Request) -> Answer:
        form = request.form
        if "/api/query/" in request.path:
            self.records_queries += 1
            if self.records_queries == 1:
                return Answer(503, "<html>busy</html>")
            return Answer(body="")
        mobile = form["mobile"]
        tail = mobile[-3:]
        first = mobile not in self.sent
        self.sent.append(mobile)
        if tail in REFUSED:
            return Answer(int(tail), f"<html>{tail}</html>")
        if tail in ONCE and first:
            return Answer(int(tail), f"<html>{tail}</html>")
        return Answer(body=f"success:{next(self.msgids)}")


def client(url: str, wire: str) -> AsyncClient:
    # The breaker stays closed: these tests are about statuses, not about setting a node aside
    # (three 5xx in a row would, and the engine would then back off until its cool-down).
    return AsyncClient(
        username="mlrt",
        password=PASSWORD,
        apikey=APIKEY,
        nodes=[url],
        wire=wire,
        breaker=BreakerConfig(failure_threshold=1000),
    )


def engine_for(sms: AsyncClient) -> SendEngine:
    config = EngineConfig(packet_size=1, concurrency=4, reconcile_grace=0.001, linger=0.001)
    return SendEngine(sms, config, hooks=[])


@pytest.mark.parametrize("wire", ["fast", "httpx"])
async def test_a_campaign_meeting_every_status_completes(wire: str) -> None:
    platform = Platform()
    numbers = [*OK[:6], *ODD, *OK[6:]]
    outcomes: list[PacketOutcome] = []
    async with scripted(platform) as server, client(server.url, wire) as sms:
        engine = engine_for(sms)
        async with engine.open_campaign(Campaign(numbers=numbers, content="x")) as run:
            assert run.outcomes is not None
            async for outcome in run.outcomes:
                outcomes.append(outcome)
    assert run.result is not None
    by_number = {o.numbers[0]: o for o in outcomes}
    assert len(outcomes) == len(numbers) == len(by_number)
    for number in numbers:
        outcome = by_number[number]
        if number[-3:] in REFUSED:
            assert outcome.kind is OutcomeKind.FAILED
            assert isinstance(outcome.error, AllNodesRefusedError)
            assert outcome.error.verdict is Verdict.POINTLESS
            assert platform.sent.count(number) == 1
        elif number[-3:] in ONCE:
            # Ambiguous, reconciled (not found), resent once: accepted on the second attempt.
            assert (outcome.kind, outcome.attempts) == (OutcomeKind.ACCEPTED, 2)
            assert platform.sent.count(number) == 2
        else:
            assert (outcome.kind, outcome.attempts) == (OutcomeKind.ACCEPTED, 1)
    assert (run.result.accepted, run.result.failed, run.result.ambiguous) == (
        len(numbers) - 4,
        4,
        0,
    )
    assert run.result.stopped_by is None


@pytest.mark.parametrize("wire", ["fast", "httpx"])
async def test_a_submit_loop_keeps_working_through_every_status(wire: str) -> None:
    platform = Platform()
    async with (
        scripted(platform) as server,
        client(server.url, wire) as sms,
        engine_for(sms) as engine,
    ):
        for round_ in range(2):
            numbers = [*OK[:4], *ODD] if round_ == 0 else [*OK[4:8], *ODD]
            results = await asyncio.gather(
                *(engine.submit(n, f"code {round_}") for n in numbers), return_exceptions=True
            )
            for number, result in zip(numbers, results, strict=True):
                if number[-3:] in REFUSED:
                    assert isinstance(result, AllNodesRefusedError), result
                else:
                    # Never CancelledError nor a foreign exception: a receipt.
                    assert isinstance(result, SendReceipt), result
                    assert result.accepted == (number,)
            assert all(isinstance(r, SendReceipt | M5CError) for r in results)
        # The engine is alive: one more plain send.
        receipt = await engine.submit(OK[11], "after")
        assert receipt.msgid.isdigit()
