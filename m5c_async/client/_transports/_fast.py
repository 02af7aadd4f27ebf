"""``FastWire``: HTTP/1.1 keep-alive exchanges over asyncio, the default transport.

httpx costs 2–3 ms of CPU a request on this kind of machine (docs/benchmarks.md), which caps a
process at a few hundred sends a second; the platform's documented load is 2,778 requests a
second. The replies of this API are small text bodies. Framing is llhttp's (``_framing.py``);
this module owns the pools, connecting (directly, or through an ``http://`` proxy: absolute-form
targets for ``http://``, a ``CONNECT`` tunnel then TLS for ``https://``), the request head, and
the classification of failures.

Rules:

- One deadline per exchange (read, plus the write allowance for a large body), one connect
  deadline per new connection, one pool deadline when every connection is busy.
- Anything before the request is written raises ``NeverSent``; anything after, ``MaybeSent``.
- A pooled connection is reused only when quiet (``Connection.quiet``); otherwise it is closed
  and a fresh one carries the request, which therefore never becomes ambiguous. A peer found
  to end a connection within a second of a keep-alive reply (tinyproxy does, after every reply,
  without ``Connection: close``) gets no reuse from then on: a FIN arriving a little later would
  meet the next request on the wire.
- Cancellation or ``aclose()`` during an exchange aborts its connection (never pooled again);
  the waiting exchange gets ``MaybeSent``; one still connecting, and those waiting for a
  connection, get ``NeverSent``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from typing import Final, cast
from urllib.parse import urlencode, urlsplit

from ..._exceptions import InvalidParameterError
from ...protocol import RequestSpec
from .._models import Timeouts
from ._base import MaybeSent, NeverSent, ProxyRefused, Reply, check_request, check_url
from ._base import describe as _describe
from ._framing import Connection
from ._proxy import ProxyURL, authority, parse_proxy, resolve_proxy

__all__ = ["FastWire", "make_ssl_context"]

_LARGE_BODY: Final = 65536


def make_ssl_context(ssl_context: ssl.SSLContext | None, verify: bool) -> ssl.SSLContext:
    """The TLS context of both wires: ``ssl_context`` as given, else the system's default
    verifying one, else (``verify=False``) one that checks neither certificate nor host name.

    Raises:
        InvalidParameterError: both ``ssl_context`` and ``verify=False`` given (they contradict).
    """
    if ssl_context is not None:
        if not verify:
            raise InvalidParameterError("pass ssl_context or verify=False, not both")
        return ssl_context
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


#: An idle connection ended within this many seconds of its reply was ended by habit, not by an
#: idle timeout (servers' are seconds long; ours, ``keepalive_expiry``, is 4 s).
_CLOSED_AFTER_REPLY: Final = 1.0


class _Pool:
    """Keep-alive connections to one origin (through one proxy or none), ``limit`` at once."""

    def __init__(
        self,
        base_url: str,
        tls: ssl.SSLContext | None,
        proxy: ProxyURL | None,
        limit: int,
        user_agent: str,
    ) -> None:
        check_url(base_url)
        if not base_url.isascii():
            raise InvalidParameterError(
                "a node's base URL must be ASCII: punycode the host, percent-encode the path"
            )
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParameterError("a node's base URL must be http:// or https:// with a host")
        self.host = parts.hostname
        try:
            self.port = parts.port or (443 if tls else 80)
        except ValueError:
            raise InvalidParameterError("a node's base URL has an invalid port") from None
        self.tls = tls
        self.proxy = proxy
        self.prefix = parts.path.rstrip("/")
        default = 443 if tls else 80
        self.authority = authority(self.host, self.port)
        bare = f"[{self.host}]" if ":" in self.host else self.host
        host = self.authority if self.port != default else bare
        # Plain http through a proxy: the target is the absolute URL (RFC 9112 3.2.2).
        if proxy is not None and tls is None:
            self.prefix = f"http://{self.authority}{self.prefix}"
        lines = [f"Host: {host}", f"User-Agent: {user_agent}"]
        if proxy is not None and tls is None and proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        self.fixed = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self.idle: deque[Connection] = deque()
        #: False once this origin (or its proxy) is seen ending connections right after their
        #: reply without saying so: each request then gets a fresh connection.
        self.reuse = True
        self.busy: set[Connection] = set()
        self.connecting: set[asyncio.Task[object]] = set()
        self.slots = asyncio.Semaphore(limit)

    def close(self) -> None:
        while self.idle:
            self.idle.popleft().close()
        for connection in list(self.busy):
            connection.fail(MaybeSent("the wire was closed during the exchange"))
        for task in list(self.connecting):
            task.cancel()


class FastWire:
    """HTTP/1.1 keep-alive exchanges over asyncio, replies framed by llhttp.

    Args:
        timeouts: connect, read (one deadline for the whole exchange), write (added for bodies
            over 64 KiB) and pool (waiting for a free connection) allowances.
        max_connections: connections per origin at once.
        max_reply_bytes: the largest reply body accepted, for every framing.
        ssl_context: the TLS context for ``https://`` nodes (and for the tunnel through a
            proxy); default: the system's, verifying certificates and host names.
        verify: ``False`` turns verification off (only without ``ssl_context``).
        proxy: an ``http://[user:pass@]host:port`` proxy for every node; ``None``: see
            ``trust_env``. Its credentials never appear in a log, repr or error.
        trust_env: with no ``proxy``, read ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` /
            ``NO_PROXY`` (``resolve_proxy``). Off by default here; ``AsyncClient`` turns it on.
        user_agent: the ``User-Agent`` header.
        keepalive_expiry: seconds an idle connection is kept before a request may use it.

    Example:
        >>> wire = FastWire(timeouts=Timeouts(), max_connections=100, max_reply_bytes=1 << 20,
        ...                 proxy="http://proxy.internal:3128")
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts,
        max_connections: int,
        max_reply_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool = True,
        proxy: str | None = None,
        trust_env: bool = False,
        user_agent: str = "m5c_async",
        keepalive_expiry: float = 4.0,
    ) -> None:
        self.timeouts = timeouts
        self.max_connections = max_connections
        self.max_reply_bytes = max_reply_bytes
        self.ssl_context = make_ssl_context(ssl_context, verify)
        self.proxy = proxy
        self.trust_env = trust_env
        if proxy is not None:
            parse_proxy(proxy)
        self.user_agent = user_agent
        self.keepalive_expiry = keepalive_expiry
        self._pools: dict[str, _Pool] = {}
        self._closed = False

    def __repr__(self) -> str:
        proxy = parse_proxy(self.proxy).display if self.proxy else None
        return f"FastWire(max_connections={self.max_connections}, proxy={proxy!r})"

    def _pool(self, base_url: str) -> _Pool:
        pool = self._pools.get(base_url)
        if pool is None:
            tls = self.ssl_context if base_url[:6].lower() == "https:" else None
            chosen = resolve_proxy(base_url, trust_env=self.trust_env, proxy=self.proxy)
            proxy = parse_proxy(chosen) if chosen else None
            pool = _Pool(base_url, tls, proxy, self.max_connections, self.user_agent)
            self._pools[base_url] = pool
        return pool

    async def exchange(self, base_url: str, spec: RequestSpec) -> Reply:
        """See ``Wire``.

        Raises:
            ControlCharacterError: in the base URL, path or headers; nothing was sent.
            NeverSent: nothing left (connect, proxy tunnel, pool timeout, wire closed).
            MaybeSent: the request left (timeout, truncated or malformed reply; subclasses
                ``MalformedReply`` and ``ReplyTooLarge``).
        """
        check_request(spec)
        if self._closed:
            raise NeverSent("the wire is closed")
        pool = self._pool(base_url)
        head = self._head(pool, spec)
        slots = pool.slots
        if slots.locked():
            try:
                async with asyncio.timeout(self.timeouts.pool):
                    await slots.acquire()
            except TimeoutError as exc:
                raise NeverSent("PoolTimeout: no free connection") from exc
        else:
            await slots.acquire()
        try:
            if self._closed:
                raise NeverSent("the wire is closed")
            loop = asyncio.get_running_loop()
            connection = None
            now = loop.time()
            idle = pool.idle
            while idle:
                candidate = idle.pop()
                if candidate.quiet(now, self.keepalive_expiry):
                    connection = candidate
                    break
                if now - candidate.idle_since < _CLOSED_AFTER_REPLY:
                    # A FIN (or bytes) right after a keep-alive reply: this peer ends its
                    # connections by habit (tinyproxy does, after every reply). Were the FIN a
                    # little later, it would meet the next request on the wire and make a send
                    # ambiguous: stop reusing this pool's connections.
                    pool.reuse = False
                candidate.close()
            if connection is None:
                connection = await self._connect_or_close(pool)
            pool.busy.add(connection)
            try:
                reply = await self._exchange(loop, connection, head, spec.body)
            finally:
                pool.busy.discard(connection)
            if connection.keep and pool.reuse and not connection.unsolicited and not self._closed:
                connection.idle_since = loop.time()
                idle.append(connection)
            else:
                connection.close()
            return reply
        finally:
            slots.release()

    def _head(self, pool: _Pool, spec: RequestSpec) -> bytes:
        target = pool.prefix + spec.path
        if spec.query:
            target += "?" + urlencode(spec.query)
        parts = [f"{spec.method} {target} HTTP/1.1\r\n".encode("latin-1"), pool.fixed]
        if spec.headers:
            parts.append("".join(f"{k}: {v}\r\n" for k, v in spec.headers).encode("latin-1"))
        body = spec.body
        if body is not None:
            extra = f"Content-Type: {spec.content_type}\r\n" if spec.content_type else ""
            parts.append(f"{extra}Content-Length: {len(body)}\r\n\r\n".encode("latin-1"))
            parts.append(body)
        else:
            parts.append(b"\r\n")
        return b"".join(parts)

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: Connection,
        data: bytes,
        body: bytes | None,
    ) -> Reply:
        waiter = connection.begin(loop)
        # One deadline for the whole exchange (a timer per phase costs more than it tells);
        # a large body adds the write allowance.
        allowed = self.timeouts.read
        if body is not None and len(body) > _LARGE_BODY:
            allowed += self.timeouts.write
        timer = loop.call_later(
            allowed, connection.fail, MaybeSent("ReadTimeout: no complete reply in time")
        )
        try:
            assert connection.transport is not None
            connection.transport.write(data)
            await connection.drain()
            await waiter
        except BaseException:
            # Failed, timed out, cancelled or closed mid-exchange: the connection's state is
            # unknown, so it is never used again.
            connection.abort()
            raise
        finally:
            timer.cancel()
            connection.waiter = None
        return Reply(connection.status, connection.body())

    async def _connect_or_close(self, pool: _Pool) -> Connection:
        """``_connect``, cut short by ``aclose()`` (then ``NeverSent``: nothing was written)."""
        task = asyncio.current_task()
        assert task is not None
        pool.connecting.add(task)
        try:
            connection = await self._connect(pool)
        except asyncio.CancelledError:
            if self._closed and task.uncancel() == 0:
                raise NeverSent("the wire was closed while connecting") from None
            raise
        finally:
            pool.connecting.discard(task)
        if self._closed:
            connection.abort()
            raise NeverSent("the wire is closed")
        return connection

    async def _connect(self, pool: _Pool) -> Connection:
        target_host, target_port = pool.host, pool.port
        proxy = pool.proxy
        if proxy is not None:
            target_host, target_port = proxy.host, proxy.port
        loop = asyncio.get_running_loop()
        connection = Connection(None, self.max_reply_bytes)
        try:
            async with asyncio.timeout(self.timeouts.connect):
                sock = await _open_socket(loop, target_host, target_port)
                connection.sock = sock
                direct_tls = pool.tls if proxy is None else None
                await loop.create_connection(
                    lambda: connection,
                    sock=sock,
                    ssl=direct_tls,
                    server_hostname=pool.host if direct_tls else None,
                )
                if proxy is not None and pool.tls is not None:
                    await self._tunnel(loop, connection, pool, proxy)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            connection.abort()
            if connection.sock is not None:
                connection.sock.close()
            where = f" (proxy {proxy.display})" if proxy is not None else ""
            raise NeverSent(f"{_describe(exc) or 'connect failed'}{where}") from exc
        except BaseException:
            connection.abort()
            if connection.sock is not None:
                connection.sock.close()
            raise
        return connection

    async def _tunnel(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: Connection,
        pool: _Pool,
        proxy: ProxyURL,
    ) -> None:
        """``CONNECT`` through the proxy, then TLS with the node inside the tunnel."""
        lines = [f"CONNECT {pool.authority} HTTP/1.1", f"Host: {pool.authority}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        waiter = connection.begin(loop)
        connection.stop_at_head = True
        assert connection.transport is not None
        connection.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            await waiter
        except MaybeSent as exc:
            # Only the CONNECT left: the request itself never did.
            raise ProxyRefused(f"proxy {proxy.display}: {exc}") from exc
        finally:
            connection.waiter = None
            connection.stop_at_head = False
        if not 200 <= connection.status < 300:
            raise ProxyRefused(f"proxy {proxy.display} answered CONNECT with {connection.status}")
        assert pool.tls is not None
        transport = await loop.start_tls(
            connection.transport, connection, pool.tls, server_hostname=pool.host
        )
        connection.transport = cast(asyncio.Transport, transport)
        connection.parser = type(connection.parser)(connection)

    async def aclose(self) -> None:
        """Close every connection: idle ones, and those in an exchange (which then fails with
        ``MaybeSent``). Later exchanges fail with ``NeverSent``."""
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


async def _open_socket(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket, trying each address in turn.

    The wire keeps the socket so that ``Connection.quiet`` can peek at it.
    """
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error
