"""``FastWire``: HTTP/1.1 keep-alive exchanges over asyncio streams, the default transport.

httpx costs 2–3 ms of CPU a request on this kind of machine (docs/benchmarks.md), which caps a
process at a few hundred sends a second; the platform's documented load is 2,778 requests a
second. The replies of this API are small text bodies.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode, urlsplit

from ...protocol import RequestSpec
from .._models import Timeouts
from ._base import MaybeSent, NeverSent, Reply, ReplyTooLarge
from ._base import describe as _describe

__all__ = ["FastWire"]

_HEAD_LIMIT: Final = 64 * 1024


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        # A connection idle past the expiry may be closed by the server at any moment; reusing
        # it would turn a send into an ambiguous one, so it is dropped instead.
        return (
            now - self.idle_since < expiry
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


class _Pool:
    """Keep-alive connections to one origin, at most ``limit`` open at once."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, limit: int) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.idle: deque[_Connection] = deque()
        self.slots = asyncio.Semaphore(limit)

    async def connect(self, seconds: float) -> _Connection:
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls else None,
                    limit=_HEAD_LIMIT,
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise NeverSent(_describe(exc) or "connect failed") from exc
        return _Connection(reader, writer)

    def close(self) -> None:
        while self.idle:
            self.idle.popleft().close()


class FastWire:
    """HTTP/1.1 keep-alive exchanges over asyncio streams.

    Example:
        >>> wire = FastWire(timeouts=Timeouts(), max_connections=100, max_reply_bytes=1 << 20)
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts,
        max_connections: int,
        max_reply_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "m5c_async",
        keepalive_expiry: float = 4.0,
    ) -> None:
        self.timeouts = timeouts
        self.max_connections = max_connections
        self.max_reply_bytes = max_reply_bytes
        self.ssl_context = ssl_context
        self.user_agent = user_agent
        self.keepalive_expiry = keepalive_expiry
        self._pools: dict[str, _Pool] = {}

    def _pool(self, base_url: str) -> _Pool:
        pool = self._pools.get(base_url)
        if pool is None:
            parts = urlsplit(base_url)
            tls = parts.scheme == "https"
            context = (self.ssl_context or ssl.create_default_context()) if tls else None
            port = parts.port or (443 if tls else 80)
            pool = _Pool(parts.hostname or "", port, context, self.max_connections)
            self._pools[base_url] = pool
        return pool

    async def exchange(self, base_url: str, spec: RequestSpec) -> Reply:
        """See ``Wire``."""
        pool = self._pool(base_url)
        if pool.slots.locked():
            try:
                async with asyncio.timeout(self.timeouts.pool):
                    await pool.slots.acquire()
            except TimeoutError as exc:
                raise NeverSent("PoolTimeout: no free connection") from exc
        else:
            await pool.slots.acquire()
        try:
            connection = None
            now = asyncio.get_running_loop().time()
            while pool.idle:
                candidate = pool.idle.pop()
                if candidate.usable(now, self.keepalive_expiry):
                    connection = candidate
                    break
                candidate.close()
            if connection is None:
                connection = await pool.connect(self.timeouts.connect)
            reply, keep = await self._exchange(connection, pool, spec)
            if keep:
                connection.idle_since = asyncio.get_running_loop().time()
                pool.idle.append(connection)
            else:
                connection.close()
            return reply
        finally:
            pool.slots.release()

    def _head(self, pool: _Pool, spec: RequestSpec) -> bytes:
        target = spec.path
        if spec.query:
            target += "?" + urlencode(spec.query)
        host = pool.host if pool.port in (80, 443) else f"{pool.host}:{pool.port}"
        lines = [
            f"{spec.method} {target} HTTP/1.1",
            f"Host: {host}",
            f"User-Agent: {self.user_agent}",
        ]
        lines.extend(f"{k}: {v}" for k, v in spec.headers)
        if spec.body is not None:
            if spec.content_type:
                lines.append(f"Content-Type: {spec.content_type}")
            lines.append(f"Content-Length: {len(spec.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _exchange(
        self, connection: _Connection, pool: _Pool, spec: RequestSpec
    ) -> tuple[Reply, bool]:
        writer, reader = connection.writer, connection.reader
        try:
            body = spec.body or b""
            writer.write(self._head(pool, spec) + body)
            # One deadline for the whole exchange (a timer per phase costs more than it tells);
            # a large body adds the write allowance.
            allowed = self.timeouts.read + (self.timeouts.write if len(body) > 65536 else 0.0)
            async with asyncio.timeout(allowed):
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status, headers = _parse_head(head)
                body = await self._body(reader, headers)
        except ReplyTooLarge:
            connection.close()
            raise
        except TimeoutError as exc:
            connection.close()
            raise MaybeSent("ReadTimeout: no complete reply in time") from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise MaybeSent(f"RemoteProtocolError: {_describe(exc)}") from exc
        except BaseException:
            # Cancelled mid-exchange: the connection is in an unknown state.
            connection.close()
            raise
        keep = headers.get("connection", "").lower() != "close"
        return Reply(status, body), keep

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            size = 0
            while True:
                line = await reader.readuntil(b"\r\n")
                length = int(line.split(b";")[0].strip(), 16)
                if length == 0:
                    await reader.readuntil(b"\r\n")
                    return b"".join(chunks)
                size += length
                if size > self.max_reply_bytes:
                    raise ReplyTooLarge(f"reply exceeds {self.max_reply_bytes} bytes")
                chunks.append(await reader.readexactly(length))
                await reader.readexactly(2)
        declared = headers.get("content-length")
        if declared is None:
            data = await reader.read(self.max_reply_bytes + 1)
            if len(data) > self.max_reply_bytes:
                raise ReplyTooLarge(f"reply exceeds {self.max_reply_bytes} bytes")
            return data
        length = int(declared)
        if length > self.max_reply_bytes:
            raise ReplyTooLarge(f"reply of {length} bytes exceeds {self.max_reply_bytes}")
        return await reader.readexactly(length)

    async def aclose(self) -> None:
        """Close every idle connection."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


_WANTED: Final = ("content-length", "transfer-encoding", "connection")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and the three headers framing needs; the rest are not read."""
    text = head.decode("latin-1")
    end = text.find("\r\n")
    status_line = text[:end] if end >= 0 else text
    if not status_line.startswith("HTTP/1.") or status_line[9:12].isdigit() is False:
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    lower = text.lower()
    for name in _WANTED:
        at = lower.find("\r\n" + name + ":")
        if at >= 0:
            start = at + len(name) + 3
            stop = text.find("\r\n", start)
            headers[name] = text[start:stop].strip()
    return int(status_line[9:12]), headers
