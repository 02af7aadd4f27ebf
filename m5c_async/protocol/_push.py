"""Reading what the platform pushes: delivery reports (§7.1.1) and replies (§9.1), record by record.

Input is one ``data`` value after its one URL decoding (``_push_http.py``). Rules (docs/protocol.md,
"Pushes", gives every decision on the document's examples):

1. The format is the account's (``fmt=``) or detected from the first character: ``<`` XML,
   ``{`` JSON, anything else the string form (``;`` between records, ``,`` between fields).
   A leading BOM and surrounding whitespace are ignored.
2. Each record is read on its own. What reads is returned; what does not is *quarantined*: kept
   with its raw text (a self-contained push: one string record, ``{"results":[item]}`` or
   ``<results>item</results>``) and the reason. A payload that is none of the three formats, or
   whose envelope is broken (invalid JSON, malformed or hostile XML), is quarantined whole.
   Nothing is dropped: ``records + quarantined records == records received``.
3. Past ``max_records`` records, the rest of the push is quarantined as one entry (``records`` says
   how many it holds), never dropped.
4. Statuses are an open set (``ERR#104``, ``MI:0013/1``, ``黑名单``, ``TOO FAST``): the one rule
   is ``report_status`` (any printable text of 1 to 64 characters; the document's 1-12 is noted).
5. ``receivetime`` is empty (unknown, ``None``) or a 10-digit Unix time (§7.1.1, §9.1 "10 位").
6. Reply content in the string form is everything between the third comma and the last one,
   so a comma in a reply survives. Content is decoded a second time only when it is *entirely*
   in urlencoded form (``decode_push_content``); the raw field is kept beside it.
7. XML is parsed by defusedxml with DTDs refused: no entity expansion, no external entities.
   XML nested deeper than Python's recursion limit is quarantined whole, like broken XML.
8. Reasons never quote a field's value (it may be a phone number or content): the raw text is
   kept beside them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Generic, TypeVar
from urllib.parse import unquote_to_bytes
from xml.etree.ElementTree import Element, tostring

import orjson
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from .._exceptions import PushFormatError
from ._encoders import Encoding
from ._models import SHANGHAI, DeliveryReport, InboundReply
from ._parsers import (
    RECORD_ERRORS,
    parse_reply_record,
    parse_report_record,
    reply_pull_records,
    report_pull_records,
    report_status,
)

__all__ = [
    "MAX_RECORDS_PER_PUSH",
    "PushBatch",
    "PushFormat",
    "PushKind",
    "Quarantined",
    "decode_push_content",
    "detect_push_format",
    "parse_reply_push",
    "parse_report_push",
    "read_push",
    "read_reply_pull",
    "read_reply_push",
    "read_report_pull",
    "read_report_push",
]

#: Records read from one push; the rest is quarantined as one entry (a named, configurable cap).
MAX_RECORDS_PER_PUSH: Final = 10_000

_ID: Final = re.compile(r"[0-9]{1,20}")
_TIME: Final = re.compile(r"[0-9]{10}")
#: Entirely in urlencoded form: unreserved characters and %XX escapes, at least one escape.
_ENCODED: Final = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")

R = TypeVar("R", DeliveryReport, InboundReply)


class PushFormat(StrEnum):
    """The three push formats an account can choose on the platform."""

    STRING = "string"
    JSON = "json"
    XML = "xml"


class PushKind(StrEnum):
    """What a push carries."""

    REPORT = "report"
    REPLY = "reply"


@dataclass(frozen=True, slots=True, kw_only=True)
class Quarantined:
    """Part of a push that could not be read as records, kept with its raw text.

    Attributes:
        kind: reports or replies.
        raw: a self-contained push text (one record, the overflow, or the whole payload).
        reason: why it was not read.
        format: the format it was read as; ``None`` when it is none of the three.
        records: records it holds (1, or the overflow's count); 0 for a whole unreadable payload.
        position: index of its first record in the push (0 for a whole payload).
    """

    kind: PushKind
    raw: str
    reason: str
    format: PushFormat | None
    records: int
    position: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PushBatch(Generic[R]):
    """One push, read: the records that parsed and what was quarantined.

    Attributes:
        digest: SHA-256 of the payload, identifying an exact retry of the same push.
        positions: each record's index in the push (a key part for replies with no id or time).
    """

    kind: PushKind
    format: PushFormat | None
    records: tuple[R, ...]
    quarantined: tuple[Quarantined, ...]
    digest: str
    positions: tuple[int, ...] = field(default=())

    @property
    def received(self) -> int:
        """Records in the push as far as they could be counted (stored + quarantined)."""
        return len(self.records) + sum(q.records for q in self.quarantined)


def detect_push_format(data: str) -> PushFormat:
    """Guess the format from the first non-blank character (``<`` XML, ``{`` JSON)."""
    head = data.lstrip("\ufeff \t\r\n")[:1]
    if head == "<":
        return PushFormat.XML
    if head == "{":
        return PushFormat.JSON
    return PushFormat.STRING


def decode_push_content(raw: str) -> str:
    """Decode reply content a second time only when it is entirely in urlencoded form.

    §9.1's table says content is urlencoded; every example carries it plain after the one
    decoding of ``data``. So ``%e5%a5%bd`` becomes ``好`` while ``C++ 100%`` and ``1+1=2`` stay as
    they are: only unreserved characters and ``%XX`` escapes forming valid UTF-8 are decoded.

    >>> decode_push_content("%e5%a5%bd"), decode_push_content("C++ 100%")
    ('好', 'C++ 100%')
    """
    text = raw.strip()
    if "%" not in text or not _ENCODED.fullmatch(text):
        return text
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        return text


def _unix(value: str) -> datetime | None:
    if not value:
        return None
    if not _TIME.fullmatch(value):
        raise ValueError("receivetime is not a 10-digit Unix time")
    return datetime.fromtimestamp(int(value), tz=SHANGHAI)


def _id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(f"{what} is not 1-20 digits")
    return value


def _optional_id(value: str, what: str) -> str | None:
    return _id(value, what) if value else None


def _report(fields: Mapping[str, str]) -> DeliveryReport:
    return DeliveryReport(
        msgid=_id(fields.get("msgid", "").strip(), "msgid"),
        mobile=_id(fields.get("mobile", "").strip(), "mobile"),
        status=report_status(fields.get("status", "")),
        at=_unix(fields.get("receivetime", "").strip()),
    )


def _reply(fields: Mapping[str, str]) -> InboundReply:
    raw = fields.get("content", "")
    return InboundReply(
        ext=_optional_id(fields.get("ext", "").strip(), "ext"),
        reply_id=_optional_id(fields.get("replyid", "").strip(), "replyid"),
        mobile=_id(fields.get("mobile", "").strip(), "mobile"),
        content=decode_push_content(raw),
        at=_unix(fields.get("receivetime", "").strip()),
        raw_content=raw,
    )


_REPORT_FIELDS: Final = ("msgid", "mobile", "status", "receivetime")


def _string_fields(kind: PushKind, record: str) -> dict[str, str]:
    values = record.split(",")
    if kind is PushKind.REPORT:
        if len(values) != 4:
            raise ValueError(f"a report has 4 fields, not {len(values)}")
        return dict(zip(_REPORT_FIELDS, values, strict=True))
    if len(values) < 5:
        raise ValueError(f"a reply has 5 fields, not {len(values)}")
    # The content is everything between the third comma and the last one.
    return {
        "ext": values[0],
        "replyid": values[1],
        "mobile": values[2],
        "content": ",".join(values[3:-1]),
        "receivetime": values[-1],
    }


# A record: (its own raw push text, its fields or the reason it has none).
_Row = tuple[str, dict[str, str] | str]


def _from_string(kind: PushKind, data: str) -> list[_Row]:
    if "," not in data:
        raise ValueError("not a string, JSON or XML push")
    rows: list[_Row] = []
    for part in data.split(";"):
        if not part.strip():
            continue
        try:
            rows.append((part, _string_fields(kind, part)))
        except ValueError as exc:
            rows.append((part, str(exc)))
    return rows


def _json_item(item: Any) -> dict[str, str] | str:
    if not isinstance(item, dict):
        return "a result is not an object"
    row: dict[str, str] = {}
    for key, value in item.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            return f"{key} is not a string or an integer"
        row[str(key)] = str(value)
    return row


def _from_json(kind: PushKind, data: str) -> list[_Row]:
    doc: Any = orjson.loads(data)
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list):
        raise ValueError('a JSON push is {"results": [...]}')
    return [
        (orjson.dumps({"results": [item]}).decode("utf-8"), _json_item(item)) for item in results
    ]


def _from_xml(kind: PushKind, data: str) -> list[_Row]:
    root: Element = SafeET.fromstring(data, forbid_dtd=True)
    if root.tag != "results":
        raise ValueError("the XML root is not <results>")
    rows: list[_Row] = []
    for item in root:
        raw = "<results>" + tostring(item, encoding="unicode") + "</results>"
        if item.tag != "item":
            rows.append((raw, f"<{item.tag}> is not an <item>"))
        elif any(len(child) for child in item):
            rows.append((raw, "an <item> field holds elements"))
        elif len({child.tag for child in item}) != len(item):
            rows.append((raw, "an <item> repeats a field"))
        else:
            rows.append((raw, {child.tag: child.text or "" for child in item}))
    return rows


_READERS: Final[dict[PushFormat, Callable[[PushKind, str], list[_Row]]]] = {
    PushFormat.STRING: _from_string,
    PushFormat.JSON: _from_json,
    PushFormat.XML: _from_xml,
}


def _overflow(kind: PushKind, fmt: PushFormat, rows: list[_Row]) -> str:
    if fmt is PushFormat.STRING:
        return ";".join(raw for raw, _ in rows)
    if fmt is PushFormat.JSON:
        items = [orjson.loads(raw)["results"][0] for raw, _ in rows]
        return orjson.dumps({"results": items}).decode("utf-8")
    return "<results>" + "".join(raw[9:-10] for raw, _ in rows) + "</results>"


def _whole(kind: PushKind, data: str, fmt: PushFormat | None, reason: str) -> PushBatch[Any]:
    entry = Quarantined(kind=kind, raw=data, reason=reason, format=fmt, records=0)
    return PushBatch(kind=kind, format=fmt, records=(), quarantined=(entry,), digest=_digest(data))


def _digest(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def read_push(
    kind: PushKind | str,
    data: str,
    fmt: PushFormat | str | None = None,
    *,
    max_records: int = MAX_RECORDS_PER_PUSH,
) -> PushBatch[Any]:
    """Read one push record by record; never raises for its content.

    Args:
        kind: reports or replies.
        data: the ``data`` value after its one URL decoding.
        fmt: the account's push format; detected from the first character when None.
        max_records: records read; the rest is quarantined as one entry.
    """
    kind = PushKind(kind)
    text = data.lstrip("\ufeff").strip() if isinstance(data, str) else ""
    if not text:
        return _whole(kind, data if isinstance(data, str) else "", None, f"empty {kind} push")
    form = detect_push_format(text) if fmt is None else PushFormat(fmt)
    try:
        rows = _READERS[form](kind, text)
    except DefusedXmlException as exc:
        return _whole(kind, text, form, f"hostile XML refused ({type(exc).__name__})")
    except SafeET.ParseError as exc:
        return _whole(kind, text, form, f"malformed XML ({exc})")
    except orjson.JSONDecodeError as exc:
        return _whole(kind, text, form, f"malformed JSON ({exc})")
    except ValueError as exc:
        return _whole(kind, text, None if form is PushFormat.STRING else form, str(exc))
    except RecursionError:
        return _whole(kind, text, form, f"{form} nested too deeply to read")
    if not rows:
        return _whole(kind, text, form, f"no {kind} records")
    build: Callable[[Mapping[str, str]], Any] = _report if kind is PushKind.REPORT else _reply
    records: list[Any] = []
    positions: list[int] = []
    held: list[Quarantined] = []
    for index, (raw, fields) in enumerate(rows[:max_records]):
        reason = fields if isinstance(fields, str) else None
        if reason is None:
            assert not isinstance(fields, str)
            try:
                records.append(build(fields))
                positions.append(index)
                continue
            except (ValueError, OverflowError, OSError) as exc:
                reason = str(exc)
        held.append(
            Quarantined(kind=kind, raw=raw, reason=reason, format=form, records=1, position=index)
        )
    rest = rows[max_records:]
    if rest:
        held.append(
            Quarantined(
                kind=kind,
                raw=_overflow(kind, form, rest),
                reason=f"over the cap of {max_records} records per push",
                format=form,
                records=len(rest),
                position=max_records,
            )
        )
    return PushBatch(
        kind=kind,
        format=form,
        records=tuple(records),
        quarantined=tuple(held),
        digest=_digest(text),
        positions=tuple(positions),
    )


def read_report_push(
    data: str, fmt: PushFormat | str | None = None, *, max_records: int = MAX_RECORDS_PER_PUSH
) -> PushBatch[DeliveryReport]:
    """Read a pushed batch of delivery reports (§7.1.1); see ``read_push``."""
    return read_push(PushKind.REPORT, data, fmt, max_records=max_records)


def read_reply_push(
    data: str, fmt: PushFormat | str | None = None, *, max_records: int = MAX_RECORDS_PER_PUSH
) -> PushBatch[InboundReply]:
    """Read a pushed batch of handset replies (§9.1); see ``read_push``."""
    return read_push(PushKind.REPLY, data, fmt, max_records=max_records)


def _read_pull(
    kind: PushKind, text: str, parts: list[str], build: Callable[[str], R]
) -> PushBatch[R]:
    records: list[R] = []
    positions: list[int] = []
    held: list[Quarantined] = []
    for index, part in enumerate(parts):
        try:
            records.append(build(part))
            positions.append(index)
        except RECORD_ERRORS as exc:
            held.append(
                Quarantined(
                    kind=kind,
                    raw=part,
                    reason=f"pulled {kind}: {exc}",
                    format=PushFormat.STRING,
                    records=1,
                    position=index,
                )
            )
    return PushBatch(
        kind=kind,
        format=PushFormat.STRING,
        records=tuple(records),
        quarantined=tuple(held),
        digest=_digest(text),
        positions=tuple(positions),
    )


def read_report_pull(text: str) -> PushBatch[DeliveryReport]:
    """Read a report pull (§6.1.5) record by record, like a push: a record that does not parse is
    quarantined with its raw text, because the platform forgets what a pull returned.

    Raises:
        ProviderError: an ``error:...`` reply (nothing was consumed).
        ReplyFormatError: an empty body.
    """
    return _read_pull(PushKind.REPORT, text, report_pull_records(text), parse_report_record)


def read_reply_pull(text: str, encoding: Encoding = Encoding.UTF8) -> PushBatch[InboundReply]:
    """Read a reply pull (§8.3) record by record; see ``read_report_pull``.

    Raises:
        ProviderError: an ``error:...`` reply (nothing was consumed).
    """
    return _read_pull(
        PushKind.REPLY, text, reply_pull_records(text), lambda p: parse_reply_record(p, encoding)
    )


def _strict(batch: PushBatch[R]) -> list[R]:
    if batch.quarantined:
        first = batch.quarantined[0]
        raise PushFormatError(f"malformed {batch.kind} push ({first.reason})", text=first.raw)
    return list(batch.records)


def parse_report_push(data: str, fmt: PushFormat | str | None = None) -> list[DeliveryReport]:
    """All or nothing: the reports of a push, or ``PushFormatError`` if any part is unreadable.

    Raises:
        PushFormatError: something would be quarantined by ``read_report_push``.
    """
    return _strict(read_report_push(data, fmt))


def parse_reply_push(data: str, fmt: PushFormat | str | None = None) -> list[InboundReply]:
    """All or nothing, as ``parse_report_push``, for replies."""
    return _strict(read_reply_push(data, fmt))
