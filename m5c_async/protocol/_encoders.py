"""Request encoders: ``build_*(...) -> RequestSpec``, one per endpoint.

Rules (each decided in docs/protocol.md):

- Content is 1 to 500 characters (Unicode code points), without NUL.
- Content is urlencoded in the request's ``encode`` (§3.1.1) *before* the HTTP layer encodes the
  field again; the platform decodes once more after the HTTP layer. So ``% + & = # ; ,`` survive.
  The JSON (§3.2), XML (§3.3) and batch (§3.5) payloads carry the same urlencoded content; SOAP
  (§3.4) carries plain text.
- The wire is ASCII for every format but SOAP: ``encode`` only governs the urlencoded content.
- GET puts every field in the URL; POST puts every field in an
  ``application/x-www-form-urlencoded`` body, so credentials stay out of URLs. ``format``
  (JSON, XML and batch sends) is a URL parameter in the document: a POST carries it in the
  query as well as in the body.
- ``startTime`` comes from an aware datetime as a 10-digit Unix time; naive datetimes are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Final
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

import orjson

from .._exceptions import (
    ContentEncodingError,
    ContentError,
    InvalidParameterError,
    InvalidTimeError,
)
from ._catalog import ENDPOINTS, EndpointName
from ._credentials import Credentials

__all__ = [
    "MAX_CONTENT_CHARS",
    "SOAP_NAMESPACE",
    "BatchItem",
    "Encoding",
    "RequestSpec",
    "SendFormat",
    "build_balance",
    "build_billing",
    "build_bind_ips",
    "build_blacklist_check",
    "build_blacklist_remove",
    "build_records",
    "build_replies",
    "build_replies_between",
    "build_reports",
    "build_reports_for",
    "build_send",
    "build_send_batch",
    "check_content",
    "encode_content",
    "normalize_encoding",
    "to_unix",
]

_SEND = ENDPOINTS[EndpointName.SEND]
_EXT_MIN, _EXT_MAX = _SEND.param("ext").min_len or 1, _SEND.param("ext").max_len or 10
#: The content's length rule, as the catalog has it from the document's table (§3.1).
MAX_CONTENT_CHARS: Final = _SEND.param("content").max_len or 500
SOAP_NAMESPACE: Final = "urn:m5c:sms_webservice"
_FORM: Final = "application/x-www-form-urlencoded"


class Encoding(StrEnum):
    """The two values of the ``encode`` parameter (§3.1.1), as this library spells them."""

    UTF8 = "UTF-8"
    GBK = "GBK"

    @property
    def codec(self) -> str:
        """Python's codec name for this encoding."""
        return "utf-8" if self is Encoding.UTF8 else "gbk"


