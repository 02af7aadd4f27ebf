"""The bad-input catalog of docs/reliability.md: every bad input, with the error observed.

Each row is (what, how it is tried, the named error). Nothing is sent or stored half, and the
process keeps running (every case runs in this one process, one after the other).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from m5c_async import (
    AmbiguousOutcomeError,
    AsyncClient,
    ContentEncodingError,
    ContentError,
    Credentials,
    InvalidNumberError,
    InvalidParameterError,
    InvalidTimeError,
    M5CError,
    PushFormatError,
    ReplyFormatError,
    ReplyTooLargeError,
)
from m5c_async.protocol import (
    Encoding,
    build_send,
    normalize,
    parse_report_push,
    parse_reports,
    push_payloads,
)
from m5c_async.webhook import WebhookReceiver
from tests.conftest import APIKEY, PASSWORD

CREDS = Credentials.create(username="mlrt", password=PASSWORD, apikey=APIKEY)
PAST = datetime.now(UTC) - timedelta(days=1)

received: list[int] = []


async def _store(batch: list[Any]) -> None:
    received.append(len(batch))


# (what, a callable that tries it, the error it must raise)
LOCAL: list[tuple[str, Callable[[], Any], type[M5CError]]] = [
    ("number: empty", lambda: normalize(""), InvalidNumberError),
    ("number: letters", lambda: normalize("138abcd0000"), InvalidNumberError),
    ("number: too short", lambda: normalize("1380013800"), InvalidNumberError),
    ("number: too long", lambda: normalize("138001380001"), InvalidNumberError),
    ("number: bad prefix", lambda: normalize("12800138000"), InvalidNumberError),
    ("content: empty", lambda: build_send(CREDS, ["13800138000"], ""), ContentError),
    (
        "content: 501 characters",
        lambda: build_send(CREDS, ["13800138000"], "x" * 501),
        ContentError,
    ),
    ("content: NUL byte", lambda: build_send(CREDS, ["13800138000"], "a\x00b"), ContentError),
    (
        "content: emoji with encode=GBK",
        lambda: build_send(CREDS, ["13800138000"], "好😀", encoding=Encoding.GBK),
        ContentEncodingError,
    ),
    (
        "time: naive datetime",
        lambda: build_send(CREDS, ["13800138000"], "x", at=datetime(2030, 1, 1)),
        InvalidTimeError,
    ),
    (
        "time: in the past",
        lambda: build_send(CREDS, ["13800138000"], "x", at=PAST, now=datetime.now(UTC)),
        InvalidTimeError,
    ),
    (
        "ext: 11 digits",
        lambda: build_send(CREDS, ["13800138000"], "x", ext="1" * 11),
        InvalidParameterError,
    ),
    (
        "reply: truncated report record",
        lambda: parse_reports("30911175558600,13811299999,DELIV"),
        ReplyFormatError,
    ),
    ("reply: empty body", lambda: parse_reports(""), ReplyFormatError),
    (
        "webhook: no path token",
        lambda: WebhookReceiver(on_reports=_store),
        InvalidParameterError,
    ),
    (
        "webhook: token too short",
        lambda: WebhookReceiver(on_reports=_store, token="abc"),
        InvalidParameterError,
    ),
    (
        "webhook: allow-list entry not an address",
        lambda: WebhookReceiver(on_reports=_store, insecure=True, allowed_ips=["node-1"]),
        InvalidParameterError,
    ),
    (
        "push: a request with no data and no body",
        lambda: push_payloads(query=b"x=1", content_type=None, body=b""),
        PushFormatError,
    ),
    (
        "push: strict parse of a push with an unreadable record",
        lambda: parse_report_push("1,13800000000,DELIVRD,1462880473;x"),
        PushFormatError,
    ),
]


@pytest.mark.parametrize(("what", "attempt", "error"), LOCAL, ids=[c[0] for c in LOCAL])
def test_local_bad_inputs(what: str, attempt: Callable[[], Any], error: type[M5CError]) -> None:
    """Each bad input raises its named error."""
    with pytest.raises(error):
        attempt()


def client(**kw: Any) -> AsyncClient:
    return AsyncClient(
        username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=["http://n"], wire="httpx", **kw
    )


@respx.mock
async def test_bad_platform_replies() -> None:
    """HTML error page, wrong charset, a 50 MB body: named errors, nothing half-parsed."""
    route = respx.post("http://n/api/query/index.php")
    async with client() as sms:
        route.respond(text="<html><body>502 Bad Gateway</body></html>")
        with pytest.raises(ReplyFormatError, match="malformed balance"):
            await sms.balance()
        route.respond(content="余额".encode("gbk"))
        with pytest.raises(ReplyFormatError, match="not valid UTF-8"):
            await sms.balance()
        route.respond(headers={"content-length": str(50 * 1024 * 1024)}, content=b"1/1")
        with pytest.raises(M5CError) as info:
            await sms.balance()
        assert isinstance(info.value.failures["http://n"], ReplyTooLargeError)  # type: ignore[attr-defined]
    send = respx.post("http://n/api/send/index.php")
    async with client() as sms:
        send.respond(text="<html>maintenance</html>")
        with pytest.raises(AmbiguousOutcomeError):
            await sms.send(["13800138000"], "x")


async def test_packet_over_the_profile_size() -> None:
    """More numbers than the profile's packet, or none valid: refused before sending."""
    async with client(profile="personalized") as sms:
        with pytest.raises(InvalidParameterError, match="packet size"):
            await sms.send(["13800138000", "13900139000"], "x")
        with pytest.raises(InvalidNumberError, match="not-digits"):
            await sms.send(["bad", "worse"], "x")


def test_duplicates_are_reported_not_sent_twice() -> None:
    """Duplicates (after normalisation) come back as rejected with the reason."""
    from m5c_async import Recipients

    recipients = Recipients()
    assert list(recipients.accept(["13800138000", "+86 138 0013 8000"])) == ["13800138000"]
    assert [r.reason.value for r in recipients.rejected] == ["duplicate"]


RECEIVER = WebhookReceiver(on_reports=_store, on_replies=_store, max_body=64 * 1024, insecure=True)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(lambda t: t.encode())))
async def test_webhook_fuzz_never_500(body: bytes) -> None:
    """Arbitrary bodies: 200 with records, or 4xx with a reason; never a 500."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=RECEIVER), base_url="http://h"
    ) as http:
        for path in ("/reports", "/replies"):
            response = await http.post(path, content=body)
            assert response.status_code in (200, 400, 413), (body, response.text)
            response = await http.post(path, data={"data": body.decode("utf-8", "replace")})
            assert response.status_code in (200, 400), (body, response.text)
