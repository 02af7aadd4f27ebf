"""The one body reader of our ASGI apps: whole, bounded, and a disconnect is not a request."""

from __future__ import annotations

from typing import Any

import pytest

from m5c_async import Credentials
from m5c_async._asgi import BodyTooLarge, Disconnected, read_body
from m5c_async.protocol import build_send
from m5c_async.simulator import DEMO_ACCOUNT, NodeApp, Platform


def _receiver(messages: list[dict[str, Any]]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def _chunk(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_chunks_are_joined() -> None:
    """A body in three chunks is read whole."""
    receive = _receiver([_chunk(b"ab", True), _chunk(b"", True), _chunk(b"c", False)])
    assert await read_body(receive, 10) == b"abc"


async def test_a_body_past_the_limit_is_refused() -> None:
    """The limit is checked chunk by chunk."""
    receive = _receiver([_chunk(b"12345", True), _chunk(b"6", False)])
    with pytest.raises(BodyTooLarge):
        await read_body(receive, 5)


async def test_a_disconnect_mid_body_raises() -> None:
    """Half a body is not returned as if it were the request."""
    receive = _receiver([_chunk(b"mobile=138", True), {"type": "http.disconnect"}])
    with pytest.raises(Disconnected):
        await read_body(receive, 1000)


async def test_the_simulator_neither_sends_nor_answers_a_half_request() -> None:
    """A send whose client vanished mid-body is not accepted by the simulated platform."""
    platform = Platform([DEMO_ACCOUNT])
    app = NodeApp(platform, "qingdao")
    creds = Credentials.create(
        username=DEMO_ACCOUNT.username, password=DEMO_ACCOUNT.password, apikey=DEMO_ACCOUNT.apikey
    )
    spec = build_send(creds, ["13800138000"], "hi【示例】")
    assert spec.body is not None
    assert spec.content_type is not None
    form = spec.body
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": spec.path,
        "query_string": b"",
        "headers": [(b"content-type", spec.content_type.encode())],
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
    }
    half = _receiver([_chunk(form[: len(form) // 2], True), {"type": "http.disconnect"}])
    await app(scope, half, send)
    assert sent == []
    assert platform.snapshot()["accepted"] == 0
    whole = _receiver([_chunk(form, False)])
    await app(scope, whole, send)
    assert sent[0]["status"] == 200
    assert b"success:" in sent[-1]["body"]
    assert platform.snapshot()["accepted"] == 1
