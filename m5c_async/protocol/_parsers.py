"""Reply parsers: ``parse_*(text) -> frozen records``, or raise the mapped exception.

Every parser first turns an ``error:...`` reply into its exception (``_codes.py``), then checks
the documented shape strictly: a reply that does not fit raises ``ReplyFormatError`` carrying a
truncated copy, never an ``IndexError`` or ``ValueError`` from inside. ``no record`` means
"nothing". An empty body also means "nothing" for send records, billing and replies (one-shot and
``queryByCondition``), which document no ``no record``: records is the reconciliation tool, so it
must not fail exactly when nothing was sent. For delivery reports, which answer ``no record``
when there is none, an empty body stays a format error.

The blacklist endpoints take no ``encode`` and the platform may answer them in GBK
(``decode_reply``): a body that is not valid UTF-8 is read as GBK before giving up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final, NoReturn, TypeVar
from urllib.parse import unquote_to_bytes

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from .._exceptions import ReplyFormatError, UnknownProviderError
from ._catalog import EndpointName
from ._codes import error_for_reply, is_error_reply
from ._encoders import Encoding, RequestSpec
from ._models import (
    SHANGHAI,
    Balance,
    BillingEntry,
    BlacklistStatus,
    ChannelBalance,
    DeliveryReport,
    InboundReply,
    SendRecord,
)

__all__ = [
    "NO_RECORD",
    "STATUS_MAX_CHARS",
    "decode_body",
    "decode_reply",
    "parse_balance",
    "parse_billing",
    "parse_bind",
    "parse_blacklist_check",
    "parse_blacklist_remove",
    "parse_records",
    "parse_replies",
    "parse_reports",
    "parse_send",
    "parse_soap_send",
    "parse_wall_time",
    "raise_for_error",
    "report_status",
    "url_decode",
]

NO_RECORD: Final = "no record"
#: The longest status accepted (the document says 1 to 12; ``report_status``).
STATUS_MAX_CHARS: Final = 64
_MSGID: Final = re.compile(r"[0-9]{1,20}")
_DIGITS: Final = re.compile(r"[0-9]{1,20}")
_NUMBER: Final = r"-?\d+(?:\.\d+)?"
_BALANCE: Final = re.compile(rf"({_NUMBER})/({_NUMBER})")
_WALL: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_BILLING: Final = re.compile(r"username:([^,]*),sum:([^,]*),balance:(.*)", re.DOTALL)
_BLACK: Final = re.compile(r"success:Black number(?:;Desc:(.*?))?(?:;Addtime:(.*))?", re.DOTALL)

T = TypeVar("T")


def _bad(what: str, text: str) -> NoReturn:
    raise ReplyFormatError(f"malformed {what} reply", text=text)


def decode_body(body: bytes, encoding: Encoding = Encoding.UTF8) -> str:
    """Decode a reply body by the request's ``encode``.

    Raises:
        ReplyFormatError: bytes that are not valid in that encoding (a wrong charset).
    """
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        return body.decode(encoding.codec)
    except UnicodeDecodeError:
        raise ReplyFormatError(
            f"reply is not valid {encoding.value}", text=body[:200].decode("latin-1")
        ) from None


#: Endpoints whose replies may come in GBK whatever was asked (they take no ``encode``).
_GBK_TOO: Final = frozenset({EndpointName.BLACKLIST_CHECK, EndpointName.BLACKLIST_REMOVE})


def decode_reply(body: bytes, spec: RequestSpec) -> str:
    """Decode the reply to ``spec``: SOAP is UTF-8; blacklist replies fall back to GBK.

    Raises:
        ReplyFormatError: bytes valid in none of the encodings allowed for the endpoint.
    """
    if spec.endpoint is EndpointName.SEND_SOAP:
        return decode_body(body, Encoding.UTF8)
    try:
        return decode_body(body, spec.encoding)
    except ReplyFormatError:
        if spec.endpoint not in _GBK_TOO or spec.encoding is Encoding.GBK:
            raise
        return decode_body(body, Encoding.GBK)


def raise_for_error(text: str, *, node: str | None = None, endpoint: str | None = None) -> str:
    """Raise the mapped exception for an ``error:...`` reply; otherwise return it stripped."""
    if is_error_reply(text):
        raise error_for_reply(text, node=node, endpoint=endpoint)
    return text.strip()


def url_decode(text: str, encoding: Encoding = Encoding.UTF8, *, strict: bool = False) -> str:
    """Undo one urlencoding layer (``+`` is a space), then decode the bytes by ``encoding``.

    With ``strict=False`` invalid bytes become U+FFFD instead of raising.
    """
    raw = unquote_to_bytes(text.replace("+", " "))
    return raw.decode(encoding.codec, errors="strict" if strict else "replace")


def report_status(value: str) -> str:
    """The one status rule, for pulls and pushes: statuses are an open set.

    ``DELIVRD``, ``UNDELIV``, ``NOSEND``, ``TOO FAST`` and "其它" (§6.1.7, §7.1.2): ``ERR#104``,
    ``MI:0013/1`` or ``黑名单`` are as good. The document's "1 至 12 位" is noted, not enforced
    (refusing a consumed pull loses it); any printable text of 1 to ``STATUS_MAX_CHARS`` is a
    status. A ``>`` before it is a stray of the markup (§7's encoded XML example) and is dropped.

    Raises:
        ValueError: empty, longer, or holding control characters.
    """
    status = value.strip().removeprefix(">").strip()
    if not status or len(status) > STATUS_MAX_CHARS or not status.isprintable():
        raise ValueError(f"status is not 1-{STATUS_MAX_CHARS} printable characters")
    return status


def parse_wall_time(text: str) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM:SS`` (Beijing time) into an aware datetime.

    Raises:
        ValueError: when the text is not such a time.
    """
    match = _WALL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a wall-clock time: {text!r}")
    y, mo, d, h, mi, s = (int(g) for g in match.groups())
    return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)


