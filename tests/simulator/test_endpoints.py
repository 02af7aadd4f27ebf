"""Every endpoint and every error reply of the simulator, over HTTP in process (ASGITransport)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from m5c_async import Credentials, md5_hex
from m5c_async.protocol import (
    BatchItem,
    Encoding,
    RequestSpec,
    build_billing,
    build_blacklist_check,
    build_blacklist_remove,
    build_records,
    build_replies,
    build_replies_between,
    build_reports,
    build_reports_for,
    build_send,
    build_send_batch,
    parse_balance,
    parse_billing,
    parse_records,
    parse_replies,
    parse_reports,
    parse_soap_send,
)
from m5c_async.simulator import AccountConfig, NodeFaults, Platform
from tests.conftest import APIKEY, PASSWORD, WALL_OFFSET, FakeClock

MD5 = md5_hex(PASSWORD)
DOC_CONTENT = (
    "%e9%aa%8c%e8%af%81%e7%a0%81%e6%98%af%ef%bc%9a1A1C%e3%80%90%e7%ad%be%e5%90%8d%e3%80%91%0a"
)
# §2.3's example URLs, verbatim but for the credentials, the numbers and the time window.
DOC_URLS = {
    "send": "/api/send/index.php?username=mlrt&password_md5={md5}&apikey={key}&mobile=13800138000"
    f"&content={DOC_CONTENT}&encode=utf-8",
    "scheduled": "/api/send/index.php?username=mlrt&password_md5={md5}&apikey={key}"
    f"&mobile=13800138000&content={DOC_CONTENT}&encode=utf-8&startTime=1999999999",
    "balance": "/api/query/index.php?username=mlrt&password_md5={md5}&apikey={key}",
    "record": "/api/query/index.php?username=mlrt&password_md5={md5}&apikey={key}"
    "&action=record&from=1398873600&to=1999999999",
    "reports": "/api/recv/index.php?username=mlrt&password_md5={md5}&apikey={key}",
    "reports_for": "/api/recv/index.php?username=mlrt&password_md5={md5}&apikey={key}"
    "&from=1402903139&to=1999999999&mobile=13800138000",
    "replies": "/api/reply/index.php?username=mlrt&password_md5={md5}&apikey={key}",
    "bind": "/api/bind/index.php?username=mlrt&password_md5={md5}&apikey={key}"
    "&ip=127.0.0.1&action=0",
    "black_check": "/api/black/index.php?username=mlrt&password_md5={md5}&apikey={key}"
    "&action=check&mobile=18600000001",
    "black_remove": "/api/black/index.php?username=mlrt&password_md5={md5}&apikey={key}"
    "&action=add&mobile=18600000001",
}
SHAPES = {
    "send": r"success:\d{14}",
    "scheduled": r"success:\d{14}",
    "balance": r"\d+/\d+",
    "record": r"mlrt,\d{14},13800138000,.*,\d{10};.*",
    "reports": r"no record",
    "reports_for": r"no record",
    "replies": r"no record",
    "bind": r"success:1",
    "black_check": r"success:Non black number",
    "black_remove": r"error:Non black number or no allow operation",
}
T_START = datetime(2020, 1, 1, tzinfo=UTC)
T_END = datetime(2040, 1, 1, tzinfo=UTC)


async def call(http: httpx.AsyncClient, spec: RequestSpec, node: str = "qingdao") -> str:
    headers = dict(spec.headers)
    if spec.content_type:
        headers["content-type"] = spec.content_type
    response = await http.request(
        spec.method,
        f"http://{node}{spec.path}",
        params=spec.query or None,
        content=spec.body,
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.content.decode(spec.encoding.codec)


async def test_document_example_urls_replayed(http: httpx.AsyncClient) -> None:
    """Each §2.3 example URL gets a reply of the documented shape, in order."""
    import re

    for name, template in DOC_URLS.items():
        response = await http.get(template.format(md5=MD5, key=APIKEY))
        assert response.status_code == 200
        assert re.fullmatch(SHAPES[name], response.text, re.DOTALL), (name, response.text)


async def test_doc_content_arrives_decoded(http: httpx.AsyncClient, platform: Platform) -> None:
    """The document's single-encoded content is read as 验证码是：1A1C【签名】\\n."""
    await http.get(DOC_URLS["send"].format(md5=MD5, key=APIKEY))
    assert platform.ledger[0].content == "验证码是：1A1C【签名】\n"


CONTENT = "验证码：1A1C % + & = # ; , 【签名】\n😀"


