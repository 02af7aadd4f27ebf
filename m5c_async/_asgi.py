"""Small raw-ASGI helpers shared by our ASGI apps: the webhook receiver, the simulator's nodes
and the dashboard.

A shared module at the top of the package (docs/architecture.md) because none of those packages
may import another's internals. Nothing here imports a server: uvicorn stays an optional extra.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "BodyTooLarge",
    "Disconnected",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "lifespan",
    "read_body",
    "respond",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body passed the limit; it was not held whole."""


class Disconnected(Exception):
    """The client went away before the body was complete: half a body is not a request."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read a request body whole.

    Raises:
        BodyTooLarge: as soon as it passes ``limit`` bytes.
        Disconnected: the client disconnected before the last chunk.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    """Send a complete response with a content-length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol: nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
