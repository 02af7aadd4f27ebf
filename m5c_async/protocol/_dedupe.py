"""Compact, exact de-duplication of numbers and of (number, content) messages.

A Python ``set`` of a campaign's numbers costs about 94 bytes a number; ``NumberSet`` about 4
(docs/benchmarks.md, memory).

Rules:

- ``NumberSet`` is exact. A mainland mobile (11 digits, ``1[3-9]``) is an integer below 2**35;
  its high bits pick a container (at most 6,676 of them), its low 20 bits go into that
  container, the way roaring bitmaps do: a sorted ``array('I')`` (4 bytes a number) while it
  holds at most 32,768 numbers, then a 128 KiB bitmap (a bit a number, for dense ranges). Any
  other number (international, rare) goes into a plain ``set``.
- ``MessageSet`` keeps a 128-bit BLAKE2b digest of each (number, content), split in two 64-bit
  halves: the first picks a bucket and the sorted position, the second is compared when the first
  matches. Two different messages whose first halves collide are both kept (the second halves
  differ); only a collision of all 128 bits could call a new message a duplicate. Cost: 16 bytes a
  message, whatever the content's length.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from hashlib import blake2b
from typing import Final

__all__ = ["MessageSet", "NumberSet"]

_LOW_BITS: Final = 20
_LOW_MASK: Final = (1 << _LOW_BITS) - 1
_ARRAY_MAX: Final = 32_768  # above this a container is smaller as a bitmap (128 KiB)
_BITMAP_BYTES: Final = (1 << _LOW_BITS) // 8
_MAINLAND_LOW: Final = 13_000_000_000
_MAINLAND_HIGH: Final = 20_000_000_000
_BUCKET_SHIFT: Final = 52  # 4,096 buckets of 64-bit digests


class NumberSet:
    """An exact set of normalised numbers (digit strings), a few bytes a number.

    Example:
        >>> seen = NumberSet()
        >>> seen.add("13800138000"), seen.add("13800138000"), "13800138000" in seen
        (True, False, True)
        >>> len(seen)
        1
    """

    __slots__ = ("_containers", "_count", "_other")

    def __init__(self) -> None:
        self._containers: dict[int, array[int] | bytearray] = {}
        self._other: set[str] = set()
        self._count = 0

    def add(self, number: str) -> bool:
        """Add ``number``; return True if it was not in the set yet."""
        if len(number) == 11 and number.isascii() and number.isdigit():
            key = int(number)
            if _MAINLAND_LOW <= key < _MAINLAND_HIGH:
                if self._add_key(key):
                    self._count += 1
                    return True
                return False
        if number in self._other:
            return False
        self._other.add(number)
        self._count += 1
        return True

    def _add_key(self, key: int) -> bool:
        high, low = key >> _LOW_BITS, key & _LOW_MASK
        container = self._containers.get(high)
        if container is None:
            self._containers[high] = array("I", (low,))
            return True
        if isinstance(container, bytearray):
            byte, bit = low >> 3, 1 << (low & 7)
            if container[byte] & bit:
                return False
            container[byte] |= bit
            return True
        at = bisect_left(container, low)
        if at < len(container) and container[at] == low:
            return False
        container.insert(at, low)
        if len(container) > _ARRAY_MAX:
            bitmap = bytearray(_BITMAP_BYTES)
            for value in container:
                bitmap[value >> 3] |= 1 << (value & 7)
            self._containers[high] = bitmap
        return True

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str):
            return False
        if len(number) == 11 and number.isascii() and number.isdigit():
            key = int(number)
            if _MAINLAND_LOW <= key < _MAINLAND_HIGH:
                container = self._containers.get(key >> _LOW_BITS)
                if container is None:
                    return False
                low = key & _LOW_MASK
                if isinstance(container, bytearray):
                    return bool(container[low >> 3] & (1 << (low & 7)))
                at = bisect_left(container, low)
                return at < len(container) and container[at] == low
        return number in self._other

    def __len__(self) -> int:
        return self._count


class MessageSet:
    """A set of (number, content) messages, 16 bytes a message (see the module's rules).

    Example:
        >>> seen = MessageSet()
        >>> seen.add("13800138000", "a"), seen.add("13800138000", "b"), seen.add("13800138000", "a")
        (True, True, False)
    """

    __slots__ = ("_buckets", "_count")

    def __init__(self) -> None:
        self._buckets: dict[int, tuple[array[int], array[int]]] = {}
        self._count = 0

    @staticmethod
    def _digest(number: str, content: str) -> tuple[int, int]:
        # The NUL cannot occur in a number, so (number, content) pairs map to distinct inputs.
        raw = blake2b(f"{number}\x00{content}".encode(), digest_size=16).digest()
        return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")

    def add(self, number: str, content: str) -> bool:
        """Add the message; return True if it was not in the set yet."""
        first, second = self._digest(number, content)
        bucket = self._buckets.get(first >> _BUCKET_SHIFT)
        if bucket is None:
            self._buckets[first >> _BUCKET_SHIFT] = (array("Q", (first,)), array("Q", (second,)))
            self._count += 1
            return True
        firsts, seconds = bucket
        at = bisect_left(firsts, first)
        probe = at
        while probe < len(firsts) and firsts[probe] == first:
            if seconds[probe] == second:
                return False
            probe += 1  # the first halves collide, the messages differ: keep both
        firsts.insert(at, first)
        seconds.insert(at, second)
        self._count += 1
        return True

    def __contains__(self, message: object) -> bool:
        if not (isinstance(message, tuple) and len(message) == 2):
            return False
        number, content = message
        first, second = self._digest(str(number), str(content))
        bucket = self._buckets.get(first >> _BUCKET_SHIFT)
        if bucket is None:
            return False
        firsts, seconds = bucket
        probe = bisect_left(firsts, first)
        while probe < len(firsts) and firsts[probe] == first:
            if seconds[probe] == second:
                return True
            probe += 1
        return False

    def __len__(self) -> int:
        return self._count
