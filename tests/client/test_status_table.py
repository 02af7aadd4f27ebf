"""The client's status table, against scripted loopback servers, on both wires.

Sends: a 4xx (but 408) is a refusal before processing, so the next node gets the send; a 5xx or
408 is ambiguous and the send goes nowhere else; every node refusing is AllNodesRefusedError.
Queries: read-only ones try the next node after any status; a consuming pull after a 5xx raises
HTTPStatusError and is not repeated. Every error's text is free of the credentials even when
the error page echoes the whole request.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from m5c_async import (
    AllNodesFailedError,
    AllNodesRefusedError,
    AmbiguousOutcomeError,
    AsyncClient,
    HTTPStatusError,
    M5CError,
    Verdict,
)
from m5c_async.client._status import Meaning, meaning
from m5c_async.protocol import md5_hex
from tests.conftest import APIKEY, PASSWORD
from tests.scripted import Answer, Request, scripted

WIRES = ["fast", "httpx"]
METHODS = ["POST", "GET"]
SECRETS = (PASSWORD, md5_hex(PASSWORD), APIKEY, md5_hex(PASSWORD).upper())


def echo(status: int) -> Callable[[Request], Answer]:
    """An error page that quotes the whole request, as some gateways' do."""
    return lambda request: Answer(status, f"<html>{status} for {request.raw}</html>")


def ok(request: Request) -> Answer:
    if "/api/send/" in request.path:
        return Answer(body="success:1234567890123")
    return Answer(body="90/100")


def texts(error: BaseException) -> str:
    """Everything an error can show: message, repr, attributes, its chain, its failures."""
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        exc = todo.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        parts += [str(exc), repr(exc), *map(str, vars(exc).values())]
        todo += [e for e in (exc.__cause__, exc.__context__) if e is not None]
        todo += list(getattr(exc, "failures", {}).values())
    return "\n".join(parts)


def assert_clean(error: BaseException) -> None:
    """No secret, and no part of one (an excerpt cut inside a secret), in any text."""
    shown = texts(error)
    for secret in SECRETS:
        assert secret not in shown
    for value in re.findall(r"(?:password|password_md5|apikey)=([^&\s'\"]*)", shown):
        assert value.startswith("***") or value == "", value


def client(nodes: list[str], wire: str, method: str = "POST") -> AsyncClient:
    return AsyncClient(
        username="mlrt",
        password=PASSWORD,
        apikey=APIKEY,
        nodes=nodes,
        wire=wire,
        method=method,
    )


def test_the_table() -> None:
    """Statuses as the module's table reads them (an independent listing)."""
    reply = [200, 201, 204, 299]
    refused = [301, 302, 307, 308, 400, 401, 403, 404, 405, 413, 429, 499]
    unknown = [100, 101, 300, 303, 304, 408, 500, 502, 503, 504, 599, 600, 999]
    assert {s: meaning(s) for s in reply + refused + unknown} == {
        **dict.fromkeys(reply, Meaning.REPLY),
        **dict.fromkeys(refused, Meaning.REFUSED),
        **dict.fromkeys(unknown, Meaning.UNKNOWN),
    }


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", [403, 404])
@pytest.mark.parametrize("wire", WIRES)
async def test_a_refused_send_goes_to_the_next_node(wire: str, status: int, method: str) -> None:
    async with (
        scripted(echo(status)) as a,
        scripted(ok) as b,
        client([a.url, b.url], wire, method) as sms,
    ):
        receipt = await sms.send(["13800138000"], "x")
    assert (receipt.node, receipt.msgid) == (b.url, "1234567890123")
    assert len(a.to("/api/send/")) == len(b.to("/api/send/")) == 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("wire", WIRES)
async def test_every_node_refusing_a_send_is_a_named_error(wire: str, method: str) -> None:
    async with (
        scripted(echo(403)) as a,
        scripted(echo(404)) as b,
        client([a.url, b.url], wire, method) as sms,
    ):
        with pytest.raises(AllNodesRefusedError) as info:
            await sms.send(["13800138000"], "x")
    error = info.value
    assert error.verdict is Verdict.POINTLESS
    assert {n: e.status for n, e in error.failures.items() if isinstance(e, HTTPStatusError)} == {
        a.url: 403,
        b.url: 404,
    }
    assert "13800138000" not in str(error)
    assert_clean(error)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", [408, 500, 502, 503])
