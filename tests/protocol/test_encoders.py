"""Encoders: form, JSON, XML, SOAP and batch requests, content rules, times and parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, unquote_plus

import orjson
import pytest
from defusedxml import ElementTree as SafeET

from m5c_async import (
    ContentEncodingError,
    ContentError,
    Credentials,
    InvalidParameterError,
    InvalidTimeError,
    md5_hex,
)
from m5c_async.protocol import (
    BatchItem,
    Encoding,
    EndpointName,
    build_balance,
    build_billing,
    build_bind_ips,
    build_blacklist_check,
    build_blacklist_remove,
    build_records,
    build_replies,
    build_replies_between,
    build_reports,
    build_reports_for,
    build_send,
    build_send_batch,
    check_content,
    encode_content,
    normalize_encoding,
    to_unix,
)
from tests.conftest import APIKEY, PASSWORD

# The content of every example URL of the document (§2.3, §3.1.2): 验证码是：1A1C【签名】\n
DOC_CONTENT = (
    "%e9%aa%8c%e8%af%81%e7%a0%81%e6%98%af%ef%bc%9a1A1C%e3%80%90%e7%ad%be%e5%90%8d%e3%80%91%0a"
)
TRICKY = "验证码：1A1C % + & = # ; , 【签名】\n换行 😀"
T0 = datetime(2015, 1, 29, 10, 14, 33, tzinfo=UTC)


def fields(spec_body: bytes) -> dict[str, str]:
    return dict(parse_qsl(spec_body.decode("ascii"), keep_blank_values=True))


def test_md5_is_lowercase_and_ready_md5_is_accepted() -> None:
    """Passwords become lowercase md5; an uppercase ready md5 is lowered."""
    assert md5_hex("123456") == "e10adc3949ba59abbe56e057f20f883e"
    c = Credentials.create(
        username="mlrt", password_md5="E10ADC3949BA59ABBE56E057F20F883E", apikey=APIKEY
    )
    assert c.password_md5 == "e10adc3949ba59abbe56e057f20f883e"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"username": "mlrt", "apikey": APIKEY},
        {"username": "mlrt", "apikey": APIKEY, "password": "a", "password_md5": "0" * 32},
        {"username": "ml", "apikey": APIKEY, "password": "a"},
        {"username": "mlrt", "apikey": APIKEY, "password_md5": "abc"},
        {"username": "mlrt", "apikey": "", "password": "a"},
        {"username": "mlrt", "apikey": APIKEY, "password": ""},
    ],
)
def test_credentials_rules(kwargs: dict[str, str]) -> None:
    """Bad credential combinations raise InvalidParameterError."""
    with pytest.raises(InvalidParameterError):
        Credentials.create(**kwargs)


def test_credentials_repr_hides_secrets(creds: Credentials) -> None:
    """Neither the password, its md5 nor the apikey appear in the repr."""
    text = repr(creds) + str(creds)
    for secret in (PASSWORD, creds.password_md5, APIKEY):
        assert secret not in text


def test_document_content_example_round_trips() -> None:
    """Our urlencoding of the document's sample text matches its URLs (case aside)."""
    text = unquote_plus(DOC_CONTENT)
    assert text == "验证码是：1A1C【签名】\n"
    assert encode_content(text).lower() == DOC_CONTENT.lower()


def test_form_post_double_encodes_content(creds: Credentials) -> None:
    """POST carries every field in the body; content survives two decodings."""
    spec = build_send(creds, ["13800000000", "13900000000"], TRICKY)
    assert spec.method == "POST" and spec.query == ()
    assert spec.content_type == "application/x-www-form-urlencoded"
    f = fields(spec.body or b"")
    assert f["mobile"] == "13800000000,13900000000"
    assert f["encode"] == "UTF-8"
    assert f["password_md5"] == creds.password_md5
    assert unquote_plus(f["content"]) == TRICKY
    assert APIKEY not in repr(spec)


def test_form_get_puts_fields_in_the_query(creds: Credentials) -> None:
    """GET carries the fields in the URL query."""
    spec = build_send(creds, ["13800000000"], "hi", method="GET", at=T0, ext=3456)
    q = dict(spec.query)
    assert spec.body is None
    assert q["startTime"] == "1422526473"
    assert q["ext"] == "3456"


