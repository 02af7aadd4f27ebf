"""Recipients: normalise, validate, de-duplicate and chunk phone numbers.

Rules (decided in docs/protocol.md, "Recipients"):

- What people type around digits is removed: spaces (also no-break, thin and ideographic ones),
  tabs, hyphens and dashes, dots, parentheses (also full-width ones), and byte-order marks or
  zero-width spaces. Full-width digits and ``＋`` count as ``0``-``9`` and ``+``. Any other
  character (letters, other scripts' digits) makes the number ``not-digits``.
- A mainland mobile is 11 digits ``1[3-9]…``, optionally after ``+86``, ``0086`` or a bare
  ``86``; it travels as its 11 digits. Nothing else is taken for a mainland number.
- Anything else is sent only with an explicit international prefix, ``+CC…`` or ``00CC…``,
  and travels as country code + number without the prefix (``+44 7874 321404`` ->
  ``447874321404``, the shape of §9's examples): 8 to 15 digits, not starting with ``0``.
- Since the wire drops the prefix, an international number whose digits read as a mainland mobile
  (``+1 917 555 0123`` -> ``19175550123``) would reach a Chinese handset: it is refused
  (``looks-mainland``).
- Bare digits that are not a mainland mobile (``3800138000``, ``28123456``) are refused
  (``not-mainland-mobile``): they are never guessed to be international.

Nothing is dropped silently: every rejected number comes back with a ``RejectReason``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .._exceptions import InvalidNumberError, InvalidParameterError
from ._dedupe import NumberSet

__all__ = [
    "Recipients",
    "RejectReason",
    "Rejected",
    "chunked",
    "is_mainland",
    "mask",
    "normalize",
    "read_number",
    "split_mobiles",
    "split_numbers",
    "validate",
]

_REMOVED: Final = (
    " \t\r\n\v\f\u00a0\u2009\u202f\u3000"  # spaces, also no-break, thin and ideographic
    "\ufeff\u200b\u2060"  # byte-order mark, zero-width spaces
    "-\u2010\u2011\u2012\u2013\u2014\u2212\uff0d"  # hyphens, dashes, minus signs
    "().\uff08\uff09\uff0e"  # parentheses and dots, also full-width
)
_TABLE: Final = {
    **{ord(ch): None for ch in _REMOVED},
    **{0xFF10 + i: ord("0") + i for i in range(10)},
    0xFF0B: ord("+"),
}
_MAINLAND: Final = re.compile(r"1[3-9]\d{9}")
_INTERNATIONAL: Final = re.compile(r"[1-9]\d{7,14}")
_WIRE_SEPARATORS: Final = re.compile(r"[,;]")
_SEPARATORS: Final = re.compile(r"[,;\uff0c\uff1b]")  # also full-width , and ;
_DIGITS: Final = frozenset("0123456789")
_MAINLAND_SECOND: Final = frozenset("3456789")


class RejectReason(StrEnum):
    """Why a number (or a message) was not sent."""

    EMPTY = "empty"
    """Nothing but separators."""
    NOT_DIGITS = "not-digits"
    """Letters or other characters that are not digits or separators."""
    BAD_LENGTH = "bad-length"
    """A mainland mobile that is not 11 digits, or an international number not 8-15 digits."""
    BAD_PREFIX = "bad-prefix"
    """11 digits not starting ``13``-``19``, or an international number starting with 0."""
    NOT_MAINLAND_MOBILE = "not-mainland-mobile"
    """Bare digits that are not a mainland mobile: international numbers need ``+`` or ``00``."""
    LOOKS_MAINLAND = "looks-mainland"
    """An international number whose wire digits read as a mainland mobile."""
    DOMESTIC_ONLY = "domestic-only"
    """An international number in a personalized batch: ``sms_batch.php`` is domestic (§3.5)."""
    DUPLICATE = "duplicate"
    """The same number (or number and content) came earlier in the campaign."""
    BAD_CONTENT = "bad-content"
    """A message's content is empty, over 500 characters, or holds NUL."""
    NOT_ENCODABLE = "not-encodable"
    """A message's content has a character the client's encoding (GBK) cannot carry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A number (or message) refused before sending, with the reason.

    ``line`` is the source line (files) or the 1-based position (lists, iterables) it came from.
    """

    number: str
    reason: RejectReason
    line: int | None = None


def _refuse(raw: str, reason: RejectReason, message: str) -> InvalidNumberError:
    return InvalidNumberError(f"{message}: {raw!r}", number=raw, reason=reason)


def _mainland(digits: str, raw: str) -> str:
    if len(digits) != 11:
        raise _refuse(raw, RejectReason.BAD_LENGTH, "a mainland mobile has 11 digits")
    if not _MAINLAND.fullmatch(digits):
        raise _refuse(raw, RejectReason.BAD_PREFIX, "a mainland mobile starts 13-19")
    return digits


