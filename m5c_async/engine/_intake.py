"""Intake: any campaign source -> batches of messages ready for packets, and named rejections.

The one place a campaign's input is read and judged; the engine's producer, the journal's
import, pre-flight and the CLI all go through ``Intake``. The per-number rules live in
``protocol`` (``normalize``, ``split_numbers``, ``NumberSet``); this module applies them to
sources.

Rules:

1. Sources: a list or any iterable, an async iterable, a file of numbers (``Path``), or for
   personalized messages (mobile, content) pairs or a CSV file with ``mobile`` and ``content``
   columns. A ``str``, ``bytes`` or open file is refused (it would be read character by
   character). Files are read in batches of lines in a worker thread, never whole.
2. Files are UTF-8 (a byte-order mark is allowed): the whole file is checked before its first
   line is read, so a file in another encoding is a ``SourceError`` naming the line before
   anything is sent. A CSV without ``mobile`` and ``content`` columns is a ``SourceError`` too.
3. In a numbers file, blank lines and lines starting with ``#`` are skipped. An item (a line, a
   list item, a CSV ``mobile`` cell) that is not one number is split by ``split_numbers``
   (``,`` ``;`` then spaces); ``split_lines`` counts the items split. Whatever is not a number is
   rejected with its reason and its line (the 1-based position for lists and iterables).
4. A shared content is checked first, in the client's encoding: ``ContentError`` or
   ``ContentEncodingError`` before any batch. A personalized message whose content the encoding
   cannot carry is one rejection (``not-encodable``); the other messages go on.
5. De-duplication (``dedupe``) is exact and compact: numbers in a ``NumberSet``, personalized
   messages by (number, content) in a ``MessageSet``.
6. Personalized messages go ``batch_size`` to a request through ``sms_batch.php``, which takes
   domestic numbers only (§3.5): with ``batch_size`` above 1 an international number is
   rejected (``domestic-only``).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import anyio.to_thread

from .._exceptions import (
    ContentEncodingError,
    ContentError,
    InvalidNumberError,
    InvalidParameterError,
    SourceError,
)
from ..protocol import (
    Encoding,
    MessageSet,
    NumberSet,
    Rejected,
    RejectReason,
    check_content,
    is_mainland,
    normalize,
    split_numbers,
)
from ._model import Campaign, MessageSource, NumberSource

__all__ = ["Intake", "IntakeBatch"]

log = logging.getLogger("m5c_async.engine")
T = TypeVar("T")
_LINES: Final = 4096
_CHECK_CHUNK: Final = 1 << 20
_MAX_BATCH: Final = 500  # sms_batch.php items a request


@dataclass(frozen=True, slots=True)
class IntakeBatch:
    """One packet's worth of messages and/or the rejections met on the way.

    ``contents`` holds one content shared by every number, or one content per number; both are
    empty in a batch that only carries rejections.
    """

    numbers: tuple[str, ...]
    contents: tuple[str, ...]
    rejected: tuple[Rejected, ...] = ()


class Intake:
    """Reads a campaign's source and judges every item: one pass, one ``Intake``.

    Args:
        encoding: the client's encoding, in which contents must be encodable.
        dedupe: drop repeated numbers (or repeated number + content), exactly.
        packet_size: numbers a batch, for one shared content.
        batch_size: personalized messages a batch (at most 500, §3.5).
        reject_batch: rejections held before a rejections-only batch is yielded.

    Close ``batches`` when leaving it early (``contextlib.aclosing``), so its file and worker
    thread are released at once. After the pass, ``accepted``, ``rejected`` (by reason) and
    ``split_lines`` hold its counts.

    Example:
        >>> async def count(campaign: Campaign) -> int:
        ...     intake = Intake(encoding=Encoding.GBK)
        ...     async with aclosing(intake.batches(campaign)) as batches:
        ...         async for batch in batches:
        ...             pass
        ...     return intake.accepted
    """

    def __init__(
        self,
        *,
        encoding: Encoding = Encoding.UTF8,
        dedupe: bool = True,
        packet_size: int = 1000,
        batch_size: int = 1,
        reject_batch: int = 1000,
    ) -> None:
        if packet_size < 1 or batch_size < 1 or reject_batch < 1:
            raise InvalidParameterError(
                "packet_size, batch_size and reject_batch must be at least 1"
            )
        self.encoding = encoding
        self.dedupe = dedupe
        self.packet_size = packet_size
        self.batch_size = min(batch_size, _MAX_BATCH)
        self.reject_batch = reject_batch
        self.accepted = 0
        self.rejected: Counter[RejectReason] = Counter()
        self.split_lines = 0

    def _split(self, raw: str, reason: RejectReason) -> list[tuple[str, str | RejectReason]]:
        """An item that is not one number: its parts, each normalised or refused."""
        parts = split_numbers(raw)
        if len(parts) < 2:
            return [(raw, reason)]
        self.split_lines += 1
        judged: list[tuple[str, str | RejectReason]] = []
        for part in parts:
            try:
                judged.append((part, normalize(part)))
            except InvalidNumberError as exc:
                judged.append((part, RejectReason(exc.reason)))
        return judged

    def _refuse(self, rejected: list[Rejected], raw: str, reason: RejectReason, line: int) -> None:
        self.rejected[reason] += 1
        rejected.append(Rejected(number=raw, reason=reason, line=line))

    def check_shared(self, content: str) -> None:
        """Check a content shared by every number, in the client's encoding.

        Raises:
            ContentError: empty, over 500 characters, or holding NUL.
            ContentEncodingError: a character the encoding cannot carry.
        """
        check_content(content, self.encoding)

    async def batches(self, campaign: Campaign) -> AsyncGenerator[IntakeBatch, None]:
        """Yield the campaign's messages in batches, with the rejections met on the way.

        Raises:
            ContentError: the shared content is empty, too long or not encodable (before any
                batch).
            SourceError: a file that is not UTF-8, a CSV without its columns.
            InvalidParameterError: a source of the wrong type.
        """
        if campaign.content is not None:
            assert campaign.numbers is not None
            self.check_shared(campaign.content)
            async with aclosing(self._shared(campaign.numbers, campaign.content)) as shared:
                async for batch in shared:
                    yield batch
        else:
            assert campaign.messages is not None
            async with aclosing(self._personalized(campaign.messages)) as personalized:
                async for batch in personalized:
                    yield batch
        if self.split_lines:
            log.info("%d source lines held several numbers; each was taken", self.split_lines)

    async def _shared(
        self, source: NumberSource, content: str
    ) -> AsyncGenerator[IntakeBatch, None]:
        seen = NumberSet() if self.dedupe else None
        size, reject_batch = self.packet_size, self.reject_batch
        shared = (content,)
        numbers: list[str] = []
        rejected: list[Rejected] = []
        async with aclosing(_number_chunks(source, min(size, _LINES))) as chunks:
            async for chunk in chunks:
                for line, raw in chunk:
                    for part, number in self._parts(raw):
                        if isinstance(number, RejectReason):
                            self._refuse(rejected, part, number, line)
                        elif seen is not None and not seen.add(number):
                            self._refuse(rejected, part, RejectReason.DUPLICATE, line)
                        else:
                            numbers.append(number)
                            if len(numbers) >= size:
                                self.accepted += len(numbers)
                                yield IntakeBatch(tuple(numbers), shared, tuple(rejected))
                                numbers, rejected = [], []
                        if len(rejected) >= reject_batch:
                            yield IntakeBatch((), (), tuple(rejected))
                            rejected = []
        if numbers or rejected:
            self.accepted += len(numbers)
            yield IntakeBatch(tuple(numbers), shared if numbers else (), tuple(rejected))

    async def _personalized(self, source: MessageSource) -> AsyncGenerator[IntakeBatch, None]:
        seen = MessageSet() if self.dedupe else None
        size, reject_batch = self.batch_size, self.reject_batch
        numbers: list[str] = []
        contents: list[str] = []
        rejected: list[Rejected] = []
        async with aclosing(_message_chunks(source, min(size, _LINES))) as chunks:
            async for chunk in chunks:
                for line, raw, content in chunk:
                    for part, number in self._parts(raw):
                        verdict = self._judge(number, content, seen)
                        if isinstance(verdict, RejectReason):
                            self._refuse(rejected, part, verdict, line)
                        else:
                            numbers.append(verdict)
                            contents.append(content)
                            if len(numbers) >= size:
                                self.accepted += len(numbers)
                                yield IntakeBatch(tuple(numbers), tuple(contents), tuple(rejected))
                                numbers, contents, rejected = [], [], []
                        if len(rejected) >= reject_batch:
                            yield IntakeBatch((), (), tuple(rejected))
                            rejected = []
        if numbers or rejected:
            self.accepted += len(numbers)
            yield IntakeBatch(tuple(numbers), tuple(contents), tuple(rejected))

    def _parts(self, raw: str) -> Iterable[tuple[str, str | RejectReason]]:
        """A source item's number(s), each normalised or with the reason it is refused: one
        number, or the parts of a line that holds several."""
        try:
            return ((raw, normalize(raw)),)
        except InvalidNumberError as exc:
            return self._split(raw, RejectReason(exc.reason))

    def _judge(
        self, number: str | RejectReason, content: str, seen: MessageSet | None
    ) -> str | RejectReason:
        """A personalized message's number once its content is checked, or why it is refused."""
        if isinstance(number, RejectReason):
            return number
        try:
            check_content(content, self.encoding)
        except ContentEncodingError:
            return RejectReason.NOT_ENCODABLE
        except ContentError:
            return RejectReason.BAD_CONTENT
        if self.batch_size > 1 and not is_mainland(number):
            return RejectReason.DOMESTIC_ONLY
        if seen is not None and not seen.add(number, content):
            return RejectReason.DUPLICATE
        return number


