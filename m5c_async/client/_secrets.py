"""Keeping credentials out of error texts and log lines.

A ``Scrubber`` knows every form in which a client's secrets can show up in a text: the password,
its md5 and the apikey, raw, percent-encoded (UTF-8 and GBK, ``quote`` and ``quote_plus``, either
case of hex digits), as a query string echoes them. It replaces each with ``***``.

``guard_logs`` puts one ``logging.Filter`` on the loggers of this library and of httpx/httpcore
(httpx's INFO line ``HTTP Request: GET <url>`` carries the whole URL, and with ``method="GET"``
the URL holds the md5 and apikey). A filter runs only for records a logger actually emits, so it
costs nothing while those loggers are quiet; it rewrites a record's message (and its rendered
traceback) when a secret of a live client appears in it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import traceback
import weakref
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "Scrubber", "guard_logs"]

MASK: Final = "***"
#: Shorter strings are not hunted for: masking every "ab" of a text would hide nothing.
_MIN_LENGTH: Final = 3
#: Loggers whose records may quote a request: the library's and the httpx stack's. A filter on a
#: logger applies only to records created on that very logger, so children are listed too.
_LOGGERS: Final = (
    "m5c_async",
    "m5c_async.engine",
    "m5c_async.journal",
    "m5c_async.webhook",
    "m5c_async.cli",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_PREFIXES: Final = ("m5c_async.", "httpx.", "httpcore.")


def _forms(secret: str) -> set[str]:
    forms = {secret}
    for codec in ("utf-8", "gbk"):
        try:
            raw = secret.encode(codec)
        except UnicodeEncodeError:
            continue
        for encoded in (quote(raw, safe=""), quote_plus(raw), quote(raw)):
            forms.add(encoded)
    return {f for f in forms if len(f) >= _MIN_LENGTH}


class Scrubber:
    """Replaces every known form of some secrets in a text with ``***``.

    Example:
        >>> scrub = Scrubber(["p@ss word", "d72f33697f8443b3"])
        >>> scrub("GET /q?password=p%40ss+word&apikey=D72F33697F8443B3")
        'GET /q?password=***&apikey=***'
    """

    __slots__ = ("__weakref__", "_pattern")

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= _forms(secret)
        # Longest first, so a form containing another is masked whole; case-insensitive for
        # hex digests and percent-escapes written in either case. A text cut short (an error's
        # excerpt ends with "…") may end inside a secret: any prefix of a form right before the
        # cut is masked too.
        ordered = sorted(forms, key=len, reverse=True)
        whole = [re.escape(f) for f in ordered]
        cut = sorted(
            {re.escape(f[:n]) for f in ordered for n in range(1, len(f))}, key=len, reverse=True
        )
        alternatives = [*whole, f"(?:{'|'.join(cut)})(?=…)"] if cut else whole
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None

    def __call__(self, text: str) -> str:
        """``text`` with every form of the secrets masked."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __repr__(self) -> str:
        return "Scrubber(***)"

    def error(self, exc: BaseException) -> BaseException:
        """Mask the secrets in an exception's texts, in place, along its chain; returns it.

        Covers ``args`` and the library's text attributes (``message``, ``text``, ``reply``,
        ``cause``) of the exception and of each ``__cause__`` / ``__context__`` behind it.
        """
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            current.args = tuple(self(a) if isinstance(a, str) else a for a in current.args)
            for name in ("message", "text", "reply", "cause"):
                value = getattr(current, name, None)
                if isinstance(value, str):
                    # A read-only attribute of a foreign exception is left as it is.
                    with contextlib.suppress(AttributeError):
                        setattr(current, name, self(value))
            current = current.__cause__ or current.__context__
        return exc


_live: weakref.WeakSet[Scrubber] = weakref.WeakSet()


class _SecretFilter(logging.Filter):
    """Masks the secrets of every live client in the records of the loggers it guards."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrubbers = list(_live)
        if not scrubbers:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        clean = message
        for scrub in scrubbers:
            clean = scrub(clean)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            rendered = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            for scrub in scrubbers:
                rendered = scrub(rendered)
            record.exc_text = rendered
        if record.stack_info:
            for scrub in scrubbers:
                record.stack_info = scrub(record.stack_info)
        return True


_FILTER: Final = _SecretFilter()


def guard_logs(scrubber: Scrubber) -> None:
    """Mask ``scrubber``'s secrets in the guarded loggers while it lives."""
    _live.add(scrubber)
    names = set(_LOGGERS)
    names.update(
        name for name in list(logging.root.manager.loggerDict) if name.startswith(_PREFIXES)
    )
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
