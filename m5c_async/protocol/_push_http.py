"""From one HTTP request of a push to its ``data`` payloads, each decoded once.

Rules (docs/protocol.md, "Pushes"):

1. ``data`` is read from the query string (GET or POST, as every example of §7 and §9 writes
   it), from a urlencoded form body, from a ``multipart/form-data`` part named ``data``, or, when
   the body carries no ``data`` field, the body itself is the payload (a raw body).
2. Query strings and form bodies are URL-decoded once (``+`` is a space), by the standard library.
   A multipart part or a raw body is taken as is, unless it is entirely in urlencoded form
   (unreserved characters, ``+`` and ``%XX`` only, with at least one escape): then it is decoded
   once too, so both readings of "URLEncode 编码后" arrive the same.
3. The bytes are UTF-8 (§7.1, §9.1 "请求编码：UTF-8"). A byte that is not valid UTF-8 is kept as a
   ``%XX`` escape rather than replaced, so nothing is lost (§9's JSON example has such bytes).
   A BOM and surrounding whitespace are removed. One exception: a body (form, multipart part or
   raw) that is *not* valid UTF-8, sent with a ``charset`` (of the request's ``Content-Type``,
   or of the multipart part) that decodes it entirely, is read in that charset (a gateway that
   transcodes to GBK says so). Valid UTF-8 is read as UTF-8 whatever the label (HTTP stacks
   label UTF-8 ``ISO-8859-1`` by default); the query string is always UTF-8.
4. The same payload given twice in one request (query and body) is read once; different ones are
   each read.
5. A multipart body is read as multipart only while it has a push's shape: at most ``MAX_PARTS``
   parts, none nested, no part's headers above ``MAX_PART_HEAD`` bytes (the standard library's
   MIME parser spends half a minute of CPU on one 1 MB header of parameters). Otherwise the body
   is taken as is; the receiver quarantines such a body whole (``multipart_misshape``).
"""

from __future__ import annotations

import codecs
import re
from email.parser import BytesParser
from email.policy import HTTP
from typing import Final
from urllib.parse import parse_qsl, unquote_to_bytes

from .._exceptions import PushFormatError

__all__ = [
    "MAX_PARTS",
    "MAX_PART_HEAD",
    "multipart_misshape",
    "push_payloads",
    "utf8_keeping_bytes",
]

_BAD_BYTE: Final = re.compile("[\udc80-\udcff]")
_FORM_ENCODED: Final = re.compile(r"(?:[A-Za-z0-9._~*+-]|%[0-9A-Fa-f]{2})+")
#: A multipart push has one part; beyond these it is not parsed as multipart (rule 5).
MAX_PARTS: Final = 16
MAX_PART_HEAD: Final = 8 * 1024


def utf8_keeping_bytes(raw: bytes) -> str:
    """Decode UTF-8, writing each invalid byte as ``%XX`` instead of replacing it.

    >>> utf8_keeping_bytes(b"E5\\x91\\xb5\\xe5\\x91\\xb5")
    'E5%91%B5呵'
    """
    text = raw.decode("utf-8", "surrogateescape")
    if not _BAD_BYTE.search(text):
        return text
    return _BAD_BYTE.sub(lambda m: f"%{ord(m[0]) - 0xDC00:02X}", text)


def _charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type, when it names a codec Python knows."""
    if not content_type:
        return None
    return _codec(_param(content_type, "charset"))


def _head(content_type: str) -> bytes:
    """A Content-Type as a header block, for the standard library's MIME parser."""
    return b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"


def _param(content_type: str, name: str) -> object:
    """One parameter of a Content-Type (``charset``, ``boundary``), as the MIME parser reads it."""
    return (
        BytesParser(policy=HTTP).parsebytes(_head(content_type), headersonly=True).get_param(name)
    )


def _codec(name: object) -> str | None:
    """Python's name for a declared charset, or None when it names none."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decode(raw: bytes, charset: str | None) -> str:
    """Body bytes to text (rule 3): UTF-8, else the declared charset, else ``%XX`` kept."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset is not None and charset != "utf-8":
        try:
            return raw.decode(charset)
        except (UnicodeDecodeError, LookupError):
            pass
    return utf8_keeping_bytes(raw)


