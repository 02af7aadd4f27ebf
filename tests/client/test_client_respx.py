"""AsyncClient against respx: every endpoint, every documented reply, every transport failure."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from m5c_async import (
    AllNodesFailedError,
    AllNodesRefusedError,
    AmbiguousOutcomeError,
    AsyncClient,
    AuthenticationError,
    BlacklistOperationError,
    BreakerConfig,
    ContentEncodingError,
    HTTPStatusError,
    InvalidNumberError,
    InvalidParameterError,
    NodeUnavailableError,
    ReplyFormatError,
    ReplyTooLargeError,
    ThrottledError,
    TransportError,
    Verdict,
    md5_hex,
)
from m5c_async.protocol import CODES, BatchItem
from tests.conftest import APIKEY, PASSWORD, FakeClock

A = "http://node-a"
B = "http://node-b"
START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 1, 2, tzinfo=UTC)


def client(**kwargs: object) -> AsyncClient:
    options: dict[str, object] = {
        "username": "mlrt",
        "password": PASSWORD,
        "apikey": APIKEY,
        "nodes": [A, B],
        "wire": "httpx",
    }
    options.update(kwargs)
    return AsyncClient(**options)  # type: ignore[arg-type]


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


@respx.mock
async def test_send_posts_without_credentials_in_the_url() -> None:
    """POST by default: credentials in the body only; receipt with msgid, numbers, node."""
    route = respx.post(f"{A}/api/send/index.php").respond(text="success:12345678901234")
    async with client() as sms:
        receipt = await sms.send(["+86 138 0013 8000", "bad", "13900139000"], "你好")
    request = route.calls.last.request
    assert APIKEY not in str(request.url)
    assert md5_hex(PASSWORD) not in str(request.url)
    assert form(request)["mobile"] == "13800138000,13900139000"
    assert receipt.msgid == "12345678901234"
    assert receipt.accepted == ("13800138000", "13900139000")
    assert [(r.number, r.reason.value) for r in receipt.rejected] == [("bad", "not-digits")]
    assert receipt.node == A


@respx.mock
async def test_get_method_and_string_mobiles() -> None:
    """method='GET' puts fields in the query; a comma string of numbers is split."""
    route = respx.get(f"{A}/api/send/index.php").respond(text="success:1")
    async with client(method="GET") as sms:
        await sms.send("13800138000;13900139000", "x")
    assert route.calls.last.request.url.params["mobile"] == "13800138000,13900139000"


@pytest.mark.parametrize("code", CODES, ids=lambda c: c.text)
@respx.mock
async def test_every_documented_error_reply(code: object) -> None:
    """Each error reply raises its class, and no node is failed over for it."""
    text = code.text  # type: ignore[attr-defined]
    first = respx.post(f"{A}/api/send/index.php").respond(text=text)
    second = respx.post(f"{B}/api/send/index.php").respond(text="success:1")
    async with client() as sms:
        with pytest.raises(code.error) as info:  # type: ignore[attr-defined]
            await sms.send(["13800138000"], "x")
    assert info.value.node == A
    assert first.call_count == 1
    assert second.call_count == 0


@respx.mock
async def test_throttled_is_retry_safe_and_not_slept_on() -> None:
    """Throughput replies raise a retryable ThrottledError at once."""
    respx.post(f"{A}/api/send/index.php").respond(text="error:Throughput Rate Exceeded")
    async with client() as sms:
        with pytest.raises(ThrottledError) as info:
            await sms.send(["13800138000"], "x")
    assert info.value.verdict is Verdict.THROTTLED


@respx.mock
async def test_connect_error_moves_to_next_node() -> None:
    """A refused connection never left: the next node sends it."""
    respx.post(f"{A}/api/send/index.php").mock(side_effect=httpx.ConnectError("refused"))
    ok = respx.post(f"{B}/api/send/index.php").respond(text="success:2")
    async with client() as sms:
        receipt = await sms.send(["13800138000"], "x")
    assert receipt.node == B
    assert ok.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
    ],
    ids=type,
)
@respx.mock
async def test_ambiguous_send_is_never_resent(failure: Exception) -> None:
    """After the request may have arrived, the client raises and does not try node B."""
    respx.post(f"{A}/api/send/index.php").mock(side_effect=failure)
    other = respx.post(f"{B}/api/send/index.php").respond(text="success:2")
    async with client() as sms:
        with pytest.raises(AmbiguousOutcomeError) as info:
            await sms.send(["13800138000", "13900139000"], "验证码")
    err = info.value
    assert other.call_count == 0
    assert err.mobiles == ("13800138000", "13900139000")
    assert err.content == "验证码"
    assert err.node == A
    assert err.verdict is Verdict.UNSAFE
    assert err.started_at <= err.ended_at
    assert APIKEY not in str(err) + repr(err)


@pytest.mark.parametrize("status", [500, 502, 503])
@respx.mock
async def test_5xx_on_send_is_ambiguous(status: int) -> None:
    """An HTTP 5xx after a send is ambiguous."""
    respx.post(f"{A}/api/send/index.php").respond(status_code=status, text="<html>oops</html>")
    async with client() as sms:
        with pytest.raises(AmbiguousOutcomeError, match=f"HTTP {status}"):
            await sms.send(["13800138000"], "x")


@respx.mock
async def test_garbled_send_reply_is_ambiguous_with_the_format_error_as_cause() -> None:
    """An HTML page with 200 after a send: ambiguous, chained to a ReplyFormatError."""
    respx.post(f"{A}/api/send/index.php").respond(text="<html>proxy error</html>")
    async with client() as sms:
        with pytest.raises(AmbiguousOutcomeError) as info:
            await sms.send(["13800138000"], "x")
    assert isinstance(info.value.__cause__, ReplyFormatError)


@respx.mock
async def test_read_only_queries_fail_over_after_any_failure() -> None:
    """balance is retried on node B after a read timeout and a 502 on A."""
    respx.post(f"{A}/api/query/index.php").mock(side_effect=httpx.ReadTimeout("slow"))
    respx.post(f"{B}/api/query/index.php").respond(text="90/100")
    async with client() as sms:
        balance = await sms.balance()
    assert balance.remaining == Decimal(90)


@respx.mock
async def test_consuming_pull_is_not_repeated_elsewhere() -> None:
    """A report pull whose reply was lost is not repeated on another node."""
    respx.post(f"{A}/api/recv/index.php").mock(side_effect=httpx.ReadTimeout("slow"))
    other = respx.post(f"{B}/api/recv/index.php").respond(text="no record")
    async with client() as sms:
        with pytest.raises(TransportError, match="reports failed on http://node-a"):
            await sms.reports()
    assert other.call_count == 0


@respx.mock
async def test_all_nodes_failed_lists_each() -> None:
    """When every node fails, one error names each node's failure."""
    respx.post(f"{A}/api/query/index.php").mock(side_effect=httpx.ConnectError("refused"))
    respx.post(f"{B}/api/query/index.php").respond(status_code=503)
    async with client() as sms:
        with pytest.raises(AllNodesFailedError) as info:
            await sms.balance()
    assert set(info.value.failures) == {A, B}
    assert isinstance(info.value.failures[A], NodeUnavailableError)
    assert "HTTP 503" in str(info.value)