def normalize(raw: str) -> str:
    """Return the digits ``raw`` travels as on the wire.

    Args:
        raw: a phone number as a person or a file wrote it.

    Returns:
        11 digits for a mainland mobile, country code + number for an international one.

    Raises:
        InvalidNumberError: with ``reason`` set to a ``RejectReason`` value.

    Example:
        >>> normalize("+86 138-0013-8000"), normalize("+44 7874 321404")
        ('13800138000', '447874321404')
    """
    if len(raw) == 11 and raw[0] == "1" and raw[1] in _MAINLAND_SECOND and _DIGITS.issuperset(raw):
        return raw  # the common case, checked without building anything
    text = raw.translate(_TABLE)
    if not text:
        raise _refuse(raw, RejectReason.EMPTY, "empty number")
    if text[0] == "+":
        digits, international = text[1:], True
    elif text.startswith("00"):
        digits, international = text[2:], True
    else:
        digits, international = text, False
    if not digits or not _DIGITS.issuperset(digits):
        raise _refuse(raw, RejectReason.NOT_DIGITS, "not a phone number")
    if international:
        if digits.startswith("86"):
            return _mainland(digits[2:], raw)
        if digits[0] == "0":
            raise _refuse(raw, RejectReason.BAD_PREFIX, "a country code cannot start with 0")
        if not _INTERNATIONAL.fullmatch(digits):
            raise _refuse(raw, RejectReason.BAD_LENGTH, "an international number has 8-15 digits")
        if _MAINLAND.fullmatch(digits):
            raise _refuse(
                raw,
                RejectReason.LOOKS_MAINLAND,
                "an international number that would reach a mainland mobile",
            )
        return digits
    if len(digits) == 13 and digits.startswith("86"):
        return _mainland(digits[2:], raw)
    if digits[0] == "1":
        return _mainland(digits, raw)
    raise _refuse(
        raw,
        RejectReason.NOT_MAINLAND_MOBILE,
        "not a mainland mobile; an international number needs + or 00",
    )


def read_number(text: str) -> str:
    """Read a number as the platform writes it: what ``normalize`` takes, or bare international.

    For numbers that come from the platform (records, reports, replies) or that only query it:
    the platform writes international numbers as bare digits (``447874321404``).

    Raises:
        InvalidNumberError: neither a number ``normalize`` takes nor 8-15 bare digits.
    """
    try:
        return normalize(text)
    except InvalidNumberError as exc:
        digits = text.translate(_TABLE)
        if exc.reason == RejectReason.NOT_MAINLAND_MOBILE and _INTERNATIONAL.fullmatch(digits):
            return digits
        raise


def is_mainland(number: str) -> bool:
    """True when a normalised number is a mainland mobile (not an international one)."""
    return _MAINLAND.fullmatch(number) is not None


def validate(raw: str) -> Rejected | str:
    """Return the normalised number, or a ``Rejected`` record (never raises)."""
    try:
        return normalize(raw)
    except InvalidNumberError as exc:
        return Rejected(number=raw, reason=RejectReason(exc.reason))


def split_mobiles(text: str) -> list[str]:
    """Split a ``mobile`` parameter on commas and semicolons (§3.2.1), dropping empty items."""
    return [part.strip() for part in _WIRE_SEPARATORS.split(text) if part.strip()]


def split_numbers(text: str) -> list[str]:
    """Split what a person wrote into numbers: on ``,`` and ``;`` (§3.2.1; also full-width),
    then on spaces.

    An item holding spaces is split on them only when it is not one number but each of its
    words is (``13800138000 13900139000``); ``+86 138 0013 8000`` stays whole, and so does an
    item whose words are not all numbers (it is rejected whole, with its reason).

    Example:
        >>> split_numbers("13800138000,13900139000; +44 7874 321404")
        ['13800138000', '13900139000', '+44 7874 321404']
    """
    out: list[str] = []
    items = (part.strip() for part in _SEPARATORS.split(text))
    for item in filter(None, items):
        words = item.split()
        if (
            len(words) > 1
            and isinstance(validate(item), Rejected)
            and all(isinstance(validate(word), str) for word in words)
        ):
            out.extend(words)
        else:
            out.append(item)
    return out


def mask(number: str) -> str:
    """Mask a number for logs: ``13800000000`` -> ``138****0000``."""
    if len(number) < 8:
        return "*" * len(number)
    return f"{number[:3]}****{number[-4:]}"


class Recipients:
    """A streaming filter: normalise, validate and de-duplicate numbers keeping their order.

    Rejected numbers are collected in ``rejected`` as they pass. De-duplication is exact and
    compact (``NumberSet``: a few bytes a number).

    Example:
        >>> r = Recipients()
        >>> list(r.accept(["13800000000", "bad", "+8613800000000"]))
        ['13800000000']
        >>> [x.reason.value for x in r.rejected]
        ['not-digits', 'duplicate']
    """

    __slots__ = ("_seen", "rejected")

    def __init__(self, *, dedupe: bool = True) -> None:
        self._seen: NumberSet | None = NumberSet() if dedupe else None
        self.rejected: list[Rejected] = []

    def check(self, raw: str, line: int | None = None) -> str | Rejected:
        """Return the normalised number, or a ``Rejected`` record (not stored in ``rejected``)."""
        try:
            number = normalize(raw)
        except InvalidNumberError as exc:
            return Rejected(number=raw, reason=RejectReason(exc.reason), line=line)
        if self._seen is not None and not self._seen.add(number):
            return Rejected(number=raw, reason=RejectReason.DUPLICATE, line=line)
        return number

    def accept(self, numbers: Iterable[str]) -> Iterator[str]:
        """Yield each valid, first-seen number; record the others in ``rejected``."""
        for position, raw in enumerate(numbers, 1):
            result = self.check(raw, position)
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
        raise InvalidParameterError("size must be at least 1")
    packet: list[str] = []
    for item in items:
        packet.append(item)
        if len(packet) >= size:
            yield packet
            packet = []
    if packet:
        yield packet
