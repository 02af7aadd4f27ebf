"""How many billed segments a message costs (docs/protocol.md, "Billing").

A message of up to 70 characters is one segment; a longer one is split into parts of 67
characters (the rest of each part carries the concatenation header), so it costs ceil(n / 67).
"""

from __future__ import annotations

from typing import Final

__all__ = ["SEGMENT_CHARS", "SINGLE_SEGMENT_CHARS", "segments"]

SINGLE_SEGMENT_CHARS: Final = 70
SEGMENT_CHARS: Final = 67


def segments(content: str) -> int:
    """Return the number of billed segments of ``content`` (0 for empty content)."""
    n = len(content)
    if n <= SINGLE_SEGMENT_CHARS:
        return 1 if n else 0
    return -(-n // SEGMENT_CHARS)
