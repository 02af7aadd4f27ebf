"""The client: ``AsyncClient`` (one coroutine per endpoint, failover across nodes, circuit
breakers) and the transports under it (``FastWire`` by default, ``HttpxWire`` for any httpx
client).

It may import ``protocol`` and the exception tree; nothing else of the package.
"""

from __future__ import annotations

from ._breaker import BreakerConfig, BreakerState, CircuitBreaker
from ._client import AsyncClient, NodeTarget
from ._models import SendReceipt, Timeouts
from ._transports import (
    FastWire,
    HttpxWire,
    MalformedReply,
    MaybeSent,
    NeverSent,
    ProxyRefused,
    Reply,
    ReplyTooLarge,
    Wire,
    resolve_proxy,
)

__all__ = [
    "AsyncClient",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "FastWire",
    "HttpxWire",
    "MalformedReply",
    "MaybeSent",
    "NeverSent",
    "NodeTarget",
    "ProxyRefused",
    "Reply",
    "ReplyTooLarge",
    "SendReceipt",
    "Timeouts",
    "Wire",
    "resolve_proxy",
]
