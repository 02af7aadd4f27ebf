"""Push reading against every push example of §7 and §9, verbatim, with the decision on each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from m5c_async import PushFormatError
from m5c_async.protocol import (
    SHANGHAI,
    PushFormat,
    PushKind,
    decode_push_content,
    detect_push_format,
    format_reply_push,
    format_report_push,
    parse_reply_push,
    parse_report_push,
    push_payloads,
    read_push,
    read_reply_push,
    read_report_push,
)
from tests import doc_pushes as doc


def from_url(url: str) -> str:
    """The receiver's reading of a push URL: ``data`` from the query string, decoded once."""
    [payload] = push_payloads(query=url.split("?", 1)[1], content_type=None, body=b"")
    return payload


def decoded(url: str) -> str:
    """The "编码前" form's data, as printed."""
    return url.split("data=", 1)[1]


def at(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, tz=SHANGHAI)


# --- §7.1.1 delivery reports ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "quarantined_raw", "reason"),
    [
        (
            from_url(doc.REPORT_STRING_URL),
            "309111755559999,13811299988,DELIVRD,456853877",
            "10-digit",
        ),
        (
            decoded(doc.REPORT_STRING_DECODED_AS_PRINTED),
            "309111755559999,13811299988,DELI\n\n\n\nVRD,456853877",
            "printable",
        ),
    ],
    ids=["encoded", "decoded-as-printed"],
)
def test_report_string_example(data: str, quarantined_raw: str, reason: str) -> None:
    """The first report is stored; the second, whose time is cut to 9 digits, is quarantined."""
    batch = read_report_push(data)
    [report] = batch.records
    assert (report.msgid, report.mobile, report.status, report.at) == (
        "309111755558600",
        "13811299999",
        "DELIVRD",
        at(1456853866),
    )
    [held] = batch.quarantined
    assert (held.raw, held.records, held.format) == (quarantined_raw, 1, PushFormat.STRING)
    assert reason in held.reason
    assert batch.received == 2


def test_report_json_examples() -> None:
    """Both JSON renderings store both reports (the encoded copy lost a digit of a msgid)."""
    encoded = read_report_push(from_url(doc.REPORT_JSON_URL))
    plain = read_report_push(doc.REPORT_JSON_DECODED)
    assert not encoded.quarantined and not plain.quarantined
    assert [(r.msgid, r.status, r.at) for r in plain.records] == [
        ("12122663121210", "UNDELIV", at(1462879547)),
        ("22322613121411", "DELIVRD", at(1462879547)),
    ]
    assert [r.msgid for r in encoded.records] == ["12122663121210", "2322613121411"]


def test_report_xml_examples() -> None:
    """Decoded: NOSEND stored. Encoded: <it>...</item> is not XML, quarantined whole, raw kept."""
    [report] = read_report_push(doc.REPORT_XML_DECODED).records
    assert (report.msgid, report.status, report.at) == ("1412544124087", "NOSEND", at(1462880473))
    batch = read_report_push(from_url(doc.REPORT_XML_URL))
    assert batch.records == ()
    [held] = batch.quarantined
    assert held.records == 0 and held.format is PushFormat.XML
    assert held.raw.startswith('<?xml version="1.0"') and "<it>\t<msgid>" in held.raw
    assert "malformed XML" in held.reason
    # Repaired by hand, the stray '>' before the status is dropped: NOSEND.
    [fixed] = read_report_push(held.raw.replace("<it>", "<item>")).records
    assert fixed.status == "NOSEND"


# --- §9.1 replies --------------------------------------------------------------------------------


def test_reply_string_example_encoded() -> None:
    """Content arrives plain after the one decode: 好 and 嗯; the raw field is kept."""
    one_line = doc.REPLY_STRING_URL_AS_PRINTED.replace("\n", "")
    batch = read_reply_push(from_url(one_line))
    assert [(r.ext, r.reply_id, r.mobile, r.content, r.at) for r in batch.records] == [
        ("2554", "1445347", "13811299999", "好", at(1462913482)),
        ("2554", "1445347", "13811299988", "嗯", at(1462913643)),
    ]
    assert batch.records[0].raw_content == "好"
    # As printed, the line break inside the last time quarantines that record only.
    printed = read_reply_push(from_url(doc.REPLY_STRING_URL_AS_PRINTED))
    assert [r.content for r in printed.records] == ["好"]
    assert printed.quarantined[0].raw.endswith("14629136\n43")


