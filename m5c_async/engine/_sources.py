"""Campaign sources, streamed: lists, sync or async iterables, number files and CSV files.

Files are read in batches of lines in a worker thread, so a 5,000,000-line file costs one
batch of memory at a time and never blocks the event loop.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Final, TypeVar

import anyio.to_thread

from .._exceptions import InvalidParameterError

__all__ = ["iter_messages", "iter_numbers"]

T = TypeVar("T")
_BATCH: Final = 4096


async def _batched(make: Iterator[T] | Iterable[T]) -> AsyncIterator[T]:
    iterator = iter(make)

    def take() -> list[T]:
        out = []
        for item in iterator:
            out.append(item)
            if len(out) >= _BATCH:
                break
        return out

    while True:
        batch = await anyio.to_thread.run_sync(take)
        if not batch:
            return
        for item in batch:
            yield item


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig") as handle:
        for line in handle:
            text = line.strip()
            if text and not text.startswith("#"):
                yield text.split(",")[0].strip()


def _csv_rows(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower(): name for name in reader.fieldnames or []}
        if "mobile" not in fields or "content" not in fields:
            raise InvalidParameterError(f"{path.name}: a CSV needs 'mobile' and 'content' columns")
        for row in reader:
            yield row[fields["mobile"]] or "", row[fields["content"]] or ""


async def iter_numbers(source: Iterable[str] | AsyncIterable[str] | Path) -> AsyncIterator[str]:
    """Yield numbers from a list, an iterable, an async iterable or a file (one a line)."""
    if isinstance(source, Path):
        async for number in _batched(_lines(source)):
            yield number
    elif isinstance(source, AsyncIterable):
        async for number in source:
            yield number
    elif isinstance(source, str | bytes | io.IOBase):
        raise InvalidParameterError("numbers must be an iterable of strings or a Path")
    else:
        for number in source:
            yield number


async def iter_messages(
    source: Iterable[tuple[str, str]] | AsyncIterable[tuple[str, str]] | Path,
) -> AsyncIterator[tuple[str, str]]:
    """Yield (mobile, content) pairs from pairs, an async iterable or a CSV file."""
    if isinstance(source, Path):
        async for row in _batched(_csv_rows(source)):
            yield row
    elif isinstance(source, AsyncIterable):
        async for row in source:
            yield row
    else:
        for row in source:
            yield row
