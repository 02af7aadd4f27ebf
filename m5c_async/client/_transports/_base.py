"""What every transport under ``AsyncClient`` promises: one request, one complete reply, or a
classified failure.

Two implementations answer the same question, "what did the node say, or how did it fail?":
``HttpxWire`` (any ``httpx.AsyncClient``: the public seam for respx, ``ASGITransport`` and
callers' own clients) and ``FastWire`` (HTTP/1.1 keep-alive over asyncio, replies framed by
llhttp through ``httptools``; the default).

Both classify failures the same way, which is all the failover rules need:

- ``NeverSent``: nothing left this process (connect refused, DNS, connect or pool timeout, a
  proxy that refused the tunnel, a wire already closed).
- ``MaybeSent``: the request was written, or may have been (read timeout, a connection closed
  before the reply was complete, a reply that breaks HTTP framing, an oversized reply).

Before either, ``check_request`` refuses control characters in the URL, path and headers with
``ControlCharacterError``: such a request is never written, by either wire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Protocol

from ..._exceptions import ControlCharacterError
from ...protocol import RequestSpec

__all__ = [
    "MalformedReply",
    "MaybeSent",
    "NeverSent",
    "ProxyRefused",
    "Reply",
    "ReplyTooLarge",
    "Wire",
    "check_request",
    "check_url",
    "describe",
]


class NeverSent(Exception):
    """The request did not leave: safe to send elsewhere."""


class ProxyRefused(NeverSent):
    """The proxy refused to open a tunnel (``CONNECT`` answered with a non-2xx status)."""


class MaybeSent(Exception):
    """The request left, or may have: the node may have acted on it."""


class ReplyTooLarge(MaybeSent):
    """The reply exceeded the size limit and was not read."""


class MalformedReply(MaybeSent):
    """The reply broke HTTP/1.1 framing: conflicting or malformed ``Content-Length``, an illegal
    chunk size, a status line that is not HTTP/1.x, an unrequested protocol switch."""


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
        """Close every connection, those in use included."""
        ...


def describe(exc: BaseException) -> str:
    """``Type: text`` of an exception, for error messages."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# A header value may hold HTAB and visible characters (RFC 9110 field-value); a path or URL no
# whitespace or control character at all (RFC 3986 leaves them out; a space would end the
# request line). A header name is a token.
_BAD_IN_VALUE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_IN_URL: Final = re.compile(r"[\x00-\x20\x7f]")
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_url(url: str, where: str = "base URL") -> None:
    """Refuse a URL or path holding whitespace or a control character.

    Raises:
        ControlCharacterError: naming ``where``, never the value.
    """
    if _BAD_IN_URL.search(url):
        raise ControlCharacterError(f"a control character or space in the {where}")


def check_request(spec: RequestSpec) -> None:
    """Refuse a request whose path or headers could split it on the wire.

    The query is percent-encoded by the wires and the body is counted, so neither can.

    Raises:
        ControlCharacterError: naming the path or the header, never its value.
    """
    if _BAD_IN_URL.search(spec.path):
        raise ControlCharacterError("a control character or space in the request path")
    for name, value in spec.headers:
        if not _TOKEN.fullmatch(name):
            raise ControlCharacterError("a header name that is not an HTTP token")
        if _BAD_IN_VALUE.search(value):
            raise ControlCharacterError(f"a control character in the value of header {name}")
    if spec.content_type is not None and _BAD_IN_VALUE.search(spec.content_type):
        raise ControlCharacterError("a control character in the value of header Content-Type")
