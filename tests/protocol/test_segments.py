"""Segment counting: 70 characters is one segment, longer ones cost ceil(n / 67)."""

from __future__ import annotations

import pytest

from m5c_async.protocol import segments


@pytest.mark.parametrize(
    ("length", "expected"), [(0, 0), (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (500, 8)]
)
def test_segments(length: int, expected: int) -> None:
    """Boundaries at 70, 134 and 500 characters."""
    assert segments("好" * length) == expected
