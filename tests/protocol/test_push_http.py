"""From HTTP request parts to push payloads: every way ``data`` can arrive, decoded once."""

from __future__ import annotations

import pytest

from m5c_async import PushFormatError
from m5c_async.protocol import push_payloads, utf8_keeping_bytes

JSON = '{"results":[{"msgid":"1","mobile":"2","status":"D"}]}'


def test_query_string_and_form_body_are_decoded_once() -> None:
    """``+`` is a space and %XX an escape, once; a second layer stays."""
    assert push_payloads(query=b"data=1%2c2+3%252c", content_type=None, body=b"") == ["1,2 3%2c"]
    form = b"other=x&data=%7B%22a%22%3A1%7D"
    assert push_payloads(
        query=b"", content_type="application/x-www-form-urlencoded", body=form
    ) == ['{"a":1}']


def test_form_body_without_a_content_type_and_plain_utf8() -> None:
    """A body starting with data= is a form even unlabelled; raw UTF-8 in it survives."""
    body = "data=2554,1,13800000000,好,1462913482".encode()
    assert push_payloads(query=b"", content_type="text/plain", body=body) == [
        "2554,1,13800000000,好,1462913482"
    ]


def test_multipart_part_named_data() -> None:
    """multipart/form-data: the part named data, taken as is."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="data"\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + JSON.encode() + b"\r\n--XyZ--\r\n"
    )
    assert push_payloads(
        query=b"", content_type="multipart/form-data; boundary=XyZ", body=body
    ) == [JSON]


def test_raw_body_as_is_or_decoded_when_entirely_urlencoded() -> None:
    """A raw body is the payload; one that is wholly urlencoded is decoded once."""
    assert push_payloads(query=b"", content_type="application/json", body=JSON.encode()) == [JSON]
    encoded = b"%7B%22results%22%3A%5B%5D%7D"
    assert push_payloads(query=b"", content_type=None, body=encoded) == ['{"results":[]}']
    text = "1,13800000000,C++ 100%,1462880473"
    assert push_payloads(query=b"", content_type=None, body=text.encode()) == [text]


def test_bom_whitespace_and_bytes_that_are_not_utf8() -> None:
    """BOM and whitespace go; a byte that is not UTF-8 is kept as %XX, never replaced."""
    got = push_payloads(query=b"data=%EF%BB%BF%20%0A1,2,D,%91%20", content_type=None, body=b"")
    assert got == ["1,2,D,%91"]
    assert utf8_keeping_bytes(b"\xe5\xa5\xbd\xff") == "好%FF"
    raw = push_payloads(query=b"", content_type=None, body=b"\xef\xbb\xbf <results/>\r\n")
    assert raw == ["<results/>"]


def test_query_and_body_both_read_once_each() -> None:
    """The same payload twice in one request is read once; two different ones are both read."""
    q = b"data=1%2c2"
    form = "application/x-www-form-urlencoded"
    assert push_payloads(query=q, content_type=form, body=b"data=1,2") == ["1,2"]
    assert push_payloads(query=q, content_type=form, body=b"data=3,4") == ["1,2", "3,4"]
    assert push_payloads(query=b"", content_type=form, body=b"data=1&data=2") == ["1", "2"]


def test_a_body_without_data_is_the_payload_and_nothing_at_all_is_refused() -> None:
    """A form body with no data field is kept as the raw payload; an empty request is refused."""
    form = "application/x-www-form-urlencoded"
    assert push_payloads(query=b"", content_type=form, body=b"foo=bar") == ["foo=bar"]
    with pytest.raises(PushFormatError, match="no data"):
        push_payloads(query=b"x=1", content_type=None, body=b"  ")


GBK_RECORD = "2554,1,13800000000,退订,1462913482"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain; charset=GBK", GBK_RECORD.encode("gbk")),
        ("text/plain; charset=gb2312", GBK_RECORD.encode("gbk")),
        (
            "application/x-www-form-urlencoded; charset=gbk",
            b"data=" + b"2554,1,13800000000,%CD%CB%B6%A9,1462913482",
        ),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="data"\r\n'
            b"Content-Type: text/plain; charset=GBK\r\n\r\n"
            + GBK_RECORD.encode("gbk")
            + b"\r\n--XyZ--\r\n",
        ),
    ],
)
def test_a_body_in_a_declared_charset_is_read_in_it(content_type: str, body: bytes) -> None:
    """Bytes that are not UTF-8, labelled with the charset that reads them, are read in it."""
    assert push_payloads(query=b"", content_type=content_type, body=body) == [GBK_RECORD]


def test_utf8_wins_over_a_wrong_label_and_an_unreadable_label_keeps_bytes() -> None:
    """Valid UTF-8 labelled ISO-8859-1 (a stack's default) is UTF-8; bytes the label cannot
    read, or an unknown label, keep the ``%XX`` rule (nothing lost)."""
    utf8 = GBK_RECORD.encode()
    assert push_payloads(query=b"", content_type="text/plain; charset=ISO-8859-1", body=utf8) == [
        GBK_RECORD
    ]
    gbk = GBK_RECORD.encode("gbk")
    kept = utf8_keeping_bytes(gbk)
    assert "%" in kept
    for label in ("charset=x-no-such-codec", "charset=ascii", ""):
        content_type = f"text/plain; {label}" if label else "text/plain"
        assert push_payloads(query=b"", content_type=content_type, body=gbk) == [kept]
    # The query string is UTF-8 whatever the body's label says.
    query = b"data=" + b"%CD%CB"
    assert push_payloads(query=query, content_type="text/plain; charset=gbk", body=b"") == [
        utf8_keeping_bytes(bytes.fromhex("CDCB"))
    ]