@respx.mock
async def test_circuit_breaker_skips_then_probes() -> None:
    """After the threshold, node A is skipped until the cool-down, then probed once."""
    clock = FakeClock()
    a = respx.post(f"{A}/api/query/index.php").mock(side_effect=httpx.ConnectError("refused"))
    respx.post(f"{B}/api/query/index.php").respond(text="1/1")
    async with client(breaker=BreakerConfig(failure_threshold=2, cooldown=10), clock=clock) as sms:
        for _ in range(4):
            await sms.balance()
        assert a.call_count == 2
        assert sms.health()[A] == "open"
        clock.advance(11)
        a.mock(return_value=httpx.Response(200, text="5/5"))
        assert (await sms.balance()).remaining == Decimal(5)
        assert sms.health()[A] == "closed"


@respx.mock
async def test_oversized_reply_is_refused() -> None:
    """A reply above max_reply_bytes is not held."""
    respx.post(f"{A}/api/query/index.php").respond(text="9" * 5000)
    respx.post(f"{B}/api/query/index.php").respond(
        headers={"content-length": "999999999"}, text="1/1"
    )
    async with client(max_reply_bytes=1000) as sms:
        with pytest.raises(AllNodesFailedError) as info:
            await sms.balance()
    assert all("exceeds" in str(e) for e in info.value.failures.values())
    assert all(isinstance(e, ReplyTooLargeError) for e in info.value.failures.values())


