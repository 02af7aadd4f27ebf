"""The platform's side of the wire: requests the encoders build are read back intact."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from m5c_async import Credentials, InvalidParameterError
from m5c_async.protocol import (
    BatchItem,
    Encoding,
    RequestError,
    build_send,
    build_send_batch,
    decode_wire_content,
    format_balance,
    format_billing_block,
    format_records,
    format_replies,
    format_reports,
    parse_records,
    parse_replies,
    parse_reports,
    read_batch_xml,
    read_form,
    read_json_send,
    read_soap_send,
    read_xml_send,
    wire_encoding,
    wire_text,
)

CONTENT = "验证码：1A1C % + & = # ; , 【签名】\n😀"
AT = datetime(2016, 3, 1, 2, 48, 6, tzinfo=UTC)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_form_content_arrives_intact(creds: Credentials, encoding: Encoding) -> None:
    """POST form: HTTP layer, then one more urldecode, then encode."""
    text = CONTENT if encoding is Encoding.UTF8 else CONTENT.replace("😀", "")
    spec = build_send(creds, ["13800000000"], text, encoding=encoding)
    fields = read_form(spec.body or b"")
    enc = wire_encoding(fields["encode"])
    assert enc is encoding
    assert decode_wire_content(fields["content"], enc) == text
    assert wire_text(fields["username"]) == "mlrt"


def test_single_encoded_gbk_get_as_other_clients_send_it() -> None:
    """A GBK client that urlencodes once (as in §11.1's Java example) is read correctly."""
    query = "content=" + quote("验证码".encode("gbk")) + "&encode=gbk"
    fields = read_form(query)
    assert decode_wire_content(fields["content"], Encoding.GBK) == "验证码"
    assert decode_wire_content(fields["content"], Encoding.UTF8) is None
    assert wire_encoding("latin1") is None


def test_json_and_xml_payloads_read_back(creds: Credentials) -> None:
    """format=json and format=xml payloads carry every field."""
    for fmt, reader in (("json", read_json_send), ("xml", read_xml_send)):
        spec = build_send(creds, ["13800000000"], CONTENT, format=fmt, ext=12)
        data = read_form(spec.body or b"")["data"]
        doc = reader(data)
        assert doc["type"] == "send"
        assert doc["ext"] == "12"
        assert decode_wire_content(doc["content"], Encoding.UTF8) == CONTENT
    with pytest.raises(RequestError):
        read_json_send("{broken")
    with pytest.raises(RequestError):
        read_json_send("[1]")
    with pytest.raises(RequestError):
        read_xml_send("<sms><unclosed></sms>")


def test_soap_reads_plain_content(creds: Credentials) -> None:
    """SOAP content is plain text; \\r survives through its character reference."""
    spec = build_send(creds, ["13800000000"], "好\r\n%41", format="soap")
    doc = read_soap_send(spec.body or b"")
    assert wire_text(doc["password"]) == creds.password_md5
    assert doc["content"].encode("latin-1").decode("utf-8") == "好\r\n%41"
    with pytest.raises(RequestError):
        read_soap_send(b"<a/>")


def test_batch_reads_back(creds: Credentials) -> None:
    """sms_batch.php's account and items."""
    spec = build_send_batch(creds, [BatchItem(mobiles=("13800000000",), content="a+b", at=AT)])
    account, items = read_batch_xml(read_form(spec.body or b"")["data"])
    assert wire_text(account["apikey"]) == creds.apikey
    assert items[0].start_time == "1456800486"
    assert decode_wire_content(items[0].content, Encoding.UTF8) == "a+b"
    with pytest.raises(RequestError):
        read_batch_xml("<sms/>")


def test_formatters_round_trip_through_the_parsers() -> None:
    """What the simulator writes, the client's parsers read."""
    assert format_balance(5, 10) == "5/10"
    text = format_records(
        [("mlrt", "123", ["13800000000", "13900000000"], "a,b;c", 1456800486)], Encoding.UTF8
    )
    [rec] = parse_records(text)
    assert (rec.content, rec.mobiles) == ("a,b;c", ("13800000000", "13900000000"))
    assert format_records([], Encoding.UTF8) == "no record"
    row = ("3456", "12345678901234", "1", "13800000000", AT, "DELIVRD")
    for n in (4, 5, 6):
        [r] = parse_reports(format_reports([row], fields=n))
        assert (r.msgid, r.at) == ("12345678901234", AT)
    with pytest.raises(InvalidParameterError, match="4, 5 or 6"):
        format_reports([row], fields=3)
    reply = ("1", "2", "13800000000", "好;|||,", AT)
    for sep in (";", "|||"):
        parsed = parse_replies(
            format_replies([reply, reply], Encoding.GBK, separator=sep), Encoding.GBK
        )
        assert [p.content for p in parsed] == ["好;|||,", "好;|||,"]
    block = format_billing_block("u", {"domestic": 3}, "10|7/0|0/0|0/0|0")
    assert block == "username:u,sum:3/0/0/0,balance:10|7/0|0/0|0/0|0;"
