"""Wire conformance, connections: stale keep-alive, IPv6, base paths, control characters,
cancellation and ``aclose()`` mid-flight.

Every case runs against the default wire (FastWire) and the httpx wire with the same expected
outcome. The table of cases is in docs/client.md.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from m5c_async import ControlCharacterError, Timeouts
from m5c_async.client import MaybeSent, NeverSent
from tests.client.scripted import (
    DEADLINE,
    SPEC,
    MakeWire,
    Peer,
    Script,
    scripted,
    serve_each,
    until,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("dispatched", [True, False], ids=["dispatched", "just-arrived"])
async def test_fin_received_while_idle_means_a_fresh_connection(
    make_wire: MakeWire, dispatched: bool
) -> None:
    """The server closed the idle keep-alive connection (its FIN has arrived): the next request
    goes on a new connection and succeeds; it never becomes "maybe sent". ``just-arrived``: the
    FIN is sent (shutdown) right before the request, with no turn of the event loop between, so
    only a check of the socket itself can see it."""
    async with scripted(serve_each(OK, OK)) as server:
        wire = make_wire()
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
        first = server.peers[0]
        if dispatched:
            first.writer.close()
            await until(lambda: first.writer.get_extra_info("socket").fileno() == -1, "FIN")
        else:
            first.writer.get_extra_info("socket").shutdown(socket.SHUT_WR)
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
    assert len(server.peers) == 2
    assert [len(p.requests) for p in server.peers] == [1, 1]


@pytest.mark.parametrize("dispatched", [True, False], ids=["dispatched", "just-arrived"])
async def test_408_then_close_while_idle_means_a_fresh_connection(
    make_wire: MakeWire, dispatched: bool
) -> None:
    """A server that times out an idle connection with an unsolicited ``408`` and closes it:
    the next request goes on a new connection and gets the real reply."""
    async with scripted(serve_each(OK, OK)) as server:
        wire = make_wire()
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
        first = server.peers[0]
        # Written at once (the transport's buffer is empty); an idle client is not reading.
        first.writer.write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n")
        if dispatched:
            first.writer.close()
            await until(lambda: first.writer.get_extra_info("socket").fileno() == -1, "FIN")
        else:
            first.writer.get_extra_info("socket").shutdown(socket.SHUT_WR)
        reply = await wire.exchange(server.url, SPEC)
        assert (reply.status, reply.body) == (200, b"ok")
    assert len(server.peers) == 2
    assert [len(p.requests) for p in server.peers] == [1, 1]


def _ipv6_loopback() -> None:
    """Fail (never skip) when this machine cannot serve on ``::1``."""
    assert socket.has_ipv6, "Python was built without IPv6: the IPv6 case cannot run"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:  # pragma: no cover - depends on the machine
        raise AssertionError(f"no IPv6 loopback on this machine: {exc}") from exc


async def test_ipv6_literal_host(make_wire: MakeWire) -> None:
    """``http://[::1]:port``: connects over IPv6 and sends ``Host: [::1]:port``."""
    _ipv6_loopback()
    async with scripted(serve_each(OK), host="::1") as server:
        assert server.url.startswith("http://[::1]:")
        assert (await make_wire().exchange(server.url, SPEC)).body == b"ok"
    assert f"\r\nHost: [::1]:{server.port}\r\n".encode() in server.requests[0]
    assert server.peers[0].writer.get_extra_info("peername")[0] == "::1"


