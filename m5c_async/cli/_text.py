"""Text from outside (replies, pushed data) as a terminal shows it harmlessly."""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str) -> str:
    """``text`` with control characters written as ``\\xNN`` (``\\x1b`` of an escape sequence
    that would clear the screen, move the cursor or retitle the window; BEL, DEL, C1); newlines
    kept. Everything else, CJK included, is left as it is."""
    return "".join(
        c if c == "\n" or c.isprintable() or c == " " else c.encode("unicode_escape").decode()
        for c in text
    )
