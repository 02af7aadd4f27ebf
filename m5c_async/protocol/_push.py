"""Parsers for what the platform pushes: delivery reports (§7.1.1) and replies (§9.1).

Input is the value of the ``data`` form field after the HTTP layer has decoded it. Three shapes:
string (``;`` between records, ``,`` between fields), JSON (``{"results": [...]}``) and XML
(``<results><item>...</item></results>``). Decisions on the document's own broken examples are in
docs/protocol.md, "Pushes"; in short:

- XML is parsed by defusedxml with DTDs refused: no entity expansion, no external entities.
- Mismatched XML (the ``<it>...</item>`` of §7) and invalid JSON (the quoting of §9's decoded
  example) are refused: repairing a malformed document is guesswork.
- A stray ``>`` before a status (``<status>>NOSEND</status>``, §7) is dropped: well-formed, and the
  intent is unambiguous.
- Empty ``replyid`` / ``receivetime`` in the XML reply example are accepted as unknown (``None``).
- Reply content is urldecoded once more after the HTTP layer (the field table says urlencoded); text
  that holds no escapes is unchanged by this, as in the examples.

A push is all or nothing: one bad record refuses the whole push, so nothing is stored half.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, NoReturn, TypeVar
from urllib.parse import quote_plus
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import orjson
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from .._exceptions import PushFormatError
from ._models import SHANGHAI, DeliveryReport, InboundReply
from ._parsers import url_decode

__all__ = [
    "PushFormat",
    "detect_push_format",
    "format_reply_push",
    "format_report_push",
    "parse_reply_push",
    "parse_report_push",
]

_DIGITS: Final = re.compile(r"\d{1,20}")
_STATUS: Final = re.compile(r"[A-Za-z0-9_: .-]{1,12}")
MAX_RECORDS: Final = 100_000

T = TypeVar("T")


class PushFormat(StrEnum):
    """The three push formats an account can choose on the platform."""

    STRING = "string"
    JSON = "json"
    XML = "xml"


def _bad(message: str, data: str) -> NoReturn:
    raise PushFormatError(message, text=data)


def detect_push_format(data: str) -> PushFormat:
    """Guess the format from the first non-blank character (``<`` XML, ``{`` JSON)."""
    head = data.lstrip()[:1]
    if head == "<":
        return PushFormat.XML
    if head == "{":
        return PushFormat.JSON
    return PushFormat.STRING


def _unix(value: str, *, optional: bool = False) -> datetime | None:
    if optional and not value:
        return None
    if not _DIGITS.fullmatch(value) or len(value) > 11:
        raise ValueError("receivetime must be a Unix time")
    return datetime.fromtimestamp(int(value), tz=SHANGHAI)


def _digits(value: str, what: str) -> str:
    if not _DIGITS.fullmatch(value):
        raise ValueError(f"{what} must be digits")
    return value


def _report(fields: Mapping[str, str]) -> DeliveryReport:
    status = fields.get("status", "").strip().lstrip(">").strip()
    if not _STATUS.fullmatch(status):
        raise ValueError("bad status")
    return DeliveryReport(
        msgid=_digits(fields.get("msgid", ""), "msgid"),
        mobile=_digits(fields.get("mobile", ""), "mobile"),
        status=status,
        at=_unix(fields.get("receivetime", "")),
    )


def _reply(fields: Mapping[str, str]) -> InboundReply:
    raw = fields.get("content", "")
    ext = fields.get("ext", "")
    reply_id = fields.get("replyid", "")
    return InboundReply(
        ext=_digits(ext, "ext") if ext else None,
        reply_id=_digits(reply_id, "replyid") if reply_id else None,
        mobile=_digits(fields.get("mobile", ""), "mobile"),
        content=url_decode(raw),
        at=_unix(fields.get("receivetime", ""), optional=True),
        raw_content=raw,
    )


_REPORT_FIELDS: Final = ("msgid", "mobile", "status", "receivetime")
_REPLY_FIELDS: Final = ("ext", "replyid", "mobile", "content", "receivetime")


def _from_string(data: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    rows = []
    for part in data.split(";"):
        if not part.strip():
            continue
        values = [v.strip() for v in part.split(",")]
        if len(values) != len(names):
            raise ValueError(f"a record has {len(names)} fields, not {len(values)}")
        rows.append(dict(zip(names, values, strict=True)))
    return rows


def _from_json(data: str) -> list[dict[str, str]]:
    doc: Any = orjson.loads(data)
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list):
        raise ValueError('a JSON push is {"results": [...]}')
    rows = []
    for item in results:
        if not isinstance(item, dict):
            raise ValueError("each result is an object")
        row = {}
        for key, value in item.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(f"{key} must be a string or an integer")
            row[str(key)] = str(value).strip()
        rows.append(row)
    return rows


def _from_xml(data: str) -> list[dict[str, str]]:
    root: Element = SafeET.fromstring(data, forbid_dtd=True)
    if root.tag != "results":
        raise ValueError("the XML root must be <results>")
    rows = []
    for item in root:
        if item.tag != "item":
            raise ValueError("<results> holds <item> elements")
        rows.append({child.tag: (child.text or "").strip() for child in item})
    return rows


_READERS: Final[dict[PushFormat, Callable[[str], list[dict[str, str]]]]] = {
    PushFormat.JSON: _from_json,
    PushFormat.XML: _from_xml,
}


def _parse(
    data: str,
    fmt: PushFormat | str | None,
    names: tuple[str, ...],
    build: Callable[[Mapping[str, str]], T],
    what: str,
) -> list[T]:
    if not isinstance(data, str) or not data.strip():
        _bad(f"empty {what} push", data if isinstance(data, str) else "")
    kind = detect_push_format(data) if fmt is None else PushFormat(fmt)
    reader = _READERS.get(kind)
    try:
        rows = reader(data) if reader is not None else _from_string(data, names)
        if not rows:
            raise ValueError("no records")
        if len(rows) > MAX_RECORDS:
            raise ValueError("too many records in one push")
        return [build(row) for row in rows]
    except DefusedXmlException as exc:
        raise PushFormatError(
            f"hostile {what} push refused ({type(exc).__name__})", text=data
        ) from None
    except SafeET.ParseError as exc:
        raise PushFormatError(f"malformed XML {what} push ({exc})", text=data) from None
    except orjson.JSONDecodeError as exc:
        raise PushFormatError(f"malformed JSON {what} push ({exc})", text=data) from None
    except (ValueError, OverflowError) as exc:
        raise PushFormatError(f"malformed {kind.value} {what} push ({exc})", text=data) from None


def parse_report_push(data: str, fmt: PushFormat | str | None = None) -> list[DeliveryReport]:
    """Parse a pushed batch of delivery reports (§7.1.1).

    Args:
        data: the ``data`` field's value after the HTTP layer's decoding.
        fmt: the account's push format; detected from the first character when None.

    Raises:
        PushFormatError: malformed or hostile input; nothing is returned half.
    """
    return _parse(data, fmt, _REPORT_FIELDS, _report, "report")


def parse_reply_push(data: str, fmt: PushFormat | str | None = None) -> list[InboundReply]:
    """Parse a pushed batch of handset replies (§9.1). See ``parse_report_push``."""
    return _parse(data, fmt, _REPLY_FIELDS, _reply, "reply")


def _xml_items(rows: list[dict[str, str]]) -> str:
    items = "".join(
        "<item>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in row.items()) + "</item>"
        for row in rows
    )
    return f'<?xml version="1.0" encoding="utf-8"?><results>{items}</results>'


def _format(rows: list[dict[str, str]], names: tuple[str, ...], fmt: PushFormat) -> str:
    if fmt is PushFormat.JSON:
        return orjson.dumps({"results": rows}).decode("utf-8")
    if fmt is PushFormat.XML:
        return _xml_items(rows)
    return ";".join(",".join(row[n] for n in names) for row in rows)


def format_report_push(
    reports: list[tuple[str, str, str, int]], fmt: PushFormat | str = PushFormat.STRING
) -> str:
    """Write ``(msgid, mobile, status, unix_time)`` tuples as a §7 push ``data`` value."""
    rows = [
        dict(zip(_REPORT_FIELDS, (m, mob, st, str(t)), strict=True)) for m, mob, st, t in reports
    ]
    return _format(rows, _REPORT_FIELDS, PushFormat(fmt))


def format_reply_push(
    replies: list[tuple[str, str, str, str, int]], fmt: PushFormat | str = PushFormat.STRING
) -> str:
    """Write ``(ext, replyid, mobile, content, unix_time)`` as a §9 push ``data`` value.

    Content is urlencoded (UTF-8) as the field table of §9.1 asks.
    """
    rows = [
        dict(zip(_REPLY_FIELDS, (e, r, mob, quote_plus(c), str(t)), strict=True))
        for e, r, mob, c, t in replies
    ]
    return _format(rows, _REPLY_FIELDS, PushFormat(fmt))
