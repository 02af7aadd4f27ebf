"""Intake: every source type becomes batches and named rejections, the same for every user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

from m5c_async import SourceError
from m5c_async.engine import Campaign, Intake, IntakeBatch
from m5c_async.protocol import Encoding, Rejected, RejectReason


async def run(intake: Intake, campaign: Campaign) -> list[IntakeBatch]:
    async with aclosing(intake.batches(campaign)) as batches:
        return [batch async for batch in batches]


def sent(batches: list[IntakeBatch]) -> list[str]:
    return [n for b in batches for n in b.numbers]


def refused(batches: list[IntakeBatch]) -> list[tuple[str, RejectReason, int | None]]:
    return [(r.number, r.reason, r.line) for b in batches for r in b.rejected]


MIXED = ["13800138000", "+1 (917) 555-0123", "3800138000", "28123456", "+44 7874 321404"]


async def test_the_issues_numbers_are_refused_with_named_reasons() -> None:
    """+1 917 (reads as a Chinese mobile), 3800138000 and 28123456 are refused, never guessed."""
    batches = await run(Intake(), Campaign(numbers=MIXED, content="x"))
    assert sent(batches) == ["13800138000", "447874321404"]
    assert refused(batches) == [
        ("+1 (917) 555-0123", RejectReason.LOOKS_MAINLAND, 2),
        ("3800138000", RejectReason.NOT_MAINLAND_MOBILE, 3),
        ("28123456", RejectReason.NOT_MAINLAND_MOBILE, 4),
    ]


def generator() -> Iterator[str]:
    yield from MIXED


async def agenerator() -> AsyncIterator[str]:
    for number in MIXED:
        yield number


@pytest.mark.parametrize(
    "source", [MIXED, tuple(MIXED), generator, agenerator], ids=["list", "tuple", "gen", "agen"]
)
async def test_every_iterable_source_gives_the_same_stream(source: object) -> None:
    """A list, a tuple, a generator and an async generator: same numbers, same rejections."""
    numbers = source() if callable(source) else source
    batches = await run(Intake(), Campaign(numbers=numbers, content="x"))  # type: ignore[arg-type]
    assert sent(batches) == ["13800138000", "447874321404"]
    assert [r[1] for r in refused(batches)] == [
        RejectReason.LOOKS_MAINLAND,
        RejectReason.NOT_MAINLAND_MOBILE,
        RejectReason.NOT_MAINLAND_MOBILE,
    ]


async def test_a_numbers_file_line_with_three_numbers_sends_all_three(tmp_path: Path) -> None:
    """The issue's line sends its three numbers; what is not a number is refused with its line."""
    path = tmp_path / "numbers.txt"
    path.write_text(
        "\ufeff# a comment\n"
        "13800138000,13800138001,13800138002\r\n"
        "\n"
        "13900139000;13900139001 ; 张三\n"
        "13700137000 13700137001\n"
        "+86 136 0013 6000\n"
        "13800138001\n",
        encoding="utf-8",
    )
    intake = Intake(packet_size=4)
    batches = await run(intake, Campaign(numbers=path, content="x"))
    assert sent(batches) == [
        "13800138000",
        "13800138001",
        "13800138002",
        "13900139000",
        "13900139001",
        "13700137000",
        "13700137001",
        "13600136000",
    ]
    assert [len(b.numbers) for b in batches if b.numbers] == [4, 4]
    assert refused(batches) == [
        ("张三", RejectReason.NOT_DIGITS, 4),
        ("13800138001", RejectReason.DUPLICATE, 7),
    ]
    assert intake.split_lines == 3
    assert intake.accepted == 8
    assert dict(intake.rejected) == {RejectReason.NOT_DIGITS: 1, RejectReason.DUPLICATE: 1}


async def test_a_file_that_is_not_utf8_is_a_named_error_before_any_batch(tmp_path: Path) -> None:
    """A GBK-saved file: SourceError naming the line, and no batch at all."""
    path = tmp_path / "gbk.csv"
    path.write_bytes("mobile,content\n13800138000,ok\n13800138001,你好\n".encode("gbk"))
    got: list[IntakeBatch] = []

    async def collect() -> None:
        async with aclosing(Intake().batches(Campaign(messages=path))) as batches:
            async for batch in batches:
                got.append(batch)

    with pytest.raises(SourceError, match="line 3 is not UTF-8") as info:
        await collect()
    assert got == []
    assert info.value.line == 3