def _clean(text: str) -> str:
    return text.strip().lstrip("\ufeff").strip()


def _form_values(encoded: str) -> list[bytes]:
    # latin-1 maps each byte to one character and back: the values come out as their bytes.
    pairs = parse_qsl(encoded, keep_blank_values=True, encoding="latin-1", errors="strict")
    return [value.encode("latin-1") for key, value in pairs if key == "data"]


def _as_is(raw: bytes, charset: str | None = None) -> str:
    text = _clean(_decode(raw, charset))
    if "%" in text and _FORM_ENCODED.fullmatch(text):
        return _clean(_decode(unquote_to_bytes(text.replace("+", " ")), charset))
    return text


def multipart_misshape(content_type: str | None, body: bytes) -> str | None:
    """Why a ``multipart/form-data`` body is not a push's shape (rule 5), or None.

    At most ``MAX_PARTS`` parts, none nested, each part's headers at most ``MAX_PART_HEAD``
    bytes: checked in linear time, before the MIME parser (quadratic in a header's parameters)
    sees the body. None for any other content type.
    """
    if (content_type or "").split(";")[0].strip().lower() != "multipart/form-data":
        return None
    boundary = _param(content_type or "", "boundary")
    if not isinstance(boundary, str) or not boundary:
        return "multipart without a boundary"
    pieces = body.split(b"--" + boundary.encode("latin-1", "replace"))
    if len(pieces) > MAX_PARTS + 2:
        return f"multipart with more than {MAX_PARTS} parts"
    for piece in pieces[1:]:
        window = piece[: MAX_PART_HEAD + 4]
        ends = (window.find(b"\r\n\r\n"), window.find(b"\n\n"), len(piece))
        end = min(i for i in ends if i >= 0)
        if end > MAX_PART_HEAD:
            return f"multipart part headers above {MAX_PART_HEAD} bytes"
        if b"multipart/" in window[:end].lower():
            return "nested multipart"
    return None


def _multipart(content_type: str, body: bytes) -> list[tuple[bytes, str | None]] | None:
    """The ``data`` parts' bytes, each with its own declared charset (if any)."""
    if multipart_misshape(content_type, body) is not None:
        return None
    message = BytesParser(policy=HTTP).parsebytes(_head(content_type) + body)
    if not message.is_multipart():
        return None
    values: list[tuple[bytes, str | None]] = []
    for part in message.walk():
        if part.get_param("name", header="content-disposition") == "data":
            payload = part.get_payload(decode=True)
            raw = payload if isinstance(payload, bytes) else b""
            values.append((raw, _codec(part.get_param("charset"))))
    return values


def push_payloads(*, query: bytes | str, content_type: str | None, body: bytes) -> list[str]:
    """The distinct ``data`` payloads of one request, each decoded once (module rules).

    Raises:
        PushFormatError: the request carries no ``data`` at all and no body.
    """
    query_text = query.decode("latin-1") if isinstance(query, bytes) else query
    decoded = [_clean(utf8_keeping_bytes(v)) for v in _form_values(query_text)]
    mime = (content_type or "").split(";")[0].strip().lower()
    if body.strip():
        charset = _charset(content_type)
        from_body: list[str] | None = None
        if mime == "multipart/form-data":
            parts = _multipart(content_type or "", body)
            if parts:
                from_body = [_as_is(p, part_charset or charset) for p, part_charset in parts]
        elif mime == "application/x-www-form-urlencoded" or body.lstrip().startswith(b"data="):
            values = _form_values(body.decode("latin-1"))
            if values:
                from_body = [_clean(_decode(v, charset)) for v in values]
        decoded.extend(from_body if from_body is not None else [_as_is(body, charset)])
    if not decoded:
        raise PushFormatError("no data field and no body")
    return list(dict.fromkeys(decoded))
