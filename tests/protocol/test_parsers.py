"""Reply parsers, driven by the document's own example replies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from m5c_async import (
    AuthenticationError,
    BlacklistOperationError,
    ProviderError,
    ReplyFormatError,
    ThrottledError,
    UnknownProviderError,
)
from m5c_async.protocol import (
    SHANGHAI,
    Encoding,
    decode_body,
    format_soap_fault,
    format_soap_reply,
    parse_balance,
    parse_billing,
    parse_bind,
    parse_blacklist_check,
    parse_blacklist_remove,
    parse_records,
    parse_replies,
    parse_reports,
    parse_send,
    parse_soap_send,
    parse_wall_time,
    url_decode,
)

# §5.1 / §5.1.2
RECORDS_EXAMPLE = (
    "mlrt,13958008415478,13940728107|13811299933,%e6%82%a8%e7%9a%84%e9%aa%8c%e8%af%81%e7"
    "%a0%81%e6%98%af%ef%bc%9a123456%e3%80%90%e7%be%8e%e9%80%9a%e3%80%91,1395800841;"
)
# §5.1 billing
BILLING_EXAMPLE = (
    "username:filter,sum:61/0/0/0,balance:974|83/157.000|74.320/110|95/0/0;"
    "username:asdf12asdzcq,sum:0/0/0/0,balance:103|100/0.000|0.000/0/0/0;"
)
# §6.1.6
REPORTS_4 = (
    "30911175558600,13811299999,DELIVRD,2013-09-12 09:09:31;"
    "30911175558598,13811299999,DELIVRD,2013-09-12 09:09:32;"
)
REPORTS_5 = "3456,30911175558600,13811299999,DELIVRD,2013-09-12 09:09:31;"
# §6.1.5 table, as comma-separated records
REPORTS_6 = (
    "3456,13568864638358,2267476,13919214967,DELIVRD,2012-11-15 18:19:52;"
    "5121,13572813669546,3921117,13910704663,UNDELIV,2012-11-15 19:39:12;"
)
# §8.3 and §8.3.1
REPLIES_PIPES = (
    "3451,1281439,18600000001,%E4%B8%8D%E5%91%8A%E8%AF%89%E4%BD%A0,2016-03-01 10:48:06|||"
    "3451,1281459,18600000001,%E4%B8%8D%E5%91%8A%E8%AF%89%E4%BD%A0,2016-03-01 10:50:06"
)
REPLIES_SEMI = (
    "1236,92,18610310000,%E4%B8%8D%E5%91%8A%E8%AF%89%E4%BD%A0,2013-09-30 12:39:54;"
    "90,15210954925,%E4%B8%8D%E5%91%8A%E8%AF%89%E4%BD%A0,2013-09-30 12:40:14"
)


def test_send_success_and_errors() -> None:
    """success:msgid gives the msgid; errors raise their class."""
    assert parse_send("success:13958008415478\n") == "13958008415478"
    with pytest.raises(ThrottledError):
        parse_send("error:Throughput Rate Exceeded")
    with pytest.raises(AuthenticationError) as info:
        parse_send("error:APIKEY or password error", node="beijing", endpoint="send")
    assert info.value.node == "beijing"


@pytest.mark.parametrize(
    "text", ["", "success:", "success:abc", "<html><body>502 Bad Gateway</body></html>", "succ"]
)
def test_send_malformed(text: str) -> None:
    """Anything but success:<digits> is a ReplyFormatError with an excerpt."""
    with pytest.raises(ReplyFormatError) as info:
        parse_send(text)
    assert info.value.text == text[:200]


def test_balance() -> None:
    """remaining/total, decimals allowed."""
    assert parse_balance("974/1000") == parse_balance(" 974/1000\r\n")
    b = parse_balance("157.500/200")
    assert (b.remaining, b.total) == (Decimal("157.500"), Decimal(200))
    for bad in ("974", "a/b", "1/2/3", ""):
        with pytest.raises(ReplyFormatError):
            parse_balance(bad)


def test_records_example() -> None:
    """The §5.1.2 example: user, msgid, |-separated mobiles, urlencoded content, time."""
    [rec] = parse_records(RECORDS_EXAMPLE)
    assert rec.username == "mlrt"
    assert rec.msgid == "13958008415478"
    assert rec.mobiles == ("13940728107", "13811299933")
    assert rec.content == "您的验证码是：123456【美通】"
    assert rec.sent_at == datetime.fromtimestamp(1395800841, tz=SHANGHAI)


def test_records_table_rendering_with_a_space() -> None:
    """The table copy of §5.1.2 shows a space where the pipe was; both are read."""
    [rec] = parse_records(RECORDS_EXAMPLE.replace("|", " "))
    assert rec.mobiles == ("13940728107", "13811299933")


def test_records_empty_and_malformed() -> None:
    """no record and an empty body are none; wrong field counts and bad times are errors."""
    assert parse_records("no record") == []
    assert parse_records("") == parse_records(" \r\n") == []
    for bad in ("mlrt,1,2,3", "mlrt,x,138,abc,1395800841;", "mlrt,1,138,abc,later;"):
        with pytest.raises(ReplyFormatError):
            parse_records(bad)


def test_records_gbk_content() -> None:
    """Record content is decoded by the request's encode."""
    text = "mlrt,1,13800000000,%D1%E9%D6%A4%C2%EB,1395800841;"
    assert parse_records(text, Encoding.GBK)[0].content == "验证码"