async def test_csv_with_bom_and_any_column_order(tmp_path: Path) -> None:
    """A UTF-8 CSV with a BOM (Excel's) and columns in another order and case reads."""
    path = tmp_path / "m.csv"
    path.write_text(
        "\ufeffContent, Mobile ,name\n"
        '"你好，张三【测试】",13800138000,张三\n'
        "hi,bad,x\n"
        "短,,\n"
        '"多个,号码",13800138001;13800138002\n',
        encoding="utf-8",
    )
    batches = await run(Intake(), Campaign(messages=path))
    assert [(b.numbers, b.contents) for b in batches if b.numbers] == [
        (("13800138000",), ("你好，张三【测试】",)),
        (("13800138001",), ("多个,号码",)),
        (("13800138002",), ("多个,号码",)),
    ]
    assert refused(batches) == [("bad", RejectReason.NOT_DIGITS, 3), ("", RejectReason.EMPTY, 4)]


async def test_csv_missing_a_column_is_a_named_error(tmp_path: Path) -> None:
    """No content column: SourceError saying which column is missing."""
    path = tmp_path / "m.csv"
    path.write_text("mobile,text\n13800138000,hi\n", encoding="utf-8")
    with pytest.raises(SourceError, match="missing: content"):
        await run(Intake(), Campaign(messages=path))


@pytest.mark.parametrize("source", ["13800138000", b"13800138000"])
async def test_a_string_is_not_a_source(source: object) -> None:
    """A str would be read digit by digit: refused with SourceError."""
    with pytest.raises(SourceError, match="iterable"):
        await run(Intake(), Campaign(numbers=source, content="x"))  # type: ignore[arg-type]


async def test_gbk_one_bad_row_is_one_rejection_the_rest_fill_the_batch() -> None:
    """Personalized, GBK, batches of 10: the emoji row is refused alone; 10 others go together."""
    rows = [(f"1380013800{i}", f"第{i}条【测试】") for i in range(10)]
    rows.insert(3, ("13900139000", "表情😀【测试】"))
    batches = await run(Intake(encoding=Encoding.GBK, batch_size=10), Campaign(messages=rows))
    assert [len(b.numbers) for b in batches if b.numbers] == [10]
    assert refused(batches) == [("13900139000", RejectReason.NOT_ENCODABLE, 4)]


async def test_a_shared_content_the_encoding_cannot_carry_raises_before_any_batch() -> None:
    """Shared content with an emoji under GBK: ContentEncodingError, not one batch yielded."""
    from m5c_async import ContentEncodingError

    with pytest.raises(ContentEncodingError, match="GBK"):
        await run(Intake(encoding=Encoding.GBK), Campaign(numbers=["13800138000"], content="😀"))


async def test_personalized_checks_content_and_batches_are_domestic_only() -> None:
    """Empty content is bad-content; an international number in a batch is domestic-only."""
    rows = [
        ("13800138000", ""),
        ("+44 7874 321404", "hi"),
        ("13800138001", "hi"),
        ("13800138001", "hi"),
        ("13800138001", "hello"),
    ]
    batches = await run(Intake(batch_size=5), Campaign(messages=rows))
    assert sent(batches) == ["13800138001", "13800138001"]
    assert refused(batches) == [
        ("13800138000", RejectReason.BAD_CONTENT, 1),
        ("+44 7874 321404", RejectReason.DOMESTIC_ONLY, 2),
        ("13800138001", RejectReason.DUPLICATE, 4),
    ]
    single = await run(Intake(batch_size=1), Campaign(messages=rows[1:2]))
    assert sent(single) == ["447874321404"]


async def test_rejections_come_in_bounded_batches_and_dedupe_can_be_off() -> None:
    """Rejections are flushed every reject_batch; dedupe=False keeps repeats."""
    bad = ["x"] * 25
    batches = await run(Intake(reject_batch=10), Campaign(numbers=bad, content="x"))
    assert [len(b.rejected) for b in batches] == [10, 10, 5]
    assert all(b.numbers == () and b.contents == () for b in batches)
    twice = await run(Intake(dedupe=False), Campaign(numbers=["13800138000"] * 2, content="x"))
    assert sent(twice) == ["13800138000", "13800138000"]


def test_rejected_records_carry_the_line() -> None:
    """Rejected is a frozen record: number as given, reason, line."""
    r = Rejected(number="x", reason=RejectReason.NOT_DIGITS, line=3)
    assert (r.number, r.reason.value, r.line) == ("x", "not-digits", 3)
