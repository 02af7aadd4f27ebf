"""FastWire against a raw asyncio server: framing, keep-alive, limits and failure classes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from m5c_async import Timeouts
from m5c_async.client import FastWire, MalformedReply, MaybeSent, NeverSent, ReplyTooLarge
from m5c_async.protocol import EndpointName, RequestSpec
from m5c_async.simulator import free_port

SPEC = RequestSpec(
    endpoint=EndpointName.BALANCE,
    method="POST",
    path="/api/query/index.php",
    body=b"a=1",
    content_type="application/x-www-form-urlencoded",
)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    port = free_port()
    tasks: set[asyncio.Task[None]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    srv = await asyncio.start_server(tracked, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await srv.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def wire(**kw: object) -> FastWire:
    options: dict[str, object] = {
        "timeouts": Timeouts(read=0.5),
        "max_connections": 4,
        "max_reply_bytes": 1000,
    }
    options.update(kw)
    return FastWire(**options)  # type: ignore[arg-type]


async def test_keep_alive_reuses_one_connection() -> None:
    """Three exchanges, one TCP connection; the request carries host and length."""
    connections = 0
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n1/100")
            await writer.drain()
        writer.close()

    async with server(handler) as url:
        w = wire()
        for _ in range(3):
            reply = await w.exchange(url, SPEC)
            assert (reply.status, reply.body) == (200, b"1/100")
        await w.aclose()
    assert connections == 1
    assert b"Content-Length: 3\r\n" in seen[0]
    assert seen[0].endswith(b"\r\n\r\na=1")


async def test_chunked_and_close_delimited_replies() -> None:
    """Chunked bodies are joined; Connection: close is honoured; no length reads to EOF."""
    replies = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"4\r\nsucc\r\n6\r\ness:12\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\n\r\nuntil-eof",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(replies.pop(0))
        await writer.drain()
        writer.close()

    async with server(handler) as url:
        w = wire()
        assert (await w.exchange(url, SPEC)).body == b"success:12"
        assert (await w.exchange(url, SPEC)).body == b"ok"
        assert (await w.exchange(url, SPEC)).body == b"until-eof"
        await w.aclose()


async def test_failure_classes() -> None:
    """Refused: NeverSent. Silence, half a reply, garbage, a huge reply: MaybeSent."""
    port = free_port()
    with pytest.raises(NeverSent):
        await wire().exchange(f"http://127.0.0.1:{port}", SPEC)

    behaviours = [
        b"",  # read the request, then say nothing until the timeout
        b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\nsucc",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        answer = behaviours.pop(0)
        if not answer:
            await reader.read()  # silent until the client gives up and closes
        writer.write(answer)
        await writer.drain()
        writer.close()

    async with server(handler) as url:
        # The wires are not closed: each failure closed its own connection.
        with pytest.raises(MaybeSent, match="ReadTimeout"):
            await wire().exchange(url, SPEC)
        with pytest.raises(MaybeSent, match="RemoteProtocolError"):
            await wire().exchange(url, SPEC)
        with pytest.raises(MalformedReply, match="Expected HTTP/"):
            await wire().exchange(url, SPEC)
        with pytest.raises(ReplyTooLarge):
            await wire().exchange(url, SPEC)


async def test_pool_timeout_is_never_sent() -> None:
    """All connections busy past the pool timeout: NeverSent."""
    release = asyncio.Event()
    holding = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        holding.set()
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async with server(handler) as url:
        w = wire(max_connections=1, timeouts=Timeouts(read=5, pool=0.1))
        first = asyncio.create_task(w.exchange(url, SPEC))
        await asyncio.wait_for(holding.wait(), 10)  # the only connection is busy
        with pytest.raises(NeverSent, match="PoolTimeout"):
            await w.exchange(url, SPEC)
        release.set()
        assert (await first).body == b"ok"
        await w.aclose()


def test_tls_options_that_contradict_are_refused() -> None:
    """``ssl_context`` together with ``verify=False``: refused, for both wires' constructors."""
    import ssl

    from m5c_async import InvalidParameterError
    from m5c_async.client import HttpxWire

    context = ssl.create_default_context()
    with pytest.raises(InvalidParameterError):
        wire(ssl_context=context, verify=False)
    with pytest.raises(InvalidParameterError):
        HttpxWire.create(
            timeouts=Timeouts(),
            max_connections=1,
            max_reply_bytes=10,
            ssl_context=context,
            verify=False,
        )
    unverified = wire(verify=False).ssl_context
    assert (unverified.check_hostname, unverified.verify_mode) == (False, ssl.CERT_NONE)


def test_repr_shows_the_proxy_without_its_credentials() -> None:
    """The proxy's password never appears in the wire's repr."""
    text = repr(wire(proxy="http://alice:hunter2@proxy.internal:3128"))
    assert "proxy.internal:3128" in text
    assert "hunter2" not in text and "alice" not in text


async def test_aclose_while_connecting_is_never_sent() -> None:
    """``aclose()`` while a TLS handshake hangs (the server accepted TCP and says nothing):
    the exchange fails at once with ``NeverSent`` (nothing was written), not after the 60 s
    connect timeout, and the server sees the connection closed."""
    accepted = asyncio.Event()
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        while await reader.read(65536):
            pass  # the ClientHello, never answered
        closed.set()

    async with server(handler) as url:
        w = wire(timeouts=Timeouts(connect=60), verify=False)
        task = asyncio.create_task(w.exchange(url.replace("http://", "https://"), SPEC))
        await asyncio.wait_for(accepted.wait(), 10)
        await w.aclose()
        with pytest.raises(NeverSent, match="closed while connecting"):
            await asyncio.wait_for(task, 10)
        await asyncio.wait_for(closed.wait(), 10)


async def test_a_base_url_that_is_not_ascii_is_refused() -> None:
    """A non-ASCII base URL cannot go on the wire as is: a named error, nothing sent."""
    from m5c_async import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="ASCII"):
        await wire().exchange("http://短信.example/网关", SPEC)
