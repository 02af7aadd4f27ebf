"""The platform's side of the wire: reading requests and writing replies, without I/O.

The simulator uses these so that its parsing and formatting follow the same decisions as the
client's (docs/protocol.md). Field values are kept as *wire strings*: the latin-1 image of the
bytes after the HTTP layer's percent-decoding, so that a GBK client and a UTF-8 client are both
read faithfully before ``encode`` is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl, quote_plus, unquote_to_bytes
from xml.sax.saxutils import escape

import orjson
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from .._exceptions import InvalidParameterError
from ._codes import ErrorReply
from ._encoders import SOAP_NAMESPACE, Encoding
from ._models import SHANGHAI

__all__ = [
    "SOAP_NAMESPACE",
    "SOAP_PARTS",
    "BatchRequestItem",
    "RequestError",
    "decode_wire_content",
    "format_balance",
    "format_billing_block",
    "format_records",
    "format_replies",
    "format_reports",
    "format_soap_fault",
    "format_soap_reply",
    "read_batch_xml",
    "read_form",
    "read_json_send",
    "read_soap_send",
    "read_xml_send",
    "wire_encoding",
    "wire_text",
]


#: The parts of ``sendsms``, in the order of the document's PHP example (§3.4).
SOAP_PARTS: Final = ("apikey", "username", "password", "mobile", "content")


class RequestError(Exception):
    """A request the platform cannot read; ``reply`` is what the platform answers."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


def read_form(data: bytes | str) -> dict[str, str]:
    """Read ``a=b&c=d`` into wire strings (the last value of a repeated name wins)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return dict(parse_qsl(text, keep_blank_values=True, encoding="latin-1"))


def wire_text(value: str) -> str:
    """Turn a wire string into text, reading its bytes as UTF-8 (credentials, numbers, names)."""
    return value.encode("latin-1", errors="replace").decode("utf-8", errors="replace").strip()


def wire_encoding(value: str | None) -> Encoding | None:
    """Map an ``encode`` field to an ``Encoding``; None when it is neither GBK nor UTF-8."""
    key = (value or "").strip().upper()
    if key in ("UTF-8", "UTF8"):
        return Encoding.UTF8
    if key == "GBK":
        return Encoding.GBK
    return None


def decode_wire_content(value: str, encoding: Encoding) -> str | None:
    """Decode content the platform's way: one more urldecode, then ``encode``.

    Returns None when the bytes are not valid in that encoding (the platform then answers
    ``error:Missing message content``, "empty or wrongly encoded").
    """
    raw = unquote_to_bytes(value.encode("latin-1", errors="replace").replace(b"+", b" "))
    try:
        return raw.decode(encoding.codec)
    except UnicodeDecodeError:
        return None


def _as_wire(value: Any) -> str:
    return value.encode("utf-8").decode("latin-1") if isinstance(value, str) else str(value)


def read_json_send(data: str) -> dict[str, str]:
    """Read the ``data`` field of ``format=json`` (§3.2) into wire strings."""
    try:
        doc = orjson.loads(data.encode("latin-1", errors="replace"))
    except orjson.JSONDecodeError:
        raise RequestError(ErrorReply.MISSING_USERNAME) from None
    if not isinstance(doc, dict):
        raise RequestError(ErrorReply.MISSING_USERNAME)
    return {str(k): _as_wire(v) for k, v in doc.items() if v is not None}


def _xml_root(data: bytes | str) -> Any:
    raw = data.encode("latin-1", errors="replace") if isinstance(data, str) else data
    try:
        return SafeET.fromstring(raw, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        raise RequestError(ErrorReply.MISSING_USERNAME) from None


def _children(element: Any) -> dict[str, str]:
    return {_local(child.tag): _as_wire((child.text or "").strip()) for child in element}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_xml_send(data: str) -> dict[str, str]:
    """Read the ``data`` field of ``format=xml`` (§3.3) into wire strings."""
    return _children(_xml_root(data))


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRequestItem:
    """One ``<item>`` of ``sms_batch.php``, as wire strings."""

    mobile: str
    content: str
    start_time: str


def read_batch_xml(data: str) -> tuple[dict[str, str], list[BatchRequestItem]]:
    """Read ``sms_batch.php``'s document (§3.5): the account fields and the items."""
    root = _xml_root(data)
    account = root.find("account")
    items = root.find("sms_list")
    if account is None or items is None:
        raise RequestError(ErrorReply.MISSING_USERNAME)
    rows = []
    for item in items:
        fields = _children(item)
        rows.append(
            BatchRequestItem(
                mobile=fields.get("mobile", ""),
                content=fields.get("content", ""),
                start_time=fields.get("startTime", "0"),
            )
        )
    return _children(account), rows


