"""What every transport under ``AsyncClient`` promises: one request, one complete reply, or a
classified failure.

Two implementations answer the same question, "what did the node say, or how did it fail?":
``HttpxWire`` (any ``httpx.AsyncClient``: the public seam for respx, ``ASGITransport`` and
callers' own clients) and ``FastWire`` (HTTP/1.1 keep-alive over asyncio streams, the default).

Both classify failures the same way, which is all the failover rules need:

- ``NeverSent``: nothing left this process (connect refused, DNS, connect or pool timeout).
- ``MaybeSent``: the request was written, or may have been (read timeout, a connection closed
  before the reply was complete, an oversized reply).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ...protocol import RequestSpec

__all__ = ["MaybeSent", "NeverSent", "Reply", "ReplyTooLarge", "Wire", "describe"]


class NeverSent(Exception):
    """The request did not leave: safe to send elsewhere."""


class MaybeSent(Exception):
    """The request left, or may have: the node may have acted on it."""


class ReplyTooLarge(MaybeSent):
    """The reply exceeded the size limit and was not read."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP reply."""

    status: int
    body: bytes


class Wire(Protocol):
    """One request, one complete reply, or NeverSent / MaybeSent."""

    async def exchange(self, base_url: str, spec: RequestSpec) -> Reply:
        """Send ``spec`` to ``base_url`` and read the whole reply."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


def describe(exc: BaseException) -> str:
    """``Type: text`` of an exception, for error messages."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