def test_billing_example_including_the_shorter_form() -> None:
    """Both blocks of §5.1; the second omits its last balance value."""
    first, second = parse_billing(BILLING_EXAMPLE)
    assert first.username == "filter"
    assert (first.sent_domestic, first.sent_international) == (61, 0)
    assert first.domestic.charged == Decimal(974)
    assert first.domestic.remaining == Decimal(83)
    assert first.international.remaining == Decimal("74.320")
    assert (first.mms.charged, first.mms.remaining) == (Decimal(110), Decimal(95))
    assert first.voice.remaining == Decimal(0)
    assert second.username == "asdf12asdzcq"
    assert second.domestic.remaining == Decimal(100)
    assert second.voice.charged == Decimal(0)
    assert second.voice.remaining is None
    assert second.raw_balance == "103|100/0.000|0.000/0/0/0"


def test_billing_short_sum_and_malformed() -> None:
    """A sum with fewer totals is padded with zeros; garbage is refused."""
    [entry] = parse_billing("username:a,sum:5,balance:10|9;")
    assert (entry.sent_domestic, entry.sent_voice) == (5, 0)
    assert entry.international.charged is None
    assert parse_billing("") == []
    for bad in (
        "username:a;",
        "username:a,sum:x,balance:1;",
        "username:a,sum:1,balance:1/2/3/4/5/6/7/8/9;",
    ):
        with pytest.raises(ReplyFormatError):
            parse_billing(bad)


def test_reports_all_field_variants() -> None:
    """4-, 5- and 6-field report records of §6.1.5–6.1.6."""
    four = parse_reports(REPORTS_4)
    assert [(r.msgid, r.mobile, r.status, r.ext) for r in four] == [
        ("30911175558600", "13811299999", "DELIVRD", None),
        ("30911175558598", "13811299999", "DELIVRD", None),
    ]
    assert four[0].at == datetime(2013, 9, 12, 9, 9, 31, tzinfo=SHANGHAI)
    [five] = parse_reports(REPORTS_5)
    assert (five.ext, five.msgid, five.delivered) == ("3456", "30911175558600", True)
    six = parse_reports(REPORTS_6)
    assert [(r.ext, r.report_id, r.status, r.delivered) for r in six] == [
        ("3456", "2267476", "DELIVRD", True),
        ("5121", "3921117", "UNDELIV", False),
    ]
    [no_ext] = parse_reports(",30911175558600,13811299999,TOO FAST,2013-09-12 09:09:31;")
    assert no_ext.ext is None and no_ext.status == "TOO FAST"


def test_reports_no_record_and_malformed() -> None:
    """no record is empty; truncation and garbage are format errors."""
    assert parse_reports("no record") == []
    assert parse_reports("no record\r\n") == []
    for bad in (
        "",
        "30911175558600,13811299999,DELIV",
        "30911175558600,13811299999,DELIVRD,2013-09-12 09:09",
        "a,b,c,d,e,f,g",
        "x,13811299999,DELIVRD,2013-09-12 09:09:31",
        "x1,2,3,4,DELIVRD,2013-09-12 09:09:31",
        "1,2,r3,4,DELIVRD,2013-09-12 09:09:31",
        "3456,30911175558600,13811299999," + "X" * 65 + ",2013-09-12 09:09:31",
        "3456,30911175558600,13811299999,\x07,2013-09-12 09:09:31",
        "3456,30911175558600,13811299999,DELIVRD,2013-13-12 09:09:31",
    ):
        with pytest.raises(ReplyFormatError):
            parse_reports(bad)


def test_replies_both_separators() -> None:
    """§8.3 uses |||, §8.3.1 uses ; with a record that has no ext."""
    a, b = parse_replies(REPLIES_PIPES)
    assert (a.ext, a.reply_id, a.mobile, a.content) == (
        "3451",
        "1281439",
        "18600000001",
        "不告诉你",
    )
    assert b.at == datetime(2016, 3, 1, 10, 50, 6, tzinfo=SHANGHAI)
    c, d = parse_replies(REPLIES_SEMI)
    assert (c.ext, c.reply_id) == ("1236", "92")
    assert (d.ext, d.reply_id, d.mobile) == (None, "90", "15210954925")
    assert d.raw_content == "%E4%B8%8D%E5%91%8A%E8%AF%89%E4%BD%A0"
    assert parse_replies("no record") == []
    assert parse_replies("") == [], "queryByCondition answers an empty body when none"
    for bad in ("1,2,3", "x,1,138,y,2016-03-01 10:48:06", "1,a,138,y,2016-03-01 10:48:06"):
        with pytest.raises(ReplyFormatError):
            parse_replies(bad)