@pytest.mark.parametrize(
    ("fmt", "method"),
    [(f, m) for f in ("form", "json", "xml") for m in ("GET", "POST")] + [("soap", "POST")],
)
async def test_send_every_format(
    http: httpx.AsyncClient, platform: Platform, creds: Credentials, fmt: str, method: str
) -> None:
    """Content arrives intact in all four formats, both methods (SOAP is POST only, §3.4)."""
    spec = build_send(creds, ["13800000000", "13900000000"], CONTENT, format=fmt, method=method)
    text = await call(http, spec)
    msgid = parse_soap_send(text) if fmt == "soap" else text.removeprefix("success:")
    assert len(msgid) == 14
    [entry] = platform.ledger
    assert entry.content == CONTENT
    assert entry.mobiles == ("13800000000", "13900000000")
    assert entry.msgid == msgid


async def test_gbk_send(http: httpx.AsyncClient, platform: Platform, creds: Credentials) -> None:
    """GBK content decodes by encode."""
    text = await call(
        http, build_send(creds, ["13800000000"], "验证码【签名】", encoding=Encoding.GBK)
    )
    assert text.startswith("success:")
    assert platform.ledger[0].content == "验证码【签名】"


async def test_batch(http: httpx.AsyncClient, platform: Platform, creds: Credentials) -> None:
    """sms_batch.php: every item in the ledger under one msgid."""
    items = [
        BatchItem(mobiles=("13800000000",), content="验证码:123"),
        BatchItem(mobiles=("18610310000",), content="验证码:456"),
    ]
    text = await call(http, build_send_batch(creds, items))
    assert text.startswith("success:")
    assert [(e.mobiles, e.content) for e in platform.ledger] == [
        (("13800000000",), "验证码:123"),
        (("18610310000",), "验证码:456"),
    ]
    assert platform.ledger[0].msgid == platform.ledger[1].msgid


def _form(**fields: str) -> dict[str, str]:
    base = {"username": "mlrt", "password_md5": MD5, "apikey": APIKEY, "encode": "UTF-8"}
    base.update(fields)
    return {k: v for k, v in base.items() if v != "<omit>"}


@pytest.mark.parametrize(
    ("fields", "reply"),
    [
        (_form(username="", mobile="13800000000", content="x"), "error:Missing username"),
        (_form(password_md5="", mobile="13800000000", content="x"), "error:Missing password"),
        (_form(apikey="", mobile="13800000000", content="x"), "error:Missing apikey"),
        (
            _form(password_md5="abc", mobile="13800000000", content="x"),
            "error:Invalid md5 password length",
        ),
        (
            _form(password_md5="0" * 32, mobile="13800000000", content="x"),
            "error:APIKEY or password error",
        ),
        (
            _form(apikey="x" * 32, mobile="13800000000", content="x"),
            "error:APIKEY or password error",
        ),
        (
            _form(username="nobody", mobile="13800000000", content="x"),
            "error:APIKEY or password error",
        ),
        (_form(mobile="", content="x"), "error:Missing recipient"),
        (_form(mobile="12345", content="x"), "error:Missing recipient"),
        (_form(mobile="13800000000", content=""), "error:Missing message content"),
        (_form(mobile="13800000000", content="%ff%fe"), "error:Missing message content"),
        (_form(mobile="13800000000", content="x" * 501), "error:Missing message content"),
        (_form(mobile="13800000000", content="x", encode="latin1"), "error:Unrecognized encoding"),
        (_form(mobile="13800000000", content="x", encode="<omit>"), "error:Unrecognized encoding"),
    ],
)
async def test_send_errors(http: httpx.AsyncClient, fields: dict[str, str], reply: str) -> None:
    """Each documented error for the condition it names."""
    response = await http.post("/api/send/index.php", data=fields)
    assert response.text == reply


async def test_uppercase_md5_is_accepted(http: httpx.AsyncClient) -> None:
    """The §3.2 example's uppercase md5 authenticates (docs/protocol.md)."""
    response = await http.post(
        "/api/send/index.php",
        data=_form(password_md5=MD5.upper(), mobile="13800000000", content="x"),
    )
    assert response.text.startswith("success:")


async def test_blocked_balance_and_ip(http: httpx.AsyncClient, platform: Platform) -> None:
    """Blocked account, insufficient balance, unauthorized IP."""
    state = platform.account("mlrt")
    send = _form(mobile="13800000000", content="x")
    state.blocked = True
    assert (await http.post("/api/send/index.php", data=send)).text == "error:Account is blocked"
    state.blocked = False
    state.balance = 0
    assert (await http.post("/api/send/index.php", data=send)).text == (
        "error:Account balance is insufficient"
    )
    state.balance = 100
    bind = await http.post("/api/bind/index.php", data=_form(ip="10.1.1.1,10.1.1.2", action="0"))
    assert bind.text == "success:2"
    assert (await http.post("/api/send/index.php", data=send)).text == (
        "error:Unauthorized IP address"
    )
    assert (await http.post("/api/query/index.php", data=_form())).text == (
        "error:Unauthorized IP address"
    )


