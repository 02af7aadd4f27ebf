"""Recipients: normalisation, validation with reasons, de-duplication and streaming chunks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from m5c_async import InvalidNumberError
from m5c_async.protocol import Recipients, RejectReason, chunked, mask, normalize, split_mobiles


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        (" 138 0013 8000 ", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("19912345678", "19912345678"),
        ("+44 7874 321404", "447874321404"),
        ("00447874321404", "447874321404"),
        ("447874321404", "447874321404"),
        ("+1 202 555 0123", "12025550123"),
        ("+85291234567", "85291234567"),
    ],
)
def test_normalize_accepts(raw: str, expected: str) -> None:
    """Spaces, +86/0086/86 prefixes and international forms normalise to digits."""
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", RejectReason.EMPTY),
        ("   ", RejectReason.EMPTY),
        ("1380013800a", RejectReason.NOT_DIGITS),
        ("phone", RejectReason.NOT_DIGITS),
        ("１３８００１３８０００", RejectReason.NOT_DIGITS),
        ("1380013800", RejectReason.BAD_LENGTH),
        ("138001380001", RejectReason.BAD_LENGTH),
        ("12800138000", RejectReason.BAD_PREFIX),
        ("10086", RejectReason.BAD_LENGTH),
        ("+86123", RejectReason.BAD_PREFIX),
        ("+123", RejectReason.BAD_LENGTH),
        ("01012345678", RejectReason.BAD_PREFIX),
        ("8612345", RejectReason.BAD_PREFIX),
        ("2345", RejectReason.BAD_LENGTH),
    ],
)
def test_normalize_rejects_with_reason(raw: str, reason: RejectReason) -> None:
    """Each invalid number raises InvalidNumberError naming the reason."""
    with pytest.raises(InvalidNumberError) as info:
        normalize(raw)
    assert info.value.reason == reason
    assert info.value.number == raw


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