def test_gbk_content(creds: Credentials) -> None:
    """GBK content is urlencoded from GBK bytes."""
    spec = build_send(creds, ["13800000000"], "验证码【签名】", encoding=Encoding.GBK)
    f = fields(spec.body or b"")
    assert f["encode"] == "GBK"
    raw = unquote_plus(f["content"], encoding="gbk")
    assert raw == "验证码【签名】"


def test_gbk_refuses_emoji_naming_the_character() -> None:
    """The first character GBK cannot carry is named, with its position."""
    with pytest.raises(ContentEncodingError) as info:
        check_content("好😀", Encoding.GBK)
    assert info.value.char == "😀"
    assert info.value.position == 1
    assert "U+1F600" in str(info.value)


@pytest.mark.parametrize("content", ["", "x" * 501, "a\x00b"])
def test_content_rules(content: str) -> None:
    """Empty, over 500 characters and NUL are refused."""
    with pytest.raises(ContentError):
        check_content(content)


def test_content_of_500_characters_is_fine() -> None:
    """500 characters (code points) is the limit, inclusive."""
    assert check_content("好" * 500)


def test_json_payload(creds: Credentials) -> None:
    """format=json carries the §3.2 fields with urlencoded content."""
    spec = build_send(creds, ["13800000000"], TRICKY, format="json", at=T0, ext="12")
    f = fields(spec.body or b"")
    assert f["format"] == "json"
    doc = orjson.loads(f["data"])
    assert doc["type"] == "send"
    assert doc["username"] == "mlrt"
    assert doc["startTime"] == "1422526473"
    assert doc["ext"] == "12"
    assert unquote_plus(doc["content"]) == TRICKY
    assert spec.endpoint is EndpointName.SEND_JSON


def test_xml_payload(creds: Credentials) -> None:
    """format=xml carries the §3.3 document, escaped, with urlencoded content."""
    spec = build_send(creds, ["13800000000"], "a<b>&c", format="xml", method="GET")
    q = dict(spec.query)
    assert q["format"] == "xml"
    root = SafeET.fromstring(q["data"])
    assert root.tag == "sms"
    assert root.findtext("type") == "send"
    assert unquote_plus(root.findtext("content") or "") == "a<b>&c"


def test_soap_envelope(creds: Credentials) -> None:
    """SOAP carries plain content and the md5 as password; no query, POST only."""
    spec = build_send(creds, ["13800000000"], "好 & <b>\r\n", format="soap")
    assert spec.method == "POST" and spec.query == ()
    root = SafeET.fromstring(spec.body or b"")
    call = next(el for el in root.iter() if el.tag.endswith("sendsms"))
    values = {el.tag: el.text for el in call}
    assert values["password"] == creds.password_md5
    assert values["content"] == "好 & <b>\r\n"
    assert dict(spec.headers)["SOAPAction"].endswith('#sendsms"')


def test_soap_refuses_schedule_and_control_characters(creds: Credentials) -> None:
    """SOAP has no startTime/ext, and XML 1.0 cannot carry control characters."""
    with pytest.raises(InvalidParameterError):
        build_send(creds, ["13800000000"], "x", format="soap", at=T0)
    with pytest.raises(ContentError):
        build_send(creds, ["13800000000"], "a\x07b", format="soap")


def test_batch_document(creds: Credentials) -> None:
    """sms_batch.php: account block and one item each, startTime 0 when immediate."""
    items = [
        BatchItem(mobiles=("13800000000",), content="验证码:123"),
        BatchItem(mobiles=("18610310000", "18610310001"), content="验证码:456", at=T0),
    ]
    spec = build_send_batch(creds, items)
    f = fields(spec.body or b"")
    root = SafeET.fromstring(f["data"])
    assert root.findtext("account/username") == "mlrt"
    got = [
        (i.findtext("mobile"), unquote_plus(i.findtext("content") or ""), i.findtext("startTime"))
        for i in root.iter("item")
    ]
    assert got == [
        ("13800000000", "验证码:123", "0"),
        ("18610310000,18610310001", "验证码:456", "1422526473"),
    ]
    with pytest.raises(InvalidParameterError):
        build_send_batch(creds, [])
    with pytest.raises(InvalidParameterError):
        build_send_batch(creds, [BatchItem(mobiles=(), content="x")])


