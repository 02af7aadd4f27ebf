"""Recipients: normalise, validate, de-duplicate and chunk phone numbers.

Rules (decided in docs/protocol.md, "Recipients"):

- Spaces, tabs, hyphens and parentheses inside a number are removed.
- ``+86``, ``0086`` and a bare ``86`` before an 11-digit number are dropped: mainland numbers
  travel as 11 digits, ``1[3-9]`` followed by 9 digits.
- Any other ``+CC...`` or ``00CC...`` is an international number and travels as its digits with
  the country code (``+44 7874 321404`` -> ``447874321404``, the shape of §9's examples).
- Bare digits starting with ``1`` must be a mainland mobile (an American ``1...`` number must be
  written ``+1...``); bare digits of 8 to 15 starting with ``2``-``9`` are taken as international
  with their country code; anything else is rejected.

Nothing is dropped silently: every rejected number comes back with a ``RejectReason``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .._exceptions import InvalidNumberError

__all__ = [
    "Recipients",
    "RejectReason",
    "Rejected",
    "chunked",
    "mask",
    "normalize",
    "split_mobiles",
    "validate",
]

_STRIP: Final = str.maketrans("", "", " \t\r\n-()\u3000")
_MAINLAND: Final = re.compile(r"1[3-9]\d{9}")
_INTERNATIONAL: Final = re.compile(r"[1-9]\d{7,14}")
_BARE_INTERNATIONAL: Final = re.compile(r"[2-9]\d{7,14}")
_SEPARATORS: Final = re.compile(r"[,;]")


class RejectReason(StrEnum):
    """Why a number was not sent."""

    EMPTY = "empty"
    NOT_DIGITS = "not-digits"
    BAD_LENGTH = "bad-length"
    BAD_PREFIX = "bad-prefix"
    DUPLICATE = "duplicate"
    BAD_CONTENT = "bad-content"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A number refused before sending, with the reason."""

    number: str
    reason: RejectReason


def normalize(raw: str) -> str:
    """Return the canonical digits for ``raw``.

    Args:
        raw: a phone number as a person or a file wrote it.

    Returns:
        11 digits for a mainland mobile, country code + number for an international one.

    Raises:
        InvalidNumberError: with ``reason`` set to a ``RejectReason`` value.

    Example:
        >>> normalize("+86 138-0013-8000")
        '13800138000'
    """
    text = raw.translate(_STRIP)
    if not text:
        raise InvalidNumberError("empty number", number=raw, reason=RejectReason.EMPTY)
    international = False
    if text.startswith("+"):
        text, international = text[1:], True
    elif text.startswith("00"):
        text, international = text[2:], True
    if not text.isascii() or not text.isdigit():
        raise InvalidNumberError(
            f"not a phone number: {raw!r}", number=raw, reason=RejectReason.NOT_DIGITS
        )
    if text.startswith("86") and len(text) == 13:
        text, international = text[2:], False
    if international and not text.startswith("86"):
        if _INTERNATIONAL.fullmatch(text):
            return text
        raise InvalidNumberError(
            f"international number must be 8-15 digits with its country code: {raw!r}",
            number=raw,
            reason=RejectReason.BAD_LENGTH,
        )
    if text.startswith("1"):
        if len(text) != 11:
            raise InvalidNumberError(
                f"mainland mobile must have 11 digits: {raw!r}",
                number=raw,
                reason=RejectReason.BAD_LENGTH,
            )
        if not _MAINLAND.fullmatch(text):
            raise InvalidNumberError(
                f"mainland mobile must start 13-19: {raw!r}",
                number=raw,
                reason=RejectReason.BAD_PREFIX,
            )
        return text
    if _BARE_INTERNATIONAL.fullmatch(text) and not text.startswith("86"):
        return text
    reason = RejectReason.BAD_PREFIX if text.startswith(("0", "86")) else RejectReason.BAD_LENGTH
    raise InvalidNumberError(f"not a valid mobile number: {raw!r}", number=raw, reason=reason)


def validate(raw: str) -> Rejected | str:
    """Return the normalised number, or a ``Rejected`` record (never raises)."""
    try:
        return normalize(raw)
    except InvalidNumberError as exc:
        return Rejected(number=raw, reason=RejectReason(exc.reason))


def split_mobiles(text: str) -> list[str]:
    """Split a ``mobile`` parameter on commas and semicolons (§3.2.1), dropping empty items."""
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def mask(number: str) -> str:
    """Mask a number for logs: ``13800000000`` -> ``138****0000``."""
    if len(number) < 8:
        return "*" * len(number)
    return f"{number[:3]}****{number[-4:]}"


class Recipients:
    """A streaming filter: normalise, validate and de-duplicate numbers keeping their order.

    Rejected numbers are collected in ``rejected`` (or handed to ``on_reject``) as they pass.

    Example:
        >>> r = Recipients()
        >>> list(r.accept(["13800000000", "bad", "+8613800000000"]))
        ['13800000000']
        >>> [x.reason.value for x in r.rejected]
        ['not-digits', 'duplicate']
    """

    __slots__ = ("_seen", "rejected")

    def __init__(self, *, dedupe: bool = True) -> None:
        self._seen: set[int] | None = set() if dedupe else None
        self.rejected: list[Rejected] = []

    def check(self, raw: str) -> str | Rejected:
        """Return the normalised number, or a ``Rejected`` record (not stored in ``rejected``)."""
        result = validate(raw)
        if isinstance(result, Rejected) or self._seen is None:
            return result
        # Integers cost a third of the memory of strings for a large campaign's seen-set.
        key = int(result)
        if key in self._seen:
            return Rejected(number=raw, reason=RejectReason.DUPLICATE)
        self._seen.add(key)
        return result

    def accept(self, numbers: Iterable[str]) -> Iterator[str]:
        """Yield each valid, first-seen number; record the others in ``rejected``."""
        for raw in numbers:
            result = self.check(raw)
            if isinstance(result, Rejected):
                self.rejected.append(result)
            else:
                yield result


def chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Yield lists of at most ``size`` items from any iterable, never holding more than one.

    Raises:
        ValueError: when ``size`` is below 1.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    packet: list[str] = []
    for item in items:
        packet.append(item)
        if len(packet) >= size:
            yield packet
            packet = []
    if packet:
        yield packet
