"""Writing pushes as the platform does (§7.1.1, §9.1), for the simulator and for tests.

The layout copies the document's examples byte for byte: the string form with plain content
(no second encoding), JSON as ``{<TAB>"results":[...]<TAB>}`` with every value a string, XML with a
tab before each field; then ``data`` is URL-encoded once, with lower-case escapes for the string
form (``%2c``, ``%e5%a5%bd``) and upper-case ones with ``+`` for a space for JSON and XML (PHP's
``urlencode``), as the examples show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

import orjson

from ._push import PushFormat

__all__ = ["encode_push_data", "format_reply_push", "format_report_push"]

_ESCAPE: Final = re.compile(r"%[0-9A-F]{2}")
_REPORT: Final = ("msgid", "mobile", "status", "receivetime")
_REPLY: Final = ("ext", "replyid", "mobile", "content", "receivetime")


def _json(rows: Sequence[Sequence[str]], names: tuple[str, ...], opener: str) -> str:
    items = ",".join(
        "{"
        + ",".join(
            f"{orjson.dumps(n).decode()}:{orjson.dumps(v).decode()}"
            for n, v in zip(names, row, strict=True)
        )
        + "}"
        for row in rows
    )
    return "{\t" + opener + items + "]\t}"


def _xml(rows: Sequence[Sequence[str]], names: tuple[str, ...]) -> str:
    items = "".join(
        "<item>"
        + "".join(f"\t<{n}>{escape(v)}</{n}>" for n, v in zip(names, row, strict=True))
        + "</item>"
        for row in rows
    )
    return f'<?xml version="1.0" encoding="utf-8"?><results>{items}</results>'


def _format(
    rows: Sequence[Sequence[str]], names: tuple[str, ...], fmt: PushFormat, opener: str
) -> str:
    if fmt is PushFormat.JSON:
        return _json(rows, names, opener)
    if fmt is PushFormat.XML:
        return _xml(rows, names)
    return ";".join(",".join(row) for row in rows)


def format_report_push(
    reports: Sequence[tuple[str, str, str, int]], fmt: PushFormat | str = PushFormat.STRING
) -> str:
    """Write ``(msgid, mobile, status, unix_time)`` tuples as a §7 ``data`` value (not encoded)."""
    rows = [(m, mob, st, str(t)) for m, mob, st, t in reports]
    return _format(rows, _REPORT, PushFormat(fmt), '"results":[')


def format_reply_push(
    replies: Sequence[tuple[str, str, str, str, int | None]],
    fmt: PushFormat | str = PushFormat.STRING,
) -> str:
    """Write ``(ext, replyid, mobile, content, unix_time)`` as a §9 ``data`` value (not encoded).

    Content is written plain, as every example of §9 carries it; ``None`` time is empty.
    """
    rows = [(e, r, mob, c, "" if t is None else str(t)) for e, r, mob, c, t in replies]
    return _format(rows, _REPLY, PushFormat(fmt), '"results": [')


def encode_push_data(data: str, fmt: PushFormat | str = PushFormat.STRING) -> str:
    """URL-encode a ``data`` value once, with the escapes' case the document uses for ``fmt``.

    >>> encode_push_data("1,好;")
    '1%2c%e5%a5%bd%3b'
    """
    encoded = quote_plus(data, safe="")
    if PushFormat(fmt) is PushFormat.STRING:
        return _ESCAPE.sub(lambda m: m[0].lower(), encoded)
    return encoded
