"""A scripted HTTP/1.1 server on loopback: a function decides each answer, and the answer says
how it goes on the wire (status, framing, interim replies, several writes).

It is written against the bytes, not with an HTTP library, so it can answer in the legal but
less common ways a real gateway does (close-delimited bodies in pieces, ``100 Continue`` first,
a status the API never uses) and the client is tested against what we did not write.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Answer", "Request", "Scripted", "scripted"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server read it."""

    method: str
    target: str
    head: bytes
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def form(self) -> dict[str, str]:
        """The parameters, from the query string and a form body."""
        query = urlsplit(self.target).query
        params = dict(parse_qsl(query, keep_blank_values=True))
        if self.body and not self.body.lstrip().startswith((b"{", b"<")):
            params.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    @property
    def raw(self) -> str:
        """The whole request as text (what an echoing error page quotes)."""
        return (self.head + self.body).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Answer:
    """How to answer: ``close`` sends no Content-Length and closes after the body, ``writes``
    splits the body into that many writes, ``interim`` goes first (``100 Continue``)."""

    status: int = 200
    body: bytes | str = b""
    close: bool = False
    writes: int = 1
    interim: bytes = b""
    gap: float = 0.02
    #: Close the connection after a keep-alive framed reply, without saying so (as tinyproxy).
    close_after: bool = False

    def data(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


Handler = Callable[[Request], Answer | Awaitable[Answer]]


@dataclass(slots=True)
class Scripted:
    """A running scripted server: its base URL and the requests it read."""

    url: str
    requests: list[Request] = field(default_factory=list)

    def to(self, path_part: str) -> list[Request]:
        """The requests whose path contains ``path_part``."""
        return [r for r in self.requests if path_part in r.path]


async def _read(reader: asyncio.StreamReader) -> Request:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return Request(method, target, head, body)


async def _write(writer: asyncio.StreamWriter, answer: Answer) -> None:
    if answer.interim:
        writer.write(answer.interim)
        await writer.drain()
    body = answer.data()
    head = f"HTTP/1.1 {answer.status} Scripted\r\nContent-Type: text/plain; charset=utf-8\r\n"
    head += "Connection: close\r\n" if answer.close else f"Content-Length: {len(body)}\r\n"
    writer.write((head + "\r\n").encode("latin-1"))
    if answer.writes <= 1 or len(body) < 2:
        writer.write(body)
        await writer.drain()
        return
    step = max(1, -(-len(body) // answer.writes))
    for at in range(0, len(body), step):
        writer.write(body[at : at + step])
        await writer.drain()
        if at + step < len(body):
            # Shapes the reply into separate TCP segments; nothing waits on it.
            await asyncio.sleep(answer.gap)


@contextlib.asynccontextmanager
async def scripted(
    handler: Handler,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
    on_connect: Callable[[asyncio.StreamWriter], object] | None = None,
) -> AsyncIterator[Scripted]:
    """Serve ``handler`` on a free port of ``host`` (over TLS with ``tls``) until the block
    ends; ``on_connect`` is called with each new connection."""
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()
    state = Scripted(url="")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        writers.add(writer)
        if on_connect is not None:
            on_connect(writer)
        try:
            while True:
                request = await _read(reader)
                state.requests.append(request)
                answer = handler(request)
                if inspect.isawaitable(answer):
                    answer = await answer
                await _write(writer, answer)
                if answer.close or answer.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # The server is closing: end quietly (Python 3.11's start_server callback reports a
            # cancelled handler as an error).
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, host, 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    state.url = f"{'https' if tls else 'http'}://{host}:{port}"
    try:
        yield state
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A TLS connection's close waits for the peer's close_notify: drop every connection at
        # once instead, so none outlives the test's event loop.
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()