def test_batch_refuses_past_times(creds: Credentials) -> None:
    """A batch item scheduled before ``now`` is refused."""
    with pytest.raises(InvalidTimeError):
        build_send_batch(
            creds, [BatchItem(mobiles=("13800000000",), content="x", at=T0)], now=T0 + timedelta(1)
        )


def test_times() -> None:
    """Aware datetimes become 10-digit Unix times; naive and out-of-range ones are refused."""
    assert to_unix(datetime(2014, 5, 1, 0, 0, tzinfo=timezone(timedelta(hours=8)))) == "1398873600"
    with pytest.raises(InvalidTimeError):
        to_unix(datetime(2014, 5, 1))
    with pytest.raises(InvalidTimeError):
        to_unix(datetime(1990, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidTimeError):
        to_unix("2014-05-01")  # type: ignore[arg-type]


def test_send_argument_rules(creds: Credentials) -> None:
    """ext, mobiles, method and past times are checked before anything is built."""
    with pytest.raises(InvalidParameterError):
        build_send(creds, ["13800000000"], "x", ext="12345678901")
    with pytest.raises(InvalidParameterError):
        build_send(creds, ["13800000000"], "x", ext="12a")
    with pytest.raises(InvalidParameterError):
        build_send(creds, "13800000000", "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        build_send(creds, [], "x")
    with pytest.raises(InvalidParameterError):
        build_send(creds, ["138 0000"], "x")
    with pytest.raises(InvalidParameterError):
        build_send(creds, ["13800000000"], "x", method="PUT")
    with pytest.raises(InvalidTimeError):
        build_send(creds, ["13800000000"], "x", at=T0, now=T0 + timedelta(seconds=1))
    with pytest.raises(ValueError, match="carrier"):
        build_send(creds, ["13800000000"], "x", format="carrier")


def test_encoding_names() -> None:
    """encode accepts GBK and UTF-8 in any case."""
    assert normalize_encoding("utf-8") is Encoding.UTF8
    assert normalize_encoding("UTF8") is Encoding.UTF8
    assert normalize_encoding(" gbk ") is Encoding.GBK
    with pytest.raises(InvalidParameterError):
        normalize_encoding("latin-1")


def test_query_builders(creds: Credentials) -> None:
    """Every other endpoint carries its documented parameters."""
    start, end = T0, T0 + timedelta(days=1)
    assert fields(build_balance(creds).body or b"").keys() == {"username", "password_md5", "apikey"}
    rec = fields(build_records(creds, start, end).body or b"")
    assert (rec["action"], rec["from"], rec["to"], rec["encode"]) == (
        "record",
        "1422526473",
        "1422612873",
        "UTF-8",
    )
    bill = fields(build_billing(creds, start, end, agent="sub1").body or b"")
    assert (bill["action"], bill["agent_username"]) == ("billing", "sub1")
    assert fields(build_billing(creds, start, end).body or b"")["agent_username"] == ""
    with pytest.raises(InvalidParameterError):
        build_billing(creds, start, end, agent="x" * 33)
    assert "action" not in fields(build_reports(creds).body or b"")
    rf = fields(build_reports_for(creds, ["13800000000"], start, end).body or b"")
    assert rf["mobile"] == "13800000000" and rf["from"] == "1422526473"
    assert fields(build_replies(creds, debug=True).body or b"")["debug"] == "1"
    assert "debug" not in fields(build_replies(creds).body or b"")
    rb = fields(build_replies_between(creds, start, end, mobiles=["13800000000"]).body or b"")
    assert (rb["action"], rb["mobile"]) == ("queryByCondition", "13800000000")
    assert "mobile" not in fields(build_replies_between(creds, start, end).body or b"")
    chk = fields(build_blacklist_check(creds, "18600000001").body or b"")
    assert (chk["action"], chk["mobile"]) == ("check", "18600000001")
    rm = fields(build_blacklist_remove(creds, "18600000001").body or b"")
    assert rm["action"] == "add"
    with pytest.raises(InvalidParameterError):
        build_blacklist_check(creds, "186-0000")
    bind = fields(build_bind_ips(creds, ["10.0.0.1", "192.168.001.2"]).body or b"")
    assert (bind["ip"], bind["action"]) == ("10.0.0.1,192.168.1.2", "0")
    for bad in (["10.0.0.256"], ["a.b.c.d"], [], "10.0.0.1"):
        with pytest.raises(InvalidParameterError):
            build_bind_ips(creds, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidTimeError):
        build_records(creds, end, start)
