"""Scripted loopback HTTP servers for the wire conformance suite, and the wire factory.

A ``Scripted`` server accepts connections on a free loopback port and runs one script per
connection: the script reads requests and writes exact bytes, in as many writes as it likes.
``Peer.write`` waits, after each piece, until the client has read it (its socket's receive queue
in ``/proc/net/tcp`` is empty), so a body in three writes reaches the client as three reads,
without a sleep. Every byte the server received is kept, to assert what reached it (or that
nothing did).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from m5c_async import Timeouts
from m5c_async.client import FastWire, HttpxWire, Wire
from m5c_async.protocol import EndpointName, RequestSpec

SPEC = RequestSpec(
    endpoint=EndpointName.BALANCE,
    method="POST",
    path="/api/query/index.php",
    body=b"a=1",
    content_type="application/x-www-form-urlencoded",
)
WIRES = ("fast", "httpx")
DEADLINE = 10.0


def _queues(local_port: int, remote_port: int) -> tuple[int, int] | None:
    """(send, receive) queue of the TCP socket ``local_port -> remote_port``, or None if gone."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as table:
            next(table)
            for line in table:
                fields = line.split()
                local = int(fields[1].rsplit(":", 1)[1], 16)
                remote = int(fields[2].rsplit(":", 1)[1], 16)
                if local == local_port and remote == remote_port and fields[3] == "01":
                    tx, rx = fields[4].split(":")
                    return int(tx, 16), int(rx, 16)
    return None


async def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Wait for ``condition`` (polled), failing the test after ``deadline`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class Peer:
    """One accepted connection, as the server sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.requests: list[bytes] = []
        self.closed_by_client = asyncio.Event()
        #: Set once the server closed its side and the socket is gone (the FIN has left).
        self.finished = asyncio.Event()
        here = writer.get_extra_info("sockname")
        there = writer.get_extra_info("peername")
        self.server_port, self.client_port = int(here[1]), int(there[1])

    async def request(self) -> bytes | None:
        """One whole request (head and Content-Length body), or None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        request = head + await self.reader.readexactly(length)
        self.requests.append(request)
        return request

    async def write(self, *pieces: bytes, read: bool = True) -> None:
        """Write each piece as its own TCP write, the next only once the client has read it
        (``read=False``: do not wait, for bytes an idle client is not reading).

        A client that closes meanwhile ends the writing (``closed_by_client`` is set).
        """
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in pieces:
            try:
                self.writer.write(piece)
                await self.writer.drain()
            except ConnectionError:
                self.closed_by_client.set()
                return
            if read:
                await until(self._client_has_read, "the client to read a piece")

    def _client_has_read(self) -> bool:
        mine = _queues(self.server_port, self.client_port)
        theirs = _queues(self.client_port, self.server_port)
        return (mine is None or mine[0] == 0) and (theirs is None or theirs[1] == 0)

    async def until_client_closes(self) -> None:
        """Read (and keep) whatever comes until the client closes, within the deadline."""
        try:
            async with asyncio.timeout(DEADLINE):
                while await self.reader.read(65536):
                    pass
        except ConnectionError:
            pass
        self.closed_by_client.set()

    async def close(self) -> None:
        """Close our side (a FIN to the client) and wait until it is done. Over TLS, abort: an
        idle httpx client does not read, so a graceful TLS shutdown would wait 30 s for it."""
        if self.writer.get_extra_info("sslcontext") is not None:
            self.writer.transport.abort()
        self.writer.close()
        with suppress(ConnectionError):
            await self.writer.wait_closed()


Script = Callable[[Peer], Awaitable[None]]


class Scripted:
    """A loopback server running ``script`` on each connection, then closing it."""

    def __init__(
        self, script: Script, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.script = script
        self.host = host
        self.ssl_context = ssl_context
        self.peers: list[Peer] = []
        self.url = ""
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(reader, writer)
        self.peers.append(peer)
        try:
            await self.script(peer)
        except asyncio.CancelledError:
            pass  # stopped by ``stop``: end quietly (the stream callback logs a cancelled task)
        finally:
            await peer.close()
            peer.finished.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0, ssl=self.ssl_context)
        self.port = int(self._server.sockets[0].getsockname()[1])
        bracketed = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://{bracketed}:{self.port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def requests(self) -> list[bytes]:
        """Every request received, in order of connection."""
        return [r for p in self.peers for r in p.requests]


@asynccontextmanager
async def scripted(
    script: Script, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Scripted]:
    """Run a ``Scripted`` server (over TLS with ``ssl_context``) for the duration of the block."""
    server = Scripted(script, host, ssl_context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def serve_each(*replies: bytes | tuple[bytes, ...], close: bool = False) -> Script:
    """A script answering successive requests on a connection with ``replies`` (a tuple is one
    reply in several writes), then closing (``close``) or waiting for the client to close."""

    async def script(peer: Peer) -> None:
        for reply in replies:
            if await peer.request() is None:
                return
            await peer.write(*(reply if isinstance(reply, tuple) else (reply,)))
        if not close:
            await peer.until_client_closes()

    return script


MakeWire = Callable[..., Wire]


def build_wire(kind: str, **options: Any) -> Wire:
    """A wire of ``kind`` ("fast" or "httpx") with the suite's defaults and ``options``."""
    settings: dict[str, Any] = {
        "timeouts": Timeouts(connect=5, read=DEADLINE, write=5, pool=5),
        "max_connections": 4,
        "max_reply_bytes": 1000,
    }
    settings.update(options)
    if kind == "fast":
        return FastWire(**settings)
    return HttpxWire.create(**settings)
