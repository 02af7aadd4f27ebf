"""``HttpxWire``: exchanges through any ``httpx.AsyncClient`` (respx, ``ASGITransport``, a
caller's own client)."""

from __future__ import annotations

import httpx

from ...protocol import RequestSpec
from ._base import MaybeSent, NeverSent, Reply, ReplyTooLarge
from ._base import describe as _describe

__all__ = ["HttpxWire"]


class HttpxWire:
    """Exchanges through an ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient, *, max_reply_bytes: int, owned: bool) -> None:
        self.client = client
        self.max_reply_bytes = max_reply_bytes
        self.owned = owned

    async def exchange(self, base_url: str, spec: RequestSpec) -> Reply:
        """See ``Wire``."""
        headers = dict(spec.headers)
        if spec.content_type:
            headers["Content-Type"] = spec.content_type
        request = self.client.build_request(
            spec.method,
            base_url + spec.path,
            params=spec.query or None,
            content=spec.body,
            headers=headers,
        )
        try:
            response = await self.client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NeverSent(_describe(exc)) from exc
        except httpx.TransportError as exc:
            raise MaybeSent(_describe(exc)) from exc
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_reply_bytes:
                raise ReplyTooLarge(f"reply of {declared} bytes exceeds {self.max_reply_bytes}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_reply_bytes:
                    raise ReplyTooLarge(f"reply exceeds {self.max_reply_bytes} bytes")
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise MaybeSent(_describe(exc)) from exc
        finally:
            await response.aclose()
        return Reply(response.status_code, b"".join(chunks))

    async def aclose(self) -> None:
        """Close the httpx client when this wire created it."""
        if self.owned:
            await self.client.aclose()