# --- reading sources -----------------------------------------------------------------------


async def _in_thread(items: Iterator[T]) -> AsyncGenerator[list[T], None]:
    """Lists of items pulled from a blocking iterator in a worker thread."""

    def take() -> list[T]:
        out = []
        for item in items:
            out.append(item)
            if len(out) >= _LINES:
                break
        return out

    while batch := await anyio.to_thread.run_sync(take):
        yield batch


def _refuse_type(source: object, what: str) -> None:
    if isinstance(source, str | bytes | io.IOBase):
        kind = type(source).__name__
        raise SourceError(
            f"{what} must be an iterable, an async iterable or a Path, not {kind}", source=kind
        )


def _text(item: object) -> str:
    return item if isinstance(item, str) else str(item)


async def _number_chunks(
    source: NumberSource, limit: int
) -> AsyncGenerator[list[tuple[int, str]], None]:
    """(line or position, raw item) pairs, in lists; at most ``limit`` taken ahead from an
    iterable (whose reading may have costs the caller wants paced), 4,096 lines from a file."""
    _refuse_type(source, "numbers")
    if isinstance(source, Path):
        async with aclosing(_in_thread(_number_lines(source))) as lines:
            async for batch in lines:
                yield batch
        return
    chunk: list[tuple[int, str]] = []
    async with aclosing(_numbered(source)) as items:
        async for position, item in items:
            chunk.append((position, _text(item)))
            if len(chunk) >= limit:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def _message_chunks(
    source: MessageSource, limit: int
) -> AsyncGenerator[list[tuple[int, str, str]], None]:
    """(line or position, raw number, content) triples, in lists (``limit`` as above)."""
    _refuse_type(source, "messages")
    if isinstance(source, Path):
        async with aclosing(_in_thread(_csv_rows(source))) as rows:
            async for batch in rows:
                yield batch
        return
    chunk: list[tuple[int, str, str]] = []
    async with aclosing(_numbered(source)) as items:
        async for position, item in items:
            chunk.append(_pair(item, position))
            if len(chunk) >= limit:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def _numbered(items: Iterable[T] | AsyncIterable[T]) -> AsyncGenerator[tuple[int, T], None]:
    position = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            position += 1
            yield position, item
    else:
        for item in items:
            position += 1
            yield position, item


