"""The transports under ``AsyncClient``: the ``Wire`` protocol, its two implementations, and
the proxy rule both follow (``resolve_proxy``)."""

from __future__ import annotations

from ._base import (
    MalformedReply,
    MaybeSent,
    NeverSent,
    ProxyRefused,
    Reply,
    ReplyTooLarge,
    Wire,
    check_request,
    describe,
)
from ._fast import FastWire, make_ssl_context
from ._httpx import HttpxWire
from ._proxy import resolve_proxy

__all__ = [
    "FastWire",
    "HttpxWire",
    "MalformedReply",
    "MaybeSent",
    "NeverSent",
    "ProxyRefused",
    "Reply",
    "ReplyTooLarge",
    "Wire",
    "check_request",
    "describe",
    "make_ssl_context",
    "resolve_proxy",
]
