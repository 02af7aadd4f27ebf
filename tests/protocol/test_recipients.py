"""Recipients: normalisation, validation with reasons, de-duplication and streaming chunks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from m5c_async import InvalidNumberError
from m5c_async.protocol import (
    Recipients,
    RejectReason,
    chunked,
    is_mainland,
    mask,
    normalize,
    read_number,
    split_mobiles,
    split_numbers,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # mainland mobiles, as people and files write them
        ("13800138000", "13800138000"),
        ("19912345678", "19912345678"),
        (" 138 0013 8000 ", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("138.0013.8000", "13800138000"),
        ("(138) 0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("(+86) 138-0013-8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("0086 138 0013 8000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),  # full-width digits
        ("＋８６ １３８ ００１３ ８０００", "13800138000"),  # full-width + and ideographic space
        ("\ufeff13800138000", "13800138000"),  # a byte-order mark before
        ("13800138000\ufeff", "13800138000"),
        ("\u200b138\u00a00013\u20138000\t", "13800138000"),  # zero-width, nbsp, en dash
        ("（138）0013－8000", "13800138000"),  # full-width parentheses and hyphen
        # international: only with + or 00, sent as country code + number
        ("+44 7874 321404", "447874321404"),
        ("00447874321404", "447874321404"),
        ("+1 202 555 0123", "12025550123"),
        ("+1 (212) 555-0123", "12125550123"),
        ("+852 9123 4567", "85291234567"),
        ("00852-9123-4567", "85291234567"),
        ("+380 50 013 8000", "380500138000"),
    ],
)
def test_normalize_accepts(raw: str, expected: str) -> None:
    """Separators, +86/0086/86 prefixes and international forms normalise to wire digits."""
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", RejectReason.EMPTY),
        ("   ", RejectReason.EMPTY),
        ("\ufeff", RejectReason.EMPTY),
        ("- ()", RejectReason.EMPTY),
        ("1380013800a", RejectReason.NOT_DIGITS),
        ("phone", RejectReason.NOT_DIGITS),
        ("١٣٨٠٠١٣٨٠٠٠", RejectReason.NOT_DIGITS),  # Arabic-Indic digits are not taken
        ("13800138000,13800138001", RejectReason.NOT_DIGITS),  # split_numbers splits these
        ("+", RejectReason.NOT_DIGITS),
        ("++8613800138000", RejectReason.NOT_DIGITS),
        ("138+00138000", RejectReason.NOT_DIGITS),
        ("1380013800", RejectReason.BAD_LENGTH),
        ("138001380001", RejectReason.BAD_LENGTH),
        ("10086", RejectReason.BAD_LENGTH),
        ("+86123", RejectReason.BAD_LENGTH),
        ("+86 10 1234 5678", RejectReason.BAD_LENGTH),  # a Beijing landline
        ("+123", RejectReason.BAD_LENGTH),
        ("+44 1234567890123456", RejectReason.BAD_LENGTH),
        ("12800138000", RejectReason.BAD_PREFIX),
        ("8612800138000", RejectReason.BAD_PREFIX),
        ("+86 21 1234 56789", RejectReason.BAD_PREFIX),
        ("+0 123 4567 8901", RejectReason.BAD_PREFIX),
        # the cases: never guessed
        ("+1 (917) 555-0123", RejectReason.LOOKS_MAINLAND),  # would be 191-7555-0123
        ("+13800138000", RejectReason.LOOKS_MAINLAND),
        ("0013800138000", RejectReason.LOOKS_MAINLAND),
        ("3800138000", RejectReason.NOT_MAINLAND_MOBILE),  # a mobile missing its leading 1
        ("28123456", RejectReason.NOT_MAINLAND_MOBILE),  # a Hong Kong line without +852
        ("447874321404", RejectReason.NOT_MAINLAND_MOBILE),  # international without + or 00
        ("01012345678", RejectReason.NOT_MAINLAND_MOBILE),  # a landline with its trunk 0
        ("013800138000", RejectReason.NOT_MAINLAND_MOBILE),
        ("8612345", RejectReason.NOT_MAINLAND_MOBILE),
        ("2345", RejectReason.NOT_MAINLAND_MOBILE),
    ],
)
def test_normalize_rejects_with_reason(raw: str, reason: RejectReason) -> None:
    """Each invalid number raises InvalidNumberError naming the reason and keeping the text."""
    with pytest.raises(InvalidNumberError) as info:
        normalize(raw)
    assert info.value.reason == reason
    assert info.value.number == raw


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("447874321404", "447874321404"),
        ("13811299999", "13811299999"),
        ("+44 7874 321404", "447874321404"),
        ("8613800138000", "13800138000"),
    ],
)
def test_read_number_takes_the_wire_form(text: str, expected: str) -> None:
    """Numbers read from the platform may be bare international digits (as §9's 447874321404)."""
    assert read_number(text) == expected


@pytest.mark.parametrize("text", ["28123", "abc", "12800138000", "+1 917 555 0123"])
def test_read_number_refuses_what_is_no_number(text: str) -> None:
    """read_number is lenient only about the missing + of an international number."""
    with pytest.raises(InvalidNumberError):
        read_number(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13800138000,13800138001,13800138002", ["13800138000", "13800138001", "13800138002"]),
        ("13800138000;13800138001", ["13800138000", "13800138001"]),
        ("13800138000，13800138001；13800138002", ["13800138000", "13800138001", "13800138002"]),
        ("13800138000 13800138001", ["13800138000", "13800138001"]),
        ("13800138000\t13800138001", ["13800138000", "13800138001"]),
        ("+86 138 0013 8000", ["+86 138 0013 8000"]),  # one number with spaces stays whole
        ("+44 7874 321404, 138 0013 8000", ["+44 7874 321404", "138 0013 8000"]),
        ("13800138000 张三", ["13800138000 张三"]),  # not all numbers: kept whole, rejected whole
        ("13800138000,张三", ["13800138000", "张三"]),
        ("13800138000,,13800138001,", ["13800138000", "13800138001"]),
        (" , ; ", []),
    ],
)
def test_split_numbers(text: str, expected: list[str]) -> None:
    """Commas and semicolons (also full-width) split; spaces split only between whole numbers."""
    assert split_numbers(text) == expected