async def test_billing_segments(http: httpx.AsyncClient, platform: Platform) -> None:
    """Long messages cost ceil(n/67) per number; the balance falls accordingly."""
    await http.post(
        "/api/send/index.php", data=_form(mobile="13800000000,13900000000", content="好" * 71)
    )
    assert parse_balance(
        (await http.post("/api/query/index.php", data=_form())).text
    ).remaining == (10_000_000 - 4)


async def test_queries(
    http: httpx.AsyncClient, platform: Platform, clock: FakeClock, creds: Credentials
) -> None:
    """records, billing (with sub-accounts), reports pull and by number, replies both ways."""
    platform.add_account(
        AccountConfig(username="child", password="pw", apikey="c" * 32, parent="mlrt")
    )
    await call(http, build_send(creds, ["13800000000", "13900000000"], "a,b;c 你好"))
    records = parse_records(await call(http, build_records(creds, T_START, T_END), "beijing"))
    assert [(r.mobiles, r.content) for r in records] == [
        (("13800000000", "13900000000"), "a,b;c 你好")
    ]
    billing = parse_billing(await call(http, build_billing(creds, T_START, T_END)))
    assert [(b.username, b.sent_domestic) for b in billing] == [("mlrt", 2), ("child", 0)]
    only = parse_billing(await call(http, build_billing(creds, T_START, T_END, agent="child")))
    assert [b.username for b in only] == ["child"]
    missing = await http.post("/api/query/index.php", data=_form(action="record", to="1"))
    assert missing.text == "error:Missing from parameter"
    missing = await http.post("/api/query/index.php", data=_form(action="billing", **{"from": "1"}))
    assert missing.text == "error:Missing to parameter"

    assert parse_reports(await call(http, build_reports(creds))) == []
    clock.advance(3.1)
    assert platform.tick() == 2
    pulled = parse_reports(await call(http, build_reports(creds), "hongkong"))
    assert sorted(r.mobile for r in pulled) == ["13800000000", "13900000000"]
    assert parse_reports(await call(http, build_reports(creds))) == []
    again = build_reports_for(creds, ["13800000000"], T_START, T_END)
    assert len(parse_reports(await call(http, again))) == 1
    assert len(parse_reports(await call(http, again))) == 1

    platform.inject_reply("mlrt", "13800000000", "好的, 收到;", ext="12")
    debug = parse_replies(await call(http, build_replies(creds, debug=True)))
    assert [r.content for r in debug] == ["好的, 收到;"]
    once = parse_replies(await call(http, build_replies(creds)))
    assert [(r.ext, r.mobile) for r in once] == [("12", "13800000000")]
    assert parse_replies(await call(http, build_replies(creds))) == []
    window = build_replies_between(creds, T_START, T_END, mobiles=["13800000000"])
    assert len(parse_replies(await call(http, window))) == 1
    other = build_replies_between(creds, T_START, T_END, mobiles=["13900000000"])
    assert parse_replies(await call(http, other)) == []


async def test_blacklist_rules(
    http: httpx.AsyncClient, platform: Platform, clock: FakeClock, creds: Credentials
) -> None:
    """Complaints cannot be removed; TD blacklistings can; blacklisted numbers get NOSEND."""
    platform.blacklist_add("mlrt", "18600000001", "complaint", "10086 complaint")
    platform.blacklist_add("mlrt", "18600000002", "td")
    status = await call(http, build_blacklist_check(creds, "18600000001"))
    assert status.startswith("success:Black number;Desc:10086 complaint;Addtime:")
    assert await call(http, build_blacklist_remove(creds, "18600000001")) == (
        "error:Non black number or no allow operation"
    )
    assert (
        await call(http, build_blacklist_remove(creds, "18600000002"))
        == "success:Added white number"
    )
    assert (
        await call(http, build_blacklist_check(creds, "18600000002")) == "success:Non black number"
    )
    await call(http, build_send(creds, ["18600000001"], "x"))
    clock.advance(5)
    platform.tick()
    [report] = parse_reports(await call(http, build_reports(creds)))
    assert report.status == "NOSEND"


async def test_black_keywords_give_nosend(
    http: httpx.AsyncClient, platform: Platform, clock: FakeClock, creds: Credentials
) -> None:
    """Content holding a black keyword is accepted and reported NOSEND."""
    platform.account("mlrt").black_keywords = ("赌博",)
    assert (await call(http, build_send(creds, ["13800000000"], "赌博网站"))).startswith("success:")
    clock.advance(5)
    platform.tick()
    [report] = parse_reports(await call(http, build_reports(creds)))
    assert report.status == "NOSEND"