def normalize_encoding(value: str) -> Encoding:
    """Map ``utf-8``, ``UTF8``, ``gbk``... (any case) to an ``Encoding``.

    Raises:
        InvalidParameterError: for anything but GBK and UTF-8.
    """
    key = value.strip().upper().replace("_", "-")
    if key in ("UTF-8", "UTF8"):
        return Encoding.UTF8
    if key == "GBK":
        return Encoding.GBK
    raise InvalidParameterError(f"encode must be GBK or UTF-8, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSpec:
    """Everything needed to make one HTTP request, decided without I/O.

    ``query`` goes into the URL; ``body`` (with ``content_type``) is the POST body. The repr shows
    neither, since both may hold credentials.
    """

    endpoint: EndpointName
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    encoding: Encoding = Encoding.UTF8

    def __repr__(self) -> str:
        return f"RequestSpec(endpoint={self.endpoint.value!r}, {self.method} {self.path})"


def check_content(content: str, encoding: Encoding = Encoding.UTF8) -> bytes:
    """Validate content and return its bytes in ``encoding``.

    Raises:
        ContentError: empty, over 500 characters, or holding NUL.
        ContentEncodingError: naming the first character ``encoding`` cannot carry.
    """
    if not isinstance(content, str) or not content:
        raise ContentError("content must be a non-empty string")
    if len(content) > MAX_CONTENT_CHARS:
        raise ContentError(
            f"content is {len(content)} characters; the platform takes at most {MAX_CONTENT_CHARS}"
        )
    if "\x00" in content:
        raise ContentError(f"content holds a NUL character at position {content.index(chr(0))}")
    try:
        return content.encode(encoding.codec)
    except UnicodeEncodeError as exc:
        char = content[exc.start]
        raise ContentEncodingError(
            f"{encoding.value} cannot carry {char!r} (U+{ord(char):04X}) at position {exc.start}",
            char=char,
            position=exc.start,
            encoding=encoding.value,
        ) from None


@lru_cache(maxsize=1024)
def encode_content(content: str, encoding: Encoding = Encoding.UTF8) -> str:
    """Return the urlencoded form of ``content`` the platform expects in ``content`` fields.

    Cached: a campaign sends one content many times.
    """
    return quote_plus(check_content(content, encoding), safe="")


def to_unix(moment: datetime, *, name: str = "time") -> str:
    """Return an aware datetime as a 10-digit Unix time string.

    Raises:
        InvalidTimeError: for naive datetimes or times outside 10 digits.
    """
    if not isinstance(moment, datetime):
        raise InvalidTimeError(f"{name} must be a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidTimeError(f"{name} must be timezone-aware (naive datetimes are ambiguous)")
    value = int(moment.timestamp())
    if not 1_000_000_000 <= value <= 9_999_999_999:
        raise InvalidTimeError(f"{name} must fall within 10-digit Unix times")
    return str(value)


def _check_ext(ext: str | int | None) -> str | None:
    if ext is None:
        return None
    text = str(ext)
    if not (text.isascii() and text.isdigit() and _EXT_MIN <= len(text) <= _EXT_MAX):
        raise InvalidParameterError(f"ext must be {_EXT_MIN} to {_EXT_MAX} digits")
    return text


def _check_mobiles(mobiles: Sequence[str]) -> str:
    if isinstance(mobiles, str):
        raise InvalidParameterError("mobiles must be a sequence of numbers, not one string")
    if not mobiles:
        raise InvalidParameterError("at least one mobile number is required")
    joined = ",".join(mobiles)
    if not joined.replace(",", "").isdigit() or not joined.isascii() or ",," in joined:
        raise InvalidParameterError("mobile numbers must be normalised digit strings")
    return joined


def _auth(creds: Credentials) -> list[tuple[str, str]]:
    return [
        ("username", creds.username),
        ("password_md5", creds.password_md5),
        ("apikey", creds.apikey),
    ]


_FORM_SAFE: Final = re.compile(r"[A-Za-z0-9_.~-]*")
_FORM_PERCENT: Final = re.compile(r"[A-Za-z0-9_.~%+-]*")


def _form_value(value: str) -> str:
    """``quote_plus`` with a fast path for the values this API mostly carries.

    Names, digits, md5s and apikeys are already safe; numbers only need their commas escaped;
    urlencoded content only holds ``%`` and ``+`` besides safe characters.
    """
    if _FORM_SAFE.fullmatch(value):
        return value
    if _FORM_PERCENT.fullmatch(value):
        return value.replace("%", "%25").replace("+", "%2B")
    return quote_plus(value, safe="")


def _form_body(pairs: Iterable[tuple[str, str]]) -> bytes:
    return "&".join(f"{k}={_form_value(v)}" for k, v in pairs).encode("ascii")


def _form(
    name: EndpointName,
    fields: list[tuple[str, str]],
    method: str,
    encoding: Encoding = Encoding.UTF8,
) -> RequestSpec:
    endpoint = ENDPOINTS[name]
    verb = method.upper()
    if verb not in endpoint.methods:
        raise InvalidParameterError(f"{name.value} accepts {', '.join(endpoint.methods)} only")
    pairs = tuple(fields) + endpoint.fixed
    if verb == "GET":
        return RequestSpec(
            endpoint=name, method=verb, path=endpoint.path, query=pairs, encoding=encoding
        )
    # The document lists `format` as a URL parameter (§3.2, §3.3, §3.5): it goes in the query
    # of a POST too, and stays in the body for a platform that reads only the body.
    return RequestSpec(
        endpoint=name,
        method=verb,
        path=endpoint.path,
        query=tuple(p for p in endpoint.fixed if p[0] == "format"),
        body=_form_body(pairs),
        content_type=_FORM,
        encoding=encoding,
    )


def _send_fields(
    mobiles: Sequence[str],
    content: str,
    encoding: Encoding,
    at: datetime | None,
    ext: str | int | None,
    now: datetime | None,
) -> list[tuple[str, str]]:
    fields = [("mobile", _check_mobiles(mobiles)), ("content", encode_content(content, encoding))]
    if at is not None:
        if now is not None and at < now:
            raise InvalidTimeError("startTime is in the past")
        fields.append(("startTime", to_unix(at, name="startTime")))
    ext_text = _check_ext(ext)
    if ext_text is not None:
        fields.append(("ext", ext_text))
    return fields


class SendFormat(StrEnum):
    """The four ways to submit a send (§3.1–§3.4)."""

    FORM = "form"
    JSON = "json"
    XML = "xml"
    SOAP = "soap"


def build_send(
    creds: Credentials,
    mobiles: Sequence[str],
    content: str,
    *,
    encoding: Encoding = Encoding.UTF8,
    at: datetime | None = None,
    ext: str | int | None = None,
    method: str = "POST",
    format: SendFormat | str = SendFormat.FORM,
    now: datetime | None = None,
) -> RequestSpec:
    """Build a send request in one of the four formats.

    Args:
        creds: the account.
        mobiles: normalised numbers (see ``Recipients``).
        content: the message text, 1 to 500 characters.
        encoding: ``encode`` of the request.
        at: aware datetime for a scheduled send (``startTime``).
        ext: extension number, 1 to 10 digits.
        method: GET or POST (SOAP is always POST).
        format: form, json, xml or soap.
        now: when given, ``at`` before it is refused.

    Raises:
        InvalidRequestError: any argument outside the document's rules.
    """
    fmt = SendFormat(format)
    if fmt is SendFormat.SOAP:
        if at is not None or ext is not None:
            raise InvalidParameterError("the SOAP sendsms operation takes no startTime or ext")
        return _build_soap(creds, mobiles, content)
    fields = _send_fields(mobiles, content, encoding, at, ext, now)
    if fmt is SendFormat.FORM:
        return _form(
            EndpointName.SEND, [*_auth(creds), *fields, ("encode", encoding.value)], method
        )
    document: list[tuple[str, str]] = [
        ("type", "send"),
        *_auth(creds),
        ("encode", encoding.value),
        *fields,
    ]
    if fmt is SendFormat.JSON:
        data = orjson.dumps(dict(document)).decode("ascii")
        return _form(EndpointName.SEND_JSON, [("data", data)], method, encoding)
    return _form(
        EndpointName.SEND_XML, [("data", _xml_document("sms", document))], method, encoding
    )


def _xml_document(root: str, fields: Iterable[tuple[str, str]]) -> str:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields)
    return f"<?xml version='1.0' encoding='UTF-8' ?><{root}>{inner}</{root}>"


_XML_FORBIDDEN: Final = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r")


def _build_soap(creds: Credentials, mobiles: Sequence[str], content: str) -> RequestSpec:
    check_content(content, Encoding.UTF8)
    bad = next((ch for ch in content if ch in _XML_FORBIDDEN), None)
    if bad is not None:
        raise ContentError(f"SOAP (XML 1.0) cannot carry the control character U+{ord(bad):04X}")
    args = (
        ("apikey", creds.apikey),
        ("username", creds.username),
        ("password", creds.password_md5),
        ("mobile", _check_mobiles(mobiles)),
        ("content", content),
    )
    # \r would be normalised away by any XML parser; a character reference keeps it.
    body = "".join(
        f'<{k} xsi:type="xsd:string">{escape(v, {chr(13): "&#13;"})}</{k}>' for k, v in args
    )
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"'
        f' xmlns:ns1="{SOAP_NAMESPACE}"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">'
        f"<SOAP-ENV:Body><ns1:sendsms>{body}</ns1:sendsms></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    endpoint = ENDPOINTS[EndpointName.SEND_SOAP]
    return RequestSpec(
        endpoint=EndpointName.SEND_SOAP,
        method="POST",
        path=endpoint.path,
        body=envelope.encode("utf-8"),
        content_type="text/xml; charset=utf-8",
        headers=(("SOAPAction", f'"{SOAP_NAMESPACE}#sendsms"'),),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchItem:
    """One item of an ``sms_batch.php`` request (§3.5): its numbers, content and send time."""

    mobiles: tuple[str, ...]
    content: str
    at: datetime | None = None


def build_send_batch(
    creds: Credentials,
    items: Sequence[BatchItem],
    *,
    encoding: Encoding = Encoding.UTF8,
    now: datetime | None = None,
) -> RequestSpec:
    """Build an ``sms_batch.php`` request (always POST, ``format=xml``).

    Raises:
        InvalidRequestError: an empty batch or any item outside the rules.
    """
    if not items:
        raise InvalidParameterError("a batch needs at least one item")
    account = "".join(
        f"<{k}>{escape(v)}</{k}>" for k, v in (*_auth(creds), ("encode", encoding.value))
    )
    parts = []
    for item in items:
        mobile = _check_mobiles(item.mobiles)
        content = encode_content(item.content, encoding)
        start = "0"
        if item.at is not None:
            if now is not None and item.at < now:
                raise InvalidTimeError("startTime is in the past")
            start = to_unix(item.at, name="startTime")
        parts.append(
            f"<item><mobile>{mobile}</mobile><content>{content}</content>"
            f"<startTime>{start}</startTime></item>"
        )
    data = (
        '<?xml version="1.0" encoding="utf-8"?><sms>'
        f"<account>{account}</account><sms_list>{''.join(parts)}</sms_list></sms>"
    )
    return _form(EndpointName.SEND_BATCH, [("data", data)], "POST", encoding)


def _range(start: datetime, end: datetime) -> list[tuple[str, str]]:
    low, high = to_unix(start, name="start"), to_unix(end, name="end")
    if int(low) > int(high):
        raise InvalidTimeError("start must not be after end")
    return [("from", low), ("to", high)]


def build_balance(creds: Credentials, *, method: str = "POST") -> RequestSpec:
    """Build a balance query (§4.1)."""
    return _form(EndpointName.BALANCE, _auth(creds), method)


def build_records(
    creds: Credentials,
    start: datetime,
    end: datetime,
    *,
    encoding: Encoding = Encoding.UTF8,
    method: str = "POST",
) -> RequestSpec:
    """Build a send-record query, ``action=record`` (§5.1)."""
    fields = [*_auth(creds), ("encode", encoding.value), *_range(start, end)]
    return _form(EndpointName.RECORDS, fields, method, encoding)


def build_billing(
    creds: Credentials,
    start: datetime,
    end: datetime,
    *,
    agent: str | None = None,
    encoding: Encoding = Encoding.UTF8,
    method: str = "POST",
) -> RequestSpec:
    """Build a billing query, ``action=billing`` (§5.1); ``agent`` names a sub-account."""
    if agent is not None and (len(agent) > 32 or any(ch.isspace() for ch in agent)):
        raise InvalidParameterError("agent_username must be at most 32 characters, no spaces")
    fields = [*_auth(creds), ("encode", encoding.value), ("agent_username", agent or "")]
    return _form(EndpointName.BILLING, [*fields, *_range(start, end)], method, encoding)


def build_reports(creds: Credentials, *, method: str = "POST") -> RequestSpec:
    """Build a report pull (§6.1.2); the platform forgets what it returns."""
    return _form(EndpointName.REPORTS, _auth(creds), method)


def build_reports_for(
    creds: Credentials,
    mobiles: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    method: str = "POST",
) -> RequestSpec:
    """Build a report query by number and time range (§6.1.3); repeatable."""
    fields = [*_auth(creds), *_range(start, end), ("mobile", _check_mobiles(mobiles))]
    return _form(EndpointName.REPORTS_FOR, fields, method)


def build_replies(
    creds: Credentials,
    *,
    debug: bool = False,
    encoding: Encoding = Encoding.UTF8,
    method: str = "POST",
) -> RequestSpec:
    """Build a one-shot reply pull (§8.1); ``debug=True`` leaves the replies on the platform."""
    fields = [*_auth(creds), ("encode", encoding.value)]
    if debug:
        fields.append(("debug", "1"))
    return _form(EndpointName.REPLIES, fields, method, encoding)


def build_replies_between(
    creds: Credentials,
    start: datetime,
    end: datetime,
    *,
    mobiles: Sequence[str] | None = None,
    encoding: Encoding = Encoding.UTF8,
    method: str = "POST",
) -> RequestSpec:
    """Build a repeatable reply query, ``action=queryByCondition`` (§8.2)."""
    fields = [*_auth(creds), ("encode", encoding.value), *_range(start, end)]
    if mobiles:
        fields.append(("mobile", _check_mobiles(mobiles)))
    return _form(EndpointName.REPLIES_BETWEEN, fields, method, encoding)


def _one_mobile(mobile: str) -> str:
    if not (isinstance(mobile, str) and mobile.isascii() and mobile.isdigit()):
        raise InvalidParameterError("mobile must be a normalised digit string")
    return mobile


def build_blacklist_check(creds: Credentials, mobile: str, *, method: str = "POST") -> RequestSpec:
    """Build a blacklist check, ``action=check`` (§10.1)."""
    fields = [*_auth(creds), ("mobile", _one_mobile(mobile))]
    return _form(EndpointName.BLACKLIST_CHECK, fields, method)


def build_blacklist_remove(creds: Credentials, mobile: str, *, method: str = "POST") -> RequestSpec:
    """Build a blacklist removal (whitelisting), ``action=add`` (§10.2)."""
    fields = [*_auth(creds), ("mobile", _one_mobile(mobile))]
    return _form(EndpointName.BLACKLIST_REMOVE, fields, method)


def _check_ip(ip: str) -> str:
    parts = ip.strip().split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 and len(p) <= 3 for p in parts):
        raise InvalidParameterError(f"not an IPv4 address: {ip!r}")
    return ".".join(str(int(p)) for p in parts)


def build_bind_ips(creds: Credentials, ips: Sequence[str], *, method: str = "POST") -> RequestSpec:
    """Build an IP binding (§2.3, ``action=0``): the account then accepts only these addresses."""
    if isinstance(ips, str) or not ips:
        raise InvalidParameterError("give a non-empty list of IPv4 addresses")
    fields = [*_auth(creds), ("ip", ",".join(_check_ip(ip) for ip in ips))]
    return _form(EndpointName.BIND_IP, fields, method)