def test_reply_string_example_decoded_with_a_report_glued_on() -> None:
    """The first reply is stored (spaces around 好 kept raw); the garbled second is quarantined."""
    batch = read_reply_push(decoded(doc.REPLY_STRING_DECODED_AS_PRINTED))
    [reply] = batch.records
    assert (reply.content, reply.raw_content) == ("好", " 好 ")
    [held] = batch.quarantined
    assert held.raw == "2554,1445347,13811299988,  \n 喂,14629136432999988,DELIVRD,456853877"
    assert "10-digit" in held.reason


def test_reply_json_example_encoded() -> None:
    """Three replies stored. Two contents lost their leading '%' in the document: after the one
    decode they hold bytes that are not UTF-8, kept as %XX; not entirely urlencoded, so raw."""
    batch = read_reply_push(from_url(doc.REPLY_JSON_URL))
    assert not batch.quarantined
    first, second, third = batch.records
    assert (first.ext, first.reply_id, first.mobile, first.content) == (
        "12024997664",
        "1443692",
        "447874321404",
        "H",
    )
    assert second.content == second.raw_content == "E5%91%B5呵呵呵呵，345"
    assert third.content == "E4%B9%88么哒189志伟"
    assert third.at == at(1462909307)


def test_reply_json_example_decoded_is_not_json() -> None:
    """The decoded §9 JSON has a stray "345": quarantined whole with its raw text."""
    batch = read_reply_push(doc.REPLY_JSON_DECODED)
    [held] = batch.quarantined
    assert (batch.records, held.raw, held.records) == ((), doc.REPLY_JSON_DECODED, 0)
    assert "malformed JSON" in held.reason


def test_reply_xml_examples() -> None:
    """Decoded: stored with unknown ids and times. Encoded: version=221.0" is broken XML."""
    first, second = read_reply_push(doc.REPLY_XML_DECODED).records
    assert (first.ext, first.reply_id, first.at, first.content) == ("2554", None, None, "呵呵哈哈")
    assert (second.content, second.raw_content) == ("任    性    吧", "  任    性    吧    ")
    batch = read_reply_push(from_url(doc.REPLY_XML_URL))
    [held] = batch.quarantined
    assert held.raw.startswith('<?xml version=221.0" encoding=22utf-8"?>')
    assert batch.records == ()


# --- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content"),
    [
        ("%e5%a5%bd", "好"),
        ("%E5%A5%BD", "好"),
        ("C++ 100%", "C++ 100%"),
        ("1+1=2", "1+1=2"),
        ("100%25", "100%"),
        ("%ff%fe", "%ff%fe"),
        ("E5%91%B5呵", "E5%91%B5呵"),
        ("%E4%BD%A0+%E5%A5%BD", "%E4%BD%A0+%E5%A5%BD"),
        ("plain text", "plain text"),
    ],
)
def test_content_second_decode_only_when_entirely_urlencoded(raw: str, content: str) -> None:
    """Unreserved characters and %XX forming UTF-8 only: anything else stays as it came."""
    assert decode_push_content(raw) == content


def test_reply_content_with_commas_and_empty_fields() -> None:
    """Content is everything between the third and the last comma; empty ids and time are None."""
    [r] = read_reply_push(",,13800000000,好,的, 100%,").records
    assert (r.ext, r.reply_id, r.content, r.at) == (None, None, "好,的, 100%", None)


@pytest.mark.parametrize(
    "status", ["ERR#104", "MI:0013/1", "黑名单", "TOO FAST", "NOSEND", "X" * 30]
)
def test_statuses_are_an_open_set(status: str) -> None:
    """Any printable status up to 64 characters is stored as it came."""
    [r] = read_report_push(f"1,13800000000,{status},1462880473").records
    assert r.status == status


def test_empty_receivetime_bom_and_whitespace() -> None:
    """A BOM and surrounding whitespace are ignored; an empty report time is unknown."""
    [r] = read_report_push("\ufeff \r\n1,13800000000,DELIVRD,\n").records
    assert r.at is None
    batch = read_report_push('\ufeff{"results":[{"msgid":"1","mobile":"2","status":"X"}]}')
    assert batch.format is PushFormat.JSON and batch.records[0].at is None