async def test_scheduled_send_reports_after_its_time(
    http: httpx.AsyncClient, platform: Platform, clock: FakeClock, creds: Credentials
) -> None:
    """A future startTime is accepted; its report comes after that time."""
    at = datetime.fromtimestamp(WALL_OFFSET + clock.now + 60, tz=UTC)
    assert (await call(http, build_send(creds, ["13800000000"], "later", at=at))).startswith(
        "success:"
    )
    clock.advance(10)
    assert platform.tick() == 0
    clock.advance(55)
    assert platform.tick() == 1


async def test_wsdl_and_soap_faults(http: httpx.AsyncClient) -> None:
    """?wsdl describes sendsms; a non-SOAP POST gets a Fault; GET without ?wsdl is refused."""
    wsdl = await http.get("/api/send/sms_webservice.php?wsdl")
    assert b'<operation name="sendsms">' in wsdl.content
    fault = await http.post("/api/send/sms_webservice.php", content=b"<a/>")
    assert fault.status_code == 500
    assert b"Fault" in fault.content
    assert (await http.get("/api/send/sms_webservice.php")).status_code == 405
    assert (await http.get("/nope")).status_code == 404


async def test_admin_endpoints(
    http: httpx.AsyncClient, platform: Platform, faults: dict[str, NodeFaults]
) -> None:
    """stats, faults, reply injection, account changes, ledger."""
    stats = (await http.get("/_sim/stats")).json()
    assert {"accepted", "throttled", "duplicates", "per_second", "per_node"} <= stats.keys()
    changed = await http.post("/_sim/faults", json={"node": "beijing", "latency": 0.01})
    assert changed.json()["beijing"]["latency"] == 0.01
    assert faults["beijing"].latency == 0.01
    bad = await http.post("/_sim/faults", json={"node": "beijing", "error_ratio": 2})
    assert bad.status_code == 400
    reply = await http.post(
        "/_sim/reply", json={"username": "mlrt", "mobile": "13800000000", "content": "嗯"}
    )
    assert reply.json()["replyid"]
    account = await http.post(
        "/_sim/account",
        json={"username": "mlrt", "balance": 5, "blacklist": [["13700000000", "td"]]},
    )
    assert account.json()["balance"] == 5
    assert "13700000000" in platform.account("mlrt").blacklist
    assert (await http.get("/_sim/ledger")).json() == []
    assert (await http.get("/_sim/unknown")).status_code == 404
    assert (await http.post("/_sim/throttle", json={"seconds": 5})).status_code == 200


async def test_duplicates_are_counted(http: httpx.AsyncClient, platform: Platform) -> None:
    """The same mobile and content accepted twice is one duplicate."""
    send = _form(mobile="13800000000", content="same")
    await http.post("/api/send/index.php", data=send)
    await http.post("/api/send/index.php", data=send)
    await http.post("/api/send/index.php", data=_form(mobile="13800000000", content="other"))
    assert platform.stats.duplicates == 1
    assert platform.stats.accepted == 3


async def test_faults_in_process(
    http: httpx.AsyncClient, platform: Platform, faults: dict[str, NodeFaults]
) -> None:
    """5xx, throttle storms and latency apply per node."""
    send = _form(mobile="13800000000", content="x")
    faults["qingdao"].update({"error_ratio": 1.0})
    assert (await http.post("/api/send/index.php", data=send)).status_code in (500, 502, 503)
    assert platform.ledger == []
    faults["qingdao"].update({"error_ratio": 0, "throttle_ratio": 1.0})
    assert (
        await http.post("/api/send/index.php", data=send)
    ).text == "error:Throughput Rate Exceeded"
    ok = await http.post("http://beijing/api/send/index.php", data=send)
    assert ok.text.startswith("success:")


async def test_oversized_body_is_refused(platform: Platform) -> None:
    """A body above MAX_BODY gets 413 without being held."""
    from m5c_async.simulator import _app

    app = _app.NodeApp(platform, "qingdao")
    original = _app.MAX_BODY
    _app.MAX_BODY = 10  # type: ignore[misc]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://q"
        ) as c:
            response = await c.post("/api/send/index.php", content=b"x" * 100)
    finally:
        _app.MAX_BODY = original  # type: ignore[misc]
    assert response.status_code == 413


async def test_international_numbers_use_their_own_balance(
    http: httpx.AsyncClient, platform: Platform, creds: Credentials
) -> None:
    """International segments are paid from the international balance, as billing shows."""
    state = platform.account("mlrt")
    before = state.international_balance
    await call(http, build_send(creds, ["447874321404", "13800000000"], "hi"))
    assert state.international_balance == before - Decimal("0.050")
    assert state.charged == 1
    [entry] = parse_billing(await call(http, build_billing(creds, T_START, T_END)))
    assert (entry.sent_domestic, entry.sent_international) == (1, 1)
    assert entry.international.remaining == before - Decimal("0.050")
    state.international_balance = Decimal(0)
    assert await call(http, build_send(creds, ["447874321404"], "hi")) == (
        "error:Account balance is insufficient"
    )