@pytest.mark.parametrize("wire", WIRES)
async def test_a_5xx_or_408_after_a_send_is_ambiguous_and_goes_nowhere_else(
    wire: str, status: int, method: str
) -> None:
    async with (
        scripted(echo(status)) as a,
        scripted(ok) as b,
        client([a.url, b.url], wire, method) as sms,
    ):
        with pytest.raises(AmbiguousOutcomeError, match=f"HTTP {status}") as info:
            await sms.send(["13800138000"], "x")
    assert b.requests == []
    assert info.value.verdict is Verdict.UNSAFE
    assert isinstance(info.value.__cause__, HTTPStatusError)
    assert info.value.__cause__.status == status
    assert_clean(info.value)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", [403, 404, 408, 502, 503])
@pytest.mark.parametrize("wire", WIRES)
async def test_a_read_only_query_tries_the_next_node_after_any_status(
    wire: str, status: int, method: str
) -> None:
    async with (
        scripted(echo(status)) as a,
        scripted(ok) as b,
        client([a.url, b.url], wire, method) as sms,
    ):
        balance = await sms.balance()
    assert balance.remaining == 90
    assert len(a.requests) == len(b.requests) == 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("statuses", "kind"),
    [
        ((403, 404), AllNodesRefusedError),
        ((502, 503), AllNodesFailedError),
        ((404, 408), AllNodesFailedError),
    ],
)
@pytest.mark.parametrize("wire", WIRES)
async def test_a_query_every_node_answers_with_a_status_is_named_and_scrubbed(
    wire: str, statuses: tuple[int, int], kind: type[M5CError], method: str
) -> None:
    async with (
        scripted(echo(statuses[0])) as a,
        scripted(echo(statuses[1])) as b,
        client([a.url, b.url], wire, method) as sms,
    ):
        with pytest.raises(kind) as info:
            await sms.balance()
    assert type(info.value) is kind
    failures = info.value.failures  # type: ignore[attr-defined]
    assert [e.status for e in failures.values()] == list(statuses)
    assert all("<html>" in e.text for e in failures.values())
    assert_clean(info.value)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("wire", WIRES)
async def test_a_consuming_pull_after_a_5xx_is_not_repeated(wire: str, method: str) -> None:
    async with (
        scripted(echo(502)) as a,
        scripted(ok) as b,
        client([a.url, b.url], wire, method) as sms,
    ):
        with pytest.raises(HTTPStatusError) as info:
            await sms.reports()
    assert b.requests == []
    assert (info.value.status, info.value.verdict) == (502, Verdict.UNSAFE)
    assert_clean(info.value)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("wire", WIRES)
async def test_a_consuming_pull_refused_goes_to_the_next_node(wire: str, method: str) -> None:
    pulled = lambda r: Answer(body="no record")  # noqa: E731
    async with (
        scripted(echo(403)) as a,
        scripted(pulled) as b,
        client([a.url, b.url], wire, method) as sms,
    ):
        assert await sms.reports() == []
    assert len(b.requests) == 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("wire", WIRES)
async def test_malformed_and_error_replies_are_scrubbed(wire: str, method: str) -> None:
    """A 200 whose body is not the documented shape (it echoes the request), on a query and
    on a send: ReplyFormatError / AmbiguousOutcomeError without a credential in any text."""
    garbled = lambda r: Answer(body=f"<html>proxy says: {r.raw}</html>")  # noqa: E731
    async with scripted(garbled) as a, client([a.url], wire, method) as sms:
        with pytest.raises(M5CError) as query:
            await sms.balance()
        with pytest.raises(AmbiguousOutcomeError) as send:
            await sms.send(["13800138000"], "x")
        with pytest.raises(M5CError) as records:
            await sms.reports()
    for info in (query, send, records):
        assert_clean(info.value)