def test_one_bad_record_does_not_lose_the_others() -> None:
    """Per record, in every format: the good are returned, the bad kept with their raw text."""
    string = read_report_push("1,13800000000,DELIVRD,1462880473;x,y;2,13800000001,,1462880473")
    assert [r.msgid for r in string.records] == ["1"]
    assert [q.raw for q in string.quarantined] == ["x,y", "2,13800000001,,1462880473"]
    json_batch = read_report_push(
        '{"results":[{"msgid":"1","mobile":"2","status":"D","receivetime":"1462880473"},'
        '7,{"msgid":[1]},{"msgid":"x","mobile":"2","status":"D"}]}'
    )
    assert [r.msgid for r in json_batch.records] == ["1"]
    assert [q.raw for q in json_batch.quarantined] == [
        '{"results":[7]}',
        '{"results":[{"msgid":[1]}]}',
        '{"results":[{"msgid":"x","mobile":"2","status":"D"}]}',
    ]
    xml = read_report_push(
        "<results><item><msgid>1</msgid><mobile>2</mobile><status>D</status></item>"
        "<other/><item><msgid><b>1</b></msgid></item></results>"
    )
    assert len(xml.records) == 1
    assert [q.raw for q in xml.quarantined] == [
        "<results><other /></results>",
        "<results><item><msgid><b>1</b></msgid></item></results>",
    ]
    # Each quarantined record is itself a push: re-read, it gives the same verdict.
    for q in json_batch.quarantined:
        assert read_report_push(q.raw).quarantined[0].reason == q.reason


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   ",
        "hello world",
        "[1]",
        "{not json",
        '{"results": {}}',
        "<other/>",
        "<results><item><msgid>1",
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><results/>',
        '<!DOCTYPE l [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]><results><item>&b;</item></results>',
    ],
)
def test_payloads_that_are_no_push_are_quarantined_whole(data: str) -> None:
    """Not string, JSON or XML, a broken envelope, or hostile XML: kept whole, never parsed."""
    batch = read_report_push(data)
    [held] = batch.quarantined
    assert (batch.records, held.records) == ((), 0)
    assert held.raw.strip() == data.strip()


def test_records_over_the_cap_are_quarantined_not_dropped() -> None:
    """Past max_records, the rest is one quarantined entry that re-reads to the same records."""
    rows = [(str(i), "13800000000", "DELIVRD", 1462880473) for i in range(25)]
    for fmt in PushFormat:
        batch = read_push(PushKind.REPORT, format_report_push(rows, fmt), max_records=10)
        [rest] = batch.quarantined
        assert (len(batch.records), rest.records, batch.received) == (10, 15, 25)
        again = read_report_push(rest.raw)
        assert [r.msgid for r in again.records] == [str(i) for i in range(10, 25)]


def test_strict_parsers_raise_when_anything_would_be_quarantined() -> None:
    """parse_*_push stay all or nothing for callers that want that."""
    with pytest.raises(PushFormatError, match="10-digit"):
        parse_report_push(from_url(doc.REPORT_STRING_URL))
    assert len(parse_reply_push(doc.REPLY_XML_DECODED)) == 2


@pytest.mark.parametrize("fmt", list(PushFormat))
def test_format_then_read_round_trip(fmt: PushFormat) -> None:
    """What the simulator pushes, the receiver reads back identically, in every format."""
    reports = [("12345678901234", "13800000000", "DELIVRD", 1462880473)]
    data = format_report_push(reports, fmt)
    assert detect_push_format(data) is fmt
    [r] = parse_report_push(data, fmt)
    assert (r.msgid, r.mobile, r.status) == reports[0][:3]
    replies: list[Any] = [("2554", "1445347", "13811299999", "好, 100% & <ok>", 1462913482)]
    [reply] = parse_reply_push(format_reply_push(replies, fmt), fmt)
    assert reply.content == "好, 100% & <ok>"
    assert reply.reply_id == "1445347"


def test_reasons_never_quote_a_value_and_repeated_xml_fields_are_held() -> None:
    """A reason names the field, not its value (a number or content); an <item> that repeats a
    field is ambiguous and quarantined."""
    batch = read_reply_push("2554,1,1380013800X,secret text,1462913482;a;b,c,d,e,f")
    reasons = " ".join(q.reason for q in batch.quarantined)
    assert "1380013800X" not in reasons and "secret" not in reasons and "mobile" in reasons
    xml = "<results><item><msgid>1</msgid><mobile>2</mobile><status>D</status>"
    xml += "<status>U</status></item></results>"
    [held] = read_report_push(xml).quarantined
    assert "repeats" in held.reason
