"""Any exception in one packet is that packet's outcome: the campaign goes on, submit() callers
get a library error (never CancelledError), the engine stays alive.

Two sources of failure we did not write: a loopback HTTP server scripted to answer 403, 404 and
502 for given numbers, and an httpx transport that raises an arbitrary exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest

from m5c_async import AsyncClient, M5CError, UnexpectedError, Verdict
from m5c_async.engine import Campaign, EngineConfig, OutcomeKind, PacketOutcome, SendEngine
from tests.conftest import APIKEY, PASSWORD

OK = [f"1380000000{i}" for i in range(8)]
KIND_FOR = {Verdict.POINTLESS: OutcomeKind.FAILED, Verdict.UNSAFE: OutcomeKind.AMBIGUOUS}


@contextlib.asynccontextmanager
async def scripted_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A keep-alive HTTP/1.1 server: a send to a number ending in 403/404 gets that status, one
    ending in 502 gets 502 the first time only; records are empty; the rest ``success:<n>``."""
    seen: list[str] = []
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = next(
                    (
                        int(v)
                        for k, _, v in (ln.partition(":") for ln in lines)
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                form = parse_qs((await reader.readexactly(length)).decode("utf-8"))
                status, body = 200, ""
                if "/api/send/" in path:
                    mobile = form["mobile"][0]
                    tail = mobile[-3:]
                    if tail in ("403", "404") or (tail == "502" and mobile not in seen):
                        status, body = int(tail), "<html>refused</html>"
                    else:
                        count += 1
                        body = f"success:{count}"
                    seen.append(mobile)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", seen
        server.close()


def engine_for(client: AsyncClient, **config: object) -> SendEngine:
    return SendEngine(
        client,
        EngineConfig(packet_size=1, concurrency=4, reconcile_grace=0.01, **config),  # type: ignore[arg-type]
        hooks=[],
    )


async def collect(engine: SendEngine, campaign: Campaign) -> list[PacketOutcome]:
    outcomes: list[PacketOutcome] = []
    async with engine.open_campaign(campaign) as run:
        assert run.outcomes is not None
        async for outcome in run.outcomes:
            outcomes.append(outcome)
    assert run.result is not None
    return outcomes


async def test_http_403_404_502_are_each_one_packets_outcome() -> None:
    """403 and 404 fail their packet alone (as their verdict says); a 502 is reconciled and
    resent once; every other packet is accepted and the campaign ends normally."""
    async with (
        scripted_server() as (url, seen),
        AsyncClient(username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=[url]) as client,
    ):
        engine = engine_for(client)
        numbers = [*OK[:4], "13800000403", "13800000404", "13800000502", *OK[4:]]
        outcomes = await collect(engine, Campaign(numbers=numbers, content="x"))
    by_number = {o.numbers[0]: o for o in outcomes}
    assert set(by_number) == set(numbers)
    for number in OK:
        assert by_number[number].kind is OutcomeKind.ACCEPTED
    for number in ("13800000403", "13800000404"):
        outcome = by_number[number]
        assert isinstance(outcome.error, M5CError)
        assert outcome.kind is KIND_FOR[outcome.error.verdict]
        assert outcome.attempts == 1
    resent = by_number["13800000502"]
    assert (resent.kind, resent.attempts) == (OutcomeKind.ACCEPTED, 2)
    assert seen.count("13800000502") == 2


def raising_transport(bad: str) -> httpx.MockTransport:
    """Answers success, but raises an exception no library maps for the number ``bad``."""

    def handle(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        if form.get("mobile") == [bad]:
            raise LookupError("something nobody expected")
        return httpx.Response(200, text="success:42")

    return httpx.MockTransport(handle)


async def test_an_arbitrary_exception_is_an_ambiguous_outcome_not_a_crash() -> None:
    """The transport raises LookupError for one number: that packet alone is AMBIGUOUS (it may
    have left) with a named UnexpectedError; the others are accepted."""
    bad = "13900000666"
    async with AsyncClient(
        username="mlrt",
        password=PASSWORD,
        apikey=APIKEY,
        nodes=["http://n"],
        transport=raising_transport(bad),
    ) as client:
        outcomes = await collect(engine_for(client), Campaign(numbers=[*OK, bad], content="x"))
    by_number = {o.numbers[0]: o for o in outcomes}
    assert {n for n, o in by_number.items() if o.kind is OutcomeKind.ACCEPTED} == set(OK)
    failed = by_number[bad]
    assert failed.kind is OutcomeKind.AMBIGUOUS
    assert isinstance(failed.error, UnexpectedError)
    assert failed.error.verdict is Verdict.UNSAFE
    assert isinstance(failed.error.__cause__, LookupError)


async def test_submit_gets_a_library_error_and_the_engine_lives_on() -> None:
    """A web app's submit() that meets an arbitrary exception gets an M5CError, never
    CancelledError, and the next submit() is sent."""
    bad = "13900000666"
    async with (
        AsyncClient(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            nodes=["http://n"],
            transport=raising_transport(bad),
        ) as client,
        engine_for(client, linger=0.001) as engine,
    ):
        with pytest.raises(UnexpectedError):
            await engine.submit(bad, "x")
        receipt = await engine.submit(OK[0], "x")
        assert receipt.msgid == "42"
        with pytest.raises(UnexpectedError):
            await engine.submit(bad, "y")
        assert (await engine.submit(OK[1], "y")).accepted == (OK[1],)


async def test_a_failing_before_send_fails_its_packet_only() -> None:
    """The journal's in-flight mark raising (a full disk): that packet FAILED, never sent."""
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.extend(parse_qs(request.content.decode())["mobile"])
        return httpx.Response(200, text="success:1")

    async def before_send(packet: object) -> None:
        if getattr(packet, "numbers", ()) == (OK[2],):
            raise OSError("disk full")

    from m5c_async.engine import Packet

    async def packets() -> AsyncIterator[Packet]:
        for i, number in enumerate(OK):
            yield Packet(i + 1, (number,), ("x",))

    async with AsyncClient(
        username="mlrt",
        password=PASSWORD,
        apikey=APIKEY,
        nodes=["http://n"],
        transport=httpx.MockTransport(handle),
    ) as client:
        result = await engine_for(client).run_packets(packets(), before_send=before_send)
    assert (result.accepted, result.failed, result.ambiguous) == (len(OK) - 1, 1, 0)
    assert OK[2] not in sent