def _records(
    text: str, split: Callable[[str], list[str]], what: str, *, empty_is_none: bool = True
) -> list[str]:
    body = text.strip()
    if body == NO_RECORD or (not body and empty_is_none):
        return []
    if not body:
        _bad(what, text)
    return [part.strip() for part in split(body) if part.strip()]


def _each(what: str, text: str, parts: list[str], build: Callable[[str], T]) -> list[T]:
    try:
        return [build(part) for part in parts]
    except (ValueError, IndexError, InvalidOperation, OverflowError):
        _bad(what, text)


#: What one record's parser raises for a record it cannot read.
RECORD_ERRORS: Final = (ValueError, IndexError, InvalidOperation, OverflowError)


def report_pull_records(text: str) -> list[str]:
    """The records of a report pull (§6.1.5): ``[]`` for ``no record``.

    Raises:
        ProviderError: an ``error:...`` reply.
        ReplyFormatError: an empty body (a report pull always answers ``no record`` or records).
    """
    return _records(raise_for_error(text), lambda b: b.split(";"), "report", empty_is_none=False)


def reply_pull_records(text: str) -> list[str]:
    """The records of a reply pull (§8.3), separated by ``;`` or ``|||``.

    Raises:
        ProviderError: an ``error:...`` reply.
    """
    return _records(raise_for_error(text), lambda b: re.split(r"\|\|\||;", b), "reply")


def parse_send(text: str, *, node: str | None = None, endpoint: str | None = None) -> str:
    """Parse a send reply (§3.1.2) and return the msgid.

    Raises:
        ProviderError: the mapped class for ``error:...``.
        ReplyFormatError: anything but ``success:<digits>``.
    """
    body = raise_for_error(text, node=node, endpoint=endpoint)
    if not body.startswith("success:") or not _MSGID.fullmatch(body[8:]):
        _bad("send", text)
    return body[8:]


