"""A peer that ends every connection right after its reply, without ``Connection: close`` (as
tinyproxy does): once the client has seen it, it stops reusing that peer's connections, so a late
FIN can never meet the next request on the wire and make a send ambiguous."""

from __future__ import annotations

from m5c_async import AsyncClient
from tests.conftest import APIKEY, PASSWORD
from tests.peers import tinyproxy
from tests.scripted import Answer, Request, scripted


def ok(request: Request) -> Answer:
    return Answer(body="success:1234")


async def test_a_peer_that_closes_after_each_reply_gets_fresh_connections() -> None:
    """The scripted server closes each connection after its (keep-alive framed) reply."""
    connections: list[object] = []

    async def closing(request: Request) -> Answer:
        return Answer(body="success:1234", close_after=True)

    async with (
        scripted(closing, on_connect=connections.append) as server,
        AsyncClient(username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=[server.url]) as sms,
    ):
        for i in range(20):
            receipt = await sms.send([f"1380000{i:04d}"], "x")
            assert receipt.msgid == "1234"
    assert len(server.requests) == 20
    assert len(connections) == 20


async def test_many_sends_through_tinyproxy_none_ambiguous(tmp_path: object) -> None:
    """tinyproxy answers HTTP/1.1 keep-alive replies and then closes: 200 sends from 20 tasks
    through it, every one accepted (none ambiguous). Without the rule, each of three runs here
    had an ambiguous send. (The httpx wire has the same race inside httpcore's pool: not
    covered.)"""
    import asyncio
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with tinyproxy(tmp_path) as proxy:
        async with (
            scripted(ok) as server,
            AsyncClient(
                username="mlrt",
                password=PASSWORD,
                apikey=APIKEY,
                nodes=[server.url],
                proxy=proxy.url,
            ) as sms,
        ):
            numbers = iter(f"1380000{i:04d}" for i in range(200))

            async def sender() -> None:
                for number in numbers:
                    assert (await sms.send([number], "x")).msgid == "1234"

            await asyncio.gather(*(sender() for _ in range(20)))
    assert len(server.requests) == 200