def test_is_mainland() -> None:
    """Only normalised 11-digit 1[3-9] numbers are mainland."""
    assert is_mainland("13800138000")
    assert not is_mainland("447874321404")
    assert not is_mainland("12025550123")


def test_recipients_streams_dedups_and_reports_rejections() -> None:
    """Order is kept, duplicates (after normalisation) and invalid numbers are reported."""
    r = Recipients()
    out = list(r.accept(["13800000001", "bad", "+86 138 0000 0001", "13800000002", ""]))
    assert out == ["13800000001", "13800000002"]
    assert [(x.number, x.reason) for x in r.rejected] == [
        ("bad", RejectReason.NOT_DIGITS),
        ("+86 138 0000 0001", RejectReason.DUPLICATE),
        ("", RejectReason.EMPTY),
    ]


def test_recipients_is_lazy() -> None:
    """accept() pulls numbers one at a time from an endless generator."""

    def endless() -> Iterator[str]:
        for i in itertools.count():
            yield f"138{i:08d}"

    first = list(itertools.islice(Recipients().accept(endless()), 3))
    assert first == ["13800000000", "13800000001", "13800000002"]


def test_chunked_sizes_and_laziness() -> None:
    """chunked yields full packets then the rest, from a generator."""
    packets = list(chunked((str(i) for i in range(25)), 10))
    assert [len(p) for p in packets] == [10, 10, 5]
    assert list(chunked([], 3)) == []
    endless = chunked((str(i) for i in itertools.count()), 2)
    assert next(endless) == ["0", "1"]
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked(["1"], 0))


def test_split_and_mask() -> None:
    """mobile fields split on commas and semicolons; masks hide the middle digits."""
    assert split_mobiles("13800000000, 13900000000;;13700000000,") == [
        "13800000000",
        "13900000000",
        "13700000000",
    ]
    assert mask("13800000000") == "138****0000"
    assert mask("12345") == "*****"
