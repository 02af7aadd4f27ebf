"""Property tests: encode/decode round trips, and parsers never leak foreign exceptions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from m5c_async import Credentials, M5CError
from m5c_async.protocol import (
    Encoding,
    build_send,
    decode_body,
    decode_wire_content,
    parse_balance,
    parse_billing,
    parse_bind,
    parse_blacklist_check,
    parse_blacklist_remove,
    parse_records,
    parse_replies,
    parse_reply_push,
    parse_report_push,
    parse_reports,
    parse_send,
    parse_soap_send,
    read_form,
    wire_encoding,
)

CREDS = Credentials.create(username="mlrt", password="pw", apikey="k" * 32)
_content = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=500,
)


def _gbk_ok(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


@given(_content)
def test_utf8_round_trip(text: str) -> None:
    """Any text travels intact in UTF-8 through both decodings."""
    fields = read_form(build_send(CREDS, ["13800000000"], text).body or b"")
    assert decode_wire_content(fields["content"], Encoding.UTF8) == text


@given(_content.filter(_gbk_ok))
def test_gbk_round_trip(text: str) -> None:
    """Any GBK-encodable text travels intact in GBK."""
    spec = build_send(CREDS, ["13800000000"], text, encoding=Encoding.GBK, method="GET")
    fields = dict(spec.query)
    encoding = wire_encoding(fields["encode"])
    assert encoding is Encoding.GBK
    assert decode_wire_content(fields["content"], encoding) == text


PARSERS: list[Callable[[str], Any]] = [
    parse_send,
    parse_balance,
    parse_records,
    parse_billing,
    parse_reports,
    parse_replies,
    parse_blacklist_check,
    parse_blacklist_remove,
    parse_bind,
    parse_soap_send,
    parse_report_push,
    parse_reply_push,
]

_wireish = st.one_of(
    st.text(max_size=300),
    st.text(alphabet='0123456789,;|:/-. successerrorDELIVRDno record%E<>{}"[]', max_size=200),
    st.sampled_from(["<results><item>", '{"results":[{}]}', "error:", "success:Black number;"]),
)


@settings(max_examples=300)
@given(_wireish)
def test_parsers_raise_only_library_errors(text: str) -> None:
    """Arbitrary text never makes a parser raise anything but an M5CError."""
    for parser in PARSERS:
        with contextlib.suppress(M5CError):
            parser(text)


@given(st.binary(max_size=200))
def test_decode_body_raises_only_library_errors(body: bytes) -> None:
    """Arbitrary bytes decode or raise ReplyFormatError."""
    for encoding in Encoding:
        with contextlib.suppress(M5CError):
            decode_body(body, encoding)