def test_blacklist_replies() -> None:
    """§10.1.2 and §10.2.2 replies."""
    assert not parse_blacklist_check("success:Non black number").listed
    status = parse_blacklist_check("success:Black number;Desc:用户投诉;Addtime:2016-12-01 10:00:00")
    assert status.listed
    assert status.description == "用户投诉"
    assert status.added_at == "2016-12-01 10:00:00"
    parse_blacklist_remove("success:Added white number")
    with pytest.raises(BlacklistOperationError):
        parse_blacklist_remove("error:Non black number or no allow operation")
    with pytest.raises(ReplyFormatError):
        parse_blacklist_check("success:maybe")
    with pytest.raises(ReplyFormatError):
        parse_blacklist_remove("success:maybe")


def test_bind_reply() -> None:
    """Any success text is a successful binding."""
    assert parse_bind("success:2 addresses bound") == "2 addresses bound"
    assert parse_bind("success") == ""
    with pytest.raises(ReplyFormatError):
        parse_bind("ok")


def test_soap_reply_and_fault() -> None:
    """The SOAP return string is parsed as a send reply; a Fault names its reason."""
    assert parse_soap_send(format_soap_reply("success:12345678901234").decode()) == "12345678901234"
    with pytest.raises(ThrottledError):
        parse_soap_send(format_soap_reply("error:Throughput Rate Exceeded").decode())
    with pytest.raises(UnknownProviderError, match="bad call"):
        parse_soap_send(format_soap_fault("SOAP-ENV:Client", "bad call").decode())
    for bad in ("not xml", "<a><b/></a>", "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>"):
        with pytest.raises(ReplyFormatError):
            parse_soap_send(bad)


def test_decode_body() -> None:
    """Bodies decode by encode; a BOM is dropped; a wrong charset is a format error."""
    assert decode_body("验证".encode("gbk"), Encoding.GBK) == "验证"
    assert decode_body(b"\xef\xbb\xbfsuccess:1") == "success:1"
    with pytest.raises(ReplyFormatError, match="UTF-8"):
        decode_body("验证".encode("gbk"))


def test_url_decode_and_wall_time() -> None:
    """One urldecode layer with + as space; replacement on bad bytes unless strict."""
    assert url_decode("a+b%2B") == "a b+"
    assert url_decode("%ff") == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        url_decode("%ff", strict=True)
    assert parse_wall_time("2013-09-12 09:09:31").utcoffset() is not None
    with pytest.raises(ValueError, match="wall-clock"):
        parse_wall_time("yesterday")


def test_blacklist_replies_may_come_in_gbk() -> None:
    """The blacklist endpoints take no encode: a GBK body is read as GBK; others stay strict."""
    from m5c_async.protocol import Credentials, build_balance, build_blacklist_check, decode_reply

    creds = Credentials.create(username="user", password="p", apikey="k" * 32)
    body = "success:Black number;Desc:用户投诉;Addtime:2016-01-01".encode("gbk")
    text = decode_reply(body, build_blacklist_check(creds, "13800000000"))
    assert parse_blacklist_check(text).description == "用户投诉"
    with pytest.raises(ReplyFormatError, match="UTF-8"):
        decode_reply("余额".encode("gbk"), build_balance(creds))


def test_pulls_read_record_by_record_keep_what_does_not_parse() -> None:
    """A one-shot pull consumes on the platform: read like a push, each record on its own; the
    strict parsers and the tolerant readers agree on every document example."""
    from m5c_async.protocol import PushKind, read_reply_pull, read_report_pull

    for example in (REPORTS_4, REPORTS_5, REPORTS_6, "no record"):
        batch = read_report_pull(example)
        assert (list(batch.records), batch.quarantined) == (parse_reports(example), ())
    for example in (REPLIES_PIPES, REPLIES_SEMI, "no record", ""):
        batch = read_reply_pull(example)
        assert (list(batch.records), batch.quarantined) == (parse_replies(example), ())
    mixed = REPORTS_5 + "garbled;" + REPORTS_5.replace("3456", "3457")
    batch = read_report_pull(mixed)
    assert [r.ext for r in batch.records] == ["3456", "3457"]
    assert batch.positions == (0, 2)
    [held] = batch.quarantined
    assert (held.kind, held.raw, held.position, held.records) == (
        PushKind.REPORT,
        "garbled",
        1,
        1,
    )
    assert batch.received == 3
    replies = read_reply_pull(REPLIES_PIPES + "|||1,2,3")
    assert (len(replies.records), [q.raw for q in replies.quarantined]) == (2, ["1,2,3"])
    with pytest.raises(ReplyFormatError):
        read_report_pull("")  # a report pull always answers records or "no record"
    with pytest.raises(ProviderError):
        read_report_pull("error:Missing username")