def parse_balance(text: str) -> Balance:
    """Parse ``remaining/total`` (§4.1.2)."""
    body = raise_for_error(text)
    match = _BALANCE.fullmatch(body)
    if match is None:
        _bad("balance", text)
    return Balance(remaining=Decimal(match[1]), total=Decimal(match[2]))


def _parse_record(part: str, encoding: Encoding) -> SendRecord:
    fields = part.split(",")
    if len(fields) != 5:
        raise ValueError("a record has five fields")
    username, msgid, mobiles, content, stamp = fields
    numbers = tuple(m for m in re.split(r"[|\s]+", mobiles) if m)
    if not _MSGID.fullmatch(msgid) or not numbers or not all(_DIGITS.fullmatch(m) for m in numbers):
        raise ValueError("bad msgid or mobiles")
    if not _DIGITS.fullmatch(stamp):
        raise ValueError("bad time")
    return SendRecord(
        username=username,
        msgid=msgid,
        mobiles=numbers,
        content=url_decode(content, encoding),
        sent_at=datetime.fromtimestamp(int(stamp), tz=SHANGHAI),
    )


def parse_records(text: str, encoding: Encoding = Encoding.UTF8) -> list[SendRecord]:
    """Parse ``action=record`` (§5.1.2): ``user,msgid,m1|m2,urlencoded,unixtime;`` records."""
    body = raise_for_error(text)
    parts = _records(body, lambda b: b.split(";"), "record")
    return _each("record", text, parts, lambda p: _parse_record(p, encoding))


def _decimals(text: str, count: int) -> list[Decimal | None]:
    values: list[Decimal | None] = [Decimal(v) for v in re.split(r"[|/]", text.strip()) if v]
    if len(values) > count:
        raise ValueError("too many values")
    return values + [None] * (count - len(values))


def _parse_billing_block(block: str) -> BillingEntry:
    match = _BILLING.fullmatch(block)
    if match is None:
        raise ValueError("not a billing block")
    sums = [int(v) for v in match[2].split("/") if v.strip()]
    if not 1 <= len(sums) <= 4:
        raise ValueError("sum holds one to four totals")
    sums += [0] * (4 - len(sums))
    b = _decimals(match[3], 8)
    return BillingEntry(
        username=match[1],
        sent_domestic=sums[0],
        sent_international=sums[1],
        sent_mms=sums[2],
        sent_voice=sums[3],
        domestic=ChannelBalance(charged=b[0], remaining=b[1]),
        international=ChannelBalance(charged=b[2], remaining=b[3]),
        mms=ChannelBalance(charged=b[4], remaining=b[5]),
        voice=ChannelBalance(charged=b[6], remaining=b[7]),
        raw_balance=match[3],
    )


def parse_billing(text: str) -> list[BillingEntry]:
    """Parse ``action=billing`` (§5.1): ``username:u,sum:a/b/c/d,balance:...;`` blocks.

    The balance reads, in order, charged/remaining for domestic, international, MMS and voice; the
    document's examples separate them with both ``|`` and ``/`` and one omits the last value, so
    values are read in order and missing ones are ``None`` (docs/protocol.md, "Billing").
    """
    body = raise_for_error(text)
    blocks = _records(body, lambda b: b.split(";"), "billing")
    return _each("billing", text, blocks, _parse_billing_block)