def read_soap_send(body: bytes) -> dict[str, str]:
    """Read a SOAP ``sendsms`` call (§3.4): apikey, username, password, mobile, content.

    The parts are read by name in any namespace, or by position (``param0`` .. ``param4``, in
    the document's order) as PHP's ``SoapClient`` sends them without a WSDL. Content in SOAP is
    plain text (no extra urldecode); the values come back as wire strings.
    """
    root = _xml_root(body)
    for element in root.iter():
        if _local(element.tag) == "sendsms":
            fields = _children(element)
            if "param0" in fields:  # a SoapClient without WSDL names parameters by position
                fields = {name: fields.get(f"param{i}", "") for i, name in enumerate(SOAP_PARTS)}
            return fields
    raise RequestError("SOAP-ENV:Client|no sendsms operation in the request")


def format_soap_reply(reply: str) -> bytes:
    """Wrap a reply string in a ``sendsmsResponse`` envelope."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"'
        f' xmlns:ns1="{SOAP_NAMESPACE}"><SOAP-ENV:Body><ns1:sendsmsResponse>'
        f"<return>{escape(reply)}</return></ns1:sendsmsResponse></SOAP-ENV:Body>"
        "</SOAP-ENV:Envelope>"
    ).encode()


def format_soap_fault(code: str, reason: str) -> bytes:
    """A SOAP 1.1 Fault envelope."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>{escape(code)}</faultcode>"
        f"<faultstring>{escape(reason)}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body>"
        "</SOAP-ENV:Envelope>"
    ).encode()


def _wall(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def format_balance(remaining: Decimal | int, total: Decimal | int) -> str:
    """``remaining/total`` (§4.1.2)."""
    return f"{remaining}/{total}"


def format_records(
    records: Iterable[tuple[str, str, Iterable[str], str, int]], encoding: Encoding
) -> str:
    """``user,msgid,m1|m2,urlencoded,unixtime;`` (§5.1.2), or ``no record``."""
    parts = [
        f"{user},{msgid},{'|'.join(mobiles)},{quote_plus(content.encode(encoding.codec))},{t};"
        for user, msgid, mobiles, content, t in records
    ]
    return "".join(parts) or "no record"


_REPORT_FIELDS: Final = (4, 5, 6)


def format_reports(
    reports: Iterable[tuple[str, str, str, str, datetime, str]], *, fields: int = 5
) -> str:
    """Report pull records of ``(ext, msgid, report_id, mobile, time, status)`` (§6.1.5–6.1.6).

    ``fields`` picks the 4-, 5- or 6-field form; ``no record`` when there is nothing.
    """
    if fields not in _REPORT_FIELDS:
        raise InvalidParameterError("fields must be 4, 5 or 6")
    parts = []
    for ext, msgid, report_id, mobile, at, status in reports:
        row = [msgid, mobile, status, _wall(at)]
        if fields >= 5:
            row.insert(0, ext)
        if fields == 6:
            row.insert(2, report_id)
        parts.append(",".join(row) + ";")
    return "".join(parts) or "no record"


def format_replies(
    replies: Iterable[tuple[str, str, str, str, datetime]],
    encoding: Encoding,
    *,
    separator: str = ";",
) -> str:
    """Reply pull records ``ext,replyid,mobile,urlencoded,time`` joined by ``;`` or ``|||``."""
    parts = [
        f"{ext},{rid},{mobile},{quote_plus(content.encode(encoding.codec, 'replace'))},{_wall(at)}"
        for ext, rid, mobile, content, at in replies
    ]
    return separator.join(parts) or "no record"


def format_billing_block(username: str, sent: Mapping[str, int], balance: str) -> str:
    """One ``username:u,sum:a/b/c/d,balance:...;`` block (§5.1)."""
    sums = "/".join(str(sent.get(k, 0)) for k in ("domestic", "international", "mms", "voice"))
    return f"username:{username},sum:{sums},balance:{balance};"