def _pair(item: object, position: int) -> tuple[int, str, str]:
    if isinstance(item, tuple | list) and len(item) == 2:
        return position, _text(item[0]), item[1] if isinstance(item[1], str) else ""
    raise SourceError(
        f"message {position} is not a (mobile, content) pair", source="messages", line=position
    )


def _check_utf8(path: Path) -> None:
    """Raise ``SourceError`` at the first line of ``path`` that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHECK_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad = line + chunk.count(b"\n", 0, max(exc.start, 0))
                raise SourceError(
                    f"{path.name}: line {bad} is not UTF-8; save the file as UTF-8",
                    source=path.name,
                    line=bad,
                ) from None
            if not chunk:
                return
            line += chunk.count(b"\n")


def _number_lines(path: Path) -> Iterator[tuple[int, str]]:
    _check_utf8(path)
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip().strip("\ufeff")
            if text and not text.startswith("#"):
                yield number, text


def _csv_rows(path: Path) -> Iterator[tuple[int, str, str]]:
    _check_utf8(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower(): name for name in reader.fieldnames or [] if name}
        missing = [c for c in ("mobile", "content") if c not in fields]
        if missing:
            raise SourceError(
                f"{path.name}: a CSV needs 'mobile' and 'content' columns (missing:"
                f" {', '.join(missing)}; found: {', '.join(fields) or 'none'})",
                source=path.name,
                line=1,
            )
        mobile, content = fields["mobile"], fields["content"]
        try:
            for row in reader:
                yield reader.line_num, row.get(mobile) or "", row.get(content) or ""
        except csv.Error as exc:
            raise SourceError(
                f"{path.name}: line {reader.line_num}: {exc}",
                source=path.name,
                line=reader.line_num,
            ) from None
