"""``HttpxWire``: exchanges through any ``httpx.AsyncClient`` (respx, ``ASGITransport``, a
caller's own client), or one it builds with the same proxy, TLS and limit options as
``FastWire`` (``HttpxWire.create``).

Where httpx itself decides (framing by h11, 1xx skipped, stale keep-alive connections dropped
by httpcore's readability check), the outcome is classified as ``FastWire`` classifies its own:
a reply that breaks framing is ``MalformedReply``, a truncated one ``MaybeSent``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Final

import httpx

from ...protocol import RequestSpec
from .._models import Timeouts
from ._base import (
    MalformedReply,
    MaybeSent,
    NeverSent,
    ProxyRefused,
    Reply,
    ReplyTooLarge,
    check_request,
    check_url,
)
from ._base import describe as _describe
from ._fast import make_ssl_context
from ._proxy import parse_proxy, resolve_proxy

__all__ = ["HttpxWire"]

# httpcore's and h11's words for a reply cut short (as opposed to one that breaks framing).
_TRUNCATED: Final = ("peer closed", "server disconnected")


class _ProxyRouter(httpx.AsyncBaseTransport):
    """Send each origin through the proxy ``resolve_proxy`` picks for it (or none).

    httpx's own ``trust_env`` reads the same variables; routing here keeps one rule for both
    wires and lets a custom ``transport`` never be bypassed by an environment proxy.
    """

    def __init__(
        self,
        *,
        proxy: str | None,
        trust_env: bool,
        context: ssl.SSLContext,
        limits: httpx.Limits,
    ) -> None:
        self._proxy = proxy
        self._trust_env = trust_env
        self._context = context
        self._limits = limits
        self._by_origin: dict[tuple[bytes, bytes, int | None], httpx.AsyncBaseTransport] = {}
        self._by_proxy: dict[str | None, httpx.AsyncHTTPTransport] = {}

    def _make(self, proxy: str | None) -> httpx.AsyncHTTPTransport:
        transport = self._by_proxy.get(proxy)
        if transport is None:
            if proxy is not None and "://" not in proxy:
                proxy = "http://" + proxy
            transport = httpx.AsyncHTTPTransport(
                verify=self._context,
                limits=self._limits,
                proxy=httpx.Proxy(proxy) if proxy is not None else None,
            )
            self._by_proxy[proxy] = transport
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        transport = self._by_origin.get(key)
        if transport is None:
            origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
            transport = self._make(
                resolve_proxy(origin, trust_env=self._trust_env, proxy=self._proxy)
            )
            self._by_origin[key] = transport
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._by_proxy.values():
            await transport.aclose()


class HttpxWire:
    """Exchanges through an ``httpx.AsyncClient``.

    Args:
        client: the httpx client.
        max_reply_bytes: the largest reply body accepted.
        owned: close ``client`` in ``aclose`` (true when this library created it).

    Example:
        >>> wire = HttpxWire.create(timeouts=Timeouts(), max_connections=10,
        ...                         max_reply_bytes=1 << 20, proxy="http://proxy.internal:3128")
    """

    def __init__(self, client: httpx.AsyncClient, *, max_reply_bytes: int, owned: bool) -> None:
        self.client = client
        self.max_reply_bytes = max_reply_bytes
        self.owned = owned
        self._inflight: set[asyncio.Task[object]] = set()
        self._closed = False

    @classmethod
    def create(
        cls,
        *,
        timeouts: Timeouts,
        max_connections: int,
        max_reply_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool = True,
        proxy: str | None = None,
        trust_env: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "m5c_async",
    ) -> HttpxWire:
        """An ``HttpxWire`` over an httpx client of its own, with ``FastWire``'s options.

        Args:
            timeouts: httpx's connect, read, write and pool timeouts.
            max_connections: connections (all kept alive) in the pool.
            max_reply_bytes: the largest reply body accepted.
            ssl_context: the TLS context; default: the system's, verifying.
            verify: ``False`` turns verification off (only without ``ssl_context``).
            proxy: an ``http://[user:pass@]host:port`` proxy for every node.
            trust_env: with no ``proxy``, read the proxy variables (``resolve_proxy``).
            transport: an httpx transport (``MockTransport``, ``ASGITransport``); proxy and
                TLS options do not apply to it.
            user_agent: the ``User-Agent`` header.
        """
        context = make_ssl_context(ssl_context, verify)
        if proxy is not None:
            parse_proxy(proxy)
        # Keep every connection alive: with fewer keep-alive slots, most are reopened.
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is None:
            if proxy is None and not trust_env:
                transport = httpx.AsyncHTTPTransport(verify=context, limits=limits)
            else:
                transport = _ProxyRouter(
                    proxy=proxy, trust_env=trust_env, context=context, limits=limits
                )
        client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(
                connect=timeouts.connect,
                read=timeouts.read,
                write=timeouts.write,
                pool=timeouts.pool,
            ),
            # The environment is read by resolve_proxy above, never by httpx itself.
            trust_env=False,
            headers={"User-Agent": user_agent},
        )
        return cls(client, max_reply_bytes=max_reply_bytes, owned=True)

    async def exchange(self, base_url: str, spec: RequestSpec) -> Reply:
        """See ``Wire``.

        Raises:
            ControlCharacterError: in the base URL, path or headers; nothing was sent.
            NeverSent: nothing left (connect, pool timeout, wire closed).
            MaybeSent: the request left, or may have (``MalformedReply``, ``ReplyTooLarge``).
        """
        check_request(spec)
        check_url(base_url)
        if self._closed:
            raise NeverSent("the wire is closed")
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            return await self._exchange(base_url, spec)
        except asyncio.CancelledError:
            if self._closed and task.uncancel() == 0:
                raise MaybeSent("the wire was closed during the exchange") from None
            raise
        finally:
            self._inflight.discard(task)

    async def _exchange(self, base_url: str, spec: RequestSpec) -> Reply:
        headers = dict(spec.headers)
        if spec.content_type:
            headers["Content-Type"] = spec.content_type
        try:
            request = self.client.build_request(
                spec.method,
                base_url + spec.path,
                params=spec.query or None,
                content=spec.body,
                headers=headers,
            )
        except httpx.InvalidURL as exc:
            raise NeverSent(_describe(exc)) from exc
        try:
            response = await self.client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NeverSent(_describe(exc)) from exc
        except httpx.ProxyError as exc:
            # httpcore's word for a refused CONNECT: the request never reached the node.
            raise ProxyRefused(_describe(exc)) from exc
        except httpx.TransportError as exc:
            raise _classify(exc) from exc
        try:
            declared = response.headers.get("content-length", "")
            bodiless = response.status_code in (204, 304)
            if declared.isdigit() and int(declared) > self.max_reply_bytes and not bodiless:
                raise ReplyTooLarge(f"reply of {declared} bytes exceeds {self.max_reply_bytes}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_reply_bytes:
                    raise ReplyTooLarge(f"reply exceeds {self.max_reply_bytes} bytes")
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise _classify(exc) from exc
        finally:
            await response.aclose()
        return Reply(response.status_code, b"".join(chunks))

    async def aclose(self) -> None:
        """Cancel the exchanges in progress (each fails with ``MaybeSent``; httpx closes their
        connections), then close the httpx client when this wire created it."""
        self._closed = True
        for task in list(self._inflight):
            task.cancel()
        if self.owned:
            await self.client.aclose()


def _classify(exc: httpx.TransportError) -> MaybeSent:
    text = _describe(exc)
    if isinstance(exc, httpx.RemoteProtocolError) and not any(
        word in str(exc).lower() for word in _TRUNCATED
    ):
        return MalformedReply(text)
    return MaybeSent(text)