@respx.mock
async def test_a_4xx_everywhere_is_all_nodes_refused() -> None:
    """A 404 (wrong base URL) on the only node: AllNodesRefusedError, with the node's
    HTTPStatusError and the body excerpt."""
    respx.post(f"{A}/api/query/index.php").respond(status_code=404, text="not found")
    async with client(nodes=[A]) as sms:
        with pytest.raises(AllNodesRefusedError, match="HTTP 404") as info:
            await sms.balance()
    failure = info.value.failures[A]
    assert isinstance(failure, HTTPStatusError)
    assert (failure.status, failure.refused, failure.text) == (404, True, "not found")
    assert info.value.verdict is Verdict.POINTLESS


@respx.mock
async def test_every_query_endpoint() -> None:
    """Each query method hits its endpoint with its parameters and parses the reply."""
    routes = {
        "query": respx.post(f"{A}/api/query/index.php"),
        "recv": respx.post(f"{A}/api/recv/index.php"),
        "reply": respx.post(f"{A}/api/reply/index.php"),
        "black": respx.post(f"{A}/api/black/index.php"),
        "bind": respx.post(f"{A}/api/bind/index.php"),
    }
    async with client() as sms:
        routes["query"].respond(text="mlrt,1,13800138000,%E5%A5%BD,1577836800;")
        [record] = await sms.records(START, END)
        assert record.content == "好"
        assert form(routes["query"].calls.last.request)["action"] == "record"
        routes["query"].respond(text="username:mlrt,sum:1/0/0/0,balance:10|9/0|0/0|0/0|0;")
        [bill] = await sms.billing(START, END, agent="mlrt")
        assert bill.sent_domestic == 1
        assert form(routes["query"].calls.last.request)["agent_username"] == "mlrt"
        routes["recv"].respond(text="1,13800138000,DELIVRD,2020-01-01 08:00:00;")
        assert (await sms.reports())[0].delivered
        await sms.reports_for(["13800138000"], START, END)
        assert form(routes["recv"].calls.last.request)["mobile"] == "13800138000"
        routes["reply"].respond(text="1,2,13800138000,%E5%A5%BD,2020-01-01 08:00:00")
        assert (await sms.replies(debug=True))[0].content == "好"
        assert form(routes["reply"].calls.last.request)["debug"] == "1"
        await sms.replies_between(START, END, mobiles=["13800138000"])
        assert form(routes["reply"].calls.last.request)["action"] == "queryByCondition"
        routes["black"].respond(text="success:Non black number")
        assert not (await sms.blacklist_check("13800138000")).listed
        routes["black"].respond(text="error:Non black number or no allow operation")
        with pytest.raises(BlacklistOperationError):
            await sms.blacklist_remove("13800138000")
        routes["bind"].respond(text="success:1")
        assert await sms.bind_ips(["127.0.0.1"]) == "1"


