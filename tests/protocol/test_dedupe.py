"""Compact de-duplication: exactly a Python set's answers, at a few bytes a number."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m5c_async.protocol import MessageSet, NumberSet

mainland = st.integers(min_value=13_000_000_000, max_value=19_999_999_999).map(str)
# Numbers packed close together, so containers fill up and turn into bitmaps.
dense = st.integers(min_value=0, max_value=9_000).map(lambda i: str(13_800_000_000 + i))
international = st.from_regex(r"[2-9][0-9]{7,14}", fullmatch=True)
numbers = st.lists(st.one_of(mainland, dense, international), max_size=6_000)


@settings(max_examples=60, deadline=None)
@given(numbers)
def test_number_set_answers_as_a_python_set(items: list[str]) -> None:
    """add() is True exactly when a set had not seen the number; membership and size agree."""
    compact, exact = NumberSet(), set[str]()
    for number in items:
        assert compact.add(number) is (number not in exact)
        exact.add(number)
    assert len(compact) == len(exact)
    for number in items[:200]:
        assert number in compact
    probe = str(int(items[0]) + 1) if items else "13800138000"
    assert (probe in compact) is (probe in exact)


def test_number_set_turns_a_dense_container_into_a_bitmap_and_stays_exact() -> None:
    """40,000 close numbers in one container (past the array's 32,768): all kept, none twice."""
    seen = NumberSet()
    base = 13_800_000_000 - (13_800_000_000 % 2**20)
    assert all(seen.add(str(base + 2 * i)) for i in range(40_000))
    assert not any(seen.add(str(base + 2 * i)) for i in range(0, 40_000, 7))
    assert not any(str(base + 2 * i + 1) in seen for i in range(0, 40_000, 7))
    assert len(seen) == 40_000


def test_number_set_is_compact() -> None:
    """400,000 random mainland mobiles cost under 8 bytes each (a set of str costs ~60+)."""
    import random

    rng = random.Random(7)
    picks = [str(rng.randrange(13_000_000_000, 20_000_000_000)) for _ in range(400_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    seen = NumberSet()
    for number in picks:
        seen.add(number)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used / len(picks) < 8


messages = st.lists(
    st.tuples(st.sampled_from(["13800138000", "13900139000", "447874321404"]), st.text()),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(messages)
def test_message_set_answers_as_a_python_set(items: list[tuple[str, str]]) -> None:
    """(number, content) pairs: add() agrees with a set of tuples."""
    compact, exact = MessageSet(), set[tuple[str, str]]()
    for number, content in items:
        assert compact.add(number, content) is ((number, content) not in exact)
        exact.add((number, content))
        assert (number, content) in compact
    assert len(compact) == len(exact)


def test_message_set_keeps_both_messages_when_the_first_halves_collide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collision of the 64-bit half that places a message never drops the second message."""

    def colliding(number: str, content: str) -> tuple[int, int]:
        # Every message gets the same first half; the second half tells them apart.
        return 42, hash((number, content)) & (2**64 - 1)

    monkeypatch.setattr(MessageSet, "_digest", staticmethod(colliding))
    seen = MessageSet()
    assert seen.add("13800138000", "hello")
    assert seen.add("13800138000", "world")
    assert seen.add("13900139000", "hello")
    assert not seen.add("13800138000", "world")
    assert len(seen) == 3
    assert ("13900139000", "hello") in seen
    assert ("13900139000", "world") not in seen