def parse_report_record(part: str) -> DeliveryReport:
    """One pulled report record: 4, 5 or 6 comma-separated fields (§6.1.5–6.1.6)."""
    fields = [f.strip() for f in part.split(",")]
    ext: str | None = None
    report_id: str | None = None
    if len(fields) == 4:
        msgid, mobile, status, stamp = fields
    elif len(fields) == 5:
        ext, msgid, mobile, status, stamp = fields
    elif len(fields) == 6:
        ext, msgid, report_id, mobile, status, stamp = fields
    else:
        raise ValueError("a report has four to six fields")
    if not _MSGID.fullmatch(msgid) or not _DIGITS.fullmatch(mobile):
        raise ValueError("bad msgid or mobile")
    status = report_status(status)
    if ext and not _DIGITS.fullmatch(ext):
        raise ValueError("bad ext")
    if report_id is not None and not _DIGITS.fullmatch(report_id):
        raise ValueError("bad report id")
    return DeliveryReport(
        msgid=msgid,
        mobile=mobile,
        status=status,
        at=parse_wall_time(stamp),
        ext=ext or None,
        report_id=report_id,
    )


def parse_reports(text: str) -> list[DeliveryReport]:
    """Parse a report pull (§6.1.5–6.1.6): ``no record`` or 4-, 5- or 6-field records."""
    return _each("report", text, report_pull_records(text), parse_report_record)


def parse_reply_record(part: str, encoding: Encoding) -> InboundReply:
    """One pulled reply record: 4 or 5 comma-separated fields (§8.3)."""
    fields = [f.strip() for f in part.split(",")]
    ext: str | None = None
    if len(fields) == 5:
        ext, reply_id, mobile, content, stamp = fields
    elif len(fields) == 4:
        reply_id, mobile, content, stamp = fields
    else:
        raise ValueError("a reply has four or five fields")
    if not _DIGITS.fullmatch(reply_id) or not _DIGITS.fullmatch(mobile):
        raise ValueError("bad reply id or mobile")
    if ext and not _DIGITS.fullmatch(ext):
        raise ValueError("bad ext")
    return InboundReply(
        ext=ext or None,
        reply_id=reply_id,
        mobile=mobile,
        content=url_decode(content, encoding),
        at=parse_wall_time(stamp),
        raw_content=content,
    )


def parse_replies(text: str, encoding: Encoding = Encoding.UTF8) -> list[InboundReply]:
    """Parse a reply pull (§8.3): records separated by ``;`` or ``|||``."""
    return _each("reply", text, reply_pull_records(text), lambda p: parse_reply_record(p, encoding))


def parse_blacklist_check(text: str) -> BlacklistStatus:
    """Parse a blacklist check (§10.1.2)."""
    body = raise_for_error(text)
    if body == "success:Non black number":
        return BlacklistStatus(listed=False)
    match = _BLACK.fullmatch(body)
    if match is None:
        _bad("blacklist check", text)
    return BlacklistStatus(listed=True, description=match[1], added_at=match[2])


def parse_blacklist_remove(text: str) -> None:
    """Parse a blacklist removal (§10.2.2); returns on ``success:Added white number``."""
    if raise_for_error(text) != "success:Added white number":
        _bad("blacklist removal", text)


def parse_bind(text: str) -> str:
    """Parse an IP binding reply; the document shows none, so any ``success`` text is success."""
    body = raise_for_error(text)
    if body != "success" and not body.startswith("success:"):
        _bad("bind", text)
    return body[8:]


def parse_soap_send(text: str, *, node: str | None = None) -> str:
    """Parse a SOAP ``sendsmsResponse`` and return the msgid of its ``success:msgid`` string.

    Raises:
        UnknownProviderError: a SOAP Fault, with its faultstring.
        ReplyFormatError: anything that is not a SOAP envelope with one return string.
    """
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        _bad("SOAP", text)
    fault = next((el for el in root.iter() if el.tag.endswith("}Fault") or el.tag == "Fault"), None)
    if fault is not None:
        reason = fault.findtext("faultstring") or "SOAP fault"
        raise UnknownProviderError(f"SOAP fault: {reason}", node=node, endpoint="send_soap")
    for el in root.iter():
        if el.tag.endswith("sendsmsResponse"):
            children = list(el)
            if len(children) == 1 and children[0].text is not None:
                return parse_send(children[0].text, node=node, endpoint="send_soap")
    _bad("SOAP", text)