@respx.mock
async def test_batch_and_soap() -> None:
    """send_batch posts to sms_batch.php; SOAP posts an envelope and parses the response."""
    respx.post(f"{A}/api/send/sms_batch.php").respond(text="success:7")
    soap_reply = (
        '<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
        "<e:Body><sendsmsResponse><return>success:8</return></sendsmsResponse></e:Body></e:Envelope>"
    )
    soap = respx.post(f"{A}/api/send/sms_webservice.php").respond(text=soap_reply)
    async with client() as sms:
        receipt = await sms.send_batch(
            [
                BatchItem(mobiles=("13800138000",), content="a"),
                BatchItem(mobiles=("+8613900139000",), content="b"),
            ]
        )
        assert receipt.accepted == ("13800138000", "13900139000")
        assert (await sms.send(["13800138000"], "x", format="soap")).msgid == "8"
    assert soap.calls.last.request.headers["content-type"].startswith("text/xml")


async def test_bad_input_is_refused_before_sending() -> None:
    """Invalid numbers, too many numbers, unencodable content and bad options raise at once."""
    async with client(encode="GBK", nodes=["http://127.0.0.1:9"]) as sms:
        with pytest.raises(InvalidNumberError, match="no valid number"):
            await sms.send(["123", "abc"], "x")
        with pytest.raises(ContentEncodingError, match=r"U\+1F600"):
            await sms.send(["13800138000"], "😀")
        with pytest.raises(InvalidParameterError, match="packet size"):
            await sms.send([f"138{i:08d}" for i in range(10_001)], "x")
    with pytest.raises(InvalidParameterError):
        client(method="PUT")
    with pytest.raises(InvalidParameterError):
        client(nodes=["mars"])
    with pytest.raises(InvalidParameterError):
        client(nodes="http://x")


async def test_secrets_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """repr and log lines carry neither the password, its md5 nor the apikey; numbers masked."""
    caplog.set_level(logging.DEBUG, logger="m5c_async")
    with respx.mock:
        respx.post(f"{A}/api/send/index.php").mock(side_effect=httpx.ReadTimeout("slow"))
        async with client() as sms:
            text = repr(sms)
            with pytest.raises(AmbiguousOutcomeError) as info:
                await sms.send(["13800138000"], "x")
    everything = text + caplog.text + str(info.value) + repr(info.value)
    for secret in (PASSWORD, md5_hex(PASSWORD), APIKEY):
        assert secret not in everything
    assert "13800138000" not in caplog.text
    assert "138****8000" in caplog.text


@respx.mock
async def test_node_names_use_the_catalog_and_scheme() -> None:
    """Catalog names map to https://host by default; scheme='http' on request."""
    route = respx.post("https://bj.5c.com.cn/api/query/index.php").respond(text="1/1")
    async with AsyncClient(
        username="mlrt", password="p", apikey=APIKEY, nodes=["beijing"], wire="httpx"
    ) as sms:
        await sms.balance()
    assert route.called
    plain = respx.post("http://m.5c.com.cn/api/query/index.php").respond(text="1/1")
    async with AsyncClient(
        username="mlrt", password="p", apikey=APIKEY, scheme="http", wire="httpx"
    ) as sms:
        await sms.balance()
        assert [n.name for n in sms.nodes] == ["qingdao", "beijing", "hongkong", "us"]
    assert plain.called


@respx.mock
async def test_wrong_charset_reply() -> None:
    """A reply in the wrong charset is a format error naming the encoding."""
    respx.post(f"{A}/api/query/index.php").respond(content="余额".encode("gbk"))
    async with client(nodes=[A]) as sms:
        with pytest.raises(ReplyFormatError, match="UTF-8"):
            await sms.balance()


@respx.mock
async def test_authentication_error_keeps_the_node() -> None:
    """A query's provider error names the node that answered."""
    respx.post(f"{A}/api/query/index.php").respond(text="error:APIKEY or password error")
    async with client() as sms:
        with pytest.raises(AuthenticationError) as info:
            await sms.balance()
    assert info.value.node == A