async def test_base_url_path_is_kept(make_wire: MakeWire) -> None:
    """A gateway base URL with a path (``.../sms``) prefixes the request path."""
    async with scripted(serve_each(OK)) as server:
        spec = replace(SPEC, query=(("a", "1"),))
        assert (await make_wire().exchange(server.url + "/sms", spec)).body == b"ok"
    assert server.requests[0].startswith(b"POST /sms/api/query/index.php?a=1 HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("where", "spec", "base"),
    [
        ("header value", replace(SPEC, headers=(("X-Tag", "a\r\nX-Injected: 1"),)), ""),
        ("header value LF", replace(SPEC, headers=(("X-Tag", "a\nX-Injected: 1"),)), ""),
        ("header value NUL", replace(SPEC, headers=(("X-Tag", "a\x00b"),)), ""),
        ("header name", replace(SPEC, headers=(("X-Tag\r\nX-Injected", "1"),)), ""),
        ("content type", replace(SPEC, content_type="text/plain\r\nX-Injected: 1"), ""),
        ("path", replace(SPEC, path="/api\r\nX-Injected: 1\r\n\r\nGET /x"), ""),
        ("path space", replace(SPEC, path="/api HTTP/1.1\r\n"), ""),
        ("base URL", SPEC, "/gw\r\nX-Injected: 1"),
    ],
)
async def test_control_characters_are_refused_before_anything_is_sent(
    make_wire: MakeWire, where: str, spec: object, base: str
) -> None:
    """CR, LF or NUL in a header, the path or the base URL: ``ControlCharacterError`` (an
    ``InvalidParameterError``), and the server never saw a connection."""
    async with scripted(serve_each(OK)) as server:
        wire = make_wire()
        with pytest.raises(ControlCharacterError) as caught:
            await wire.exchange(server.url + base, spec)  # type: ignore[arg-type]
        assert "Injected" not in str(caught.value)
        # The same wire still works, and what it sent first is the clean request.
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
    assert len(server.requests) == 1
    assert b"Injected" not in server.requests[0]


def hold_first(received: asyncio.Event) -> Script:
    """First connection: read the request, never answer, wait for the client to close it.
    Later connections: answer ``OK``."""
    count = 0

    async def script(peer: Peer) -> None:
        nonlocal count
        count += 1
        if count > 1:
            await serve_each(OK)(peer)
            return
        if await peer.request() is not None:
            received.set()
        await peer.until_client_closes()

    return script


async def test_cancellation_mid_flight_closes_the_connection(make_wire: MakeWire) -> None:
    """Cancelling an exchange whose request the server holds: the task ends cancelled, the
    server sees the connection closed, and the wire carries the next request on a new one."""
    received = asyncio.Event()
    async with scripted(hold_first(received)) as server:
        wire = make_wire(timeouts=Timeouts(read=60))
        task = asyncio.create_task(wire.exchange(server.url, SPEC))
        await asyncio.wait_for(received.wait(), DEADLINE)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.peers[0].closed_by_client.wait(), DEADLINE)
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
    assert len(server.peers) == 2


async def test_aclose_mid_flight_fails_the_exchange_and_closes(make_wire: MakeWire) -> None:
    """``aclose()`` while the server holds a request: the exchange fails with ``MaybeSent``
    (no hang, no leak), the server sees the connection closed, later exchanges ``NeverSent``."""
    received = asyncio.Event()
    async with scripted(hold_first(received)) as server:
        wire = make_wire(timeouts=Timeouts(read=60))
        task = asyncio.create_task(wire.exchange(server.url, SPEC))
        await asyncio.wait_for(received.wait(), DEADLINE)
        await wire.aclose()
        with pytest.raises(MaybeSent):
            await asyncio.wait_for(task, DEADLINE)
        await asyncio.wait_for(server.peers[0].closed_by_client.wait(), DEADLINE)
        with pytest.raises(NeverSent):
            await wire.exchange(server.url, SPEC)
    assert len(server.peers) == 1


async def test_large_request_body_arrives_whole(make_wire: MakeWire) -> None:
    """A 2 MiB body (a large batch) is written whole, past the transport's write buffer."""
    body = bytes(range(256)) * 8192

    async def script(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        got = request.split(b"\r\n\r\n", 1)[1]
        answer = b"%d:%d" % (len(got), got == body)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer)
        await peer.write(head + answer)
        await peer.until_client_closes()

    async with scripted(script) as server:
        reply = await make_wire().exchange(server.url, replace(SPEC, body=body))
    assert reply.body == b"%d:1" % len(body)
