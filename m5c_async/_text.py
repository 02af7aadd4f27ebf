"""Text from outside (pushed, replied, quarantined) as a terminal or a log line shows it safely."""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["printable"]

#: Unicode categories written as escapes: controls (C0, DEL, C1: ESC starts the sequences that
#: move the cursor, clear the screen or retitle the window), format characters (bidirectional
#: overrides that reorder what is shown), line and paragraph separators, lone surrogates.
_HIDDEN: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` with each such character written as ``\\xNN``/``\\uNNNN`` (``\\t`` for a tab);
    newlines kept unless ``newlines`` is False (one log line stays one). Spaces of every kind
    (the full-width U+3000 of Chinese text included), CJK and emoji are left as they are.

    >>> printable("a\\x1b[2Jb\\n"), printable("x\\ny", newlines=False), printable("你\\u3000好")
    ('a\\\\x1b[2Jb\\n', 'x\\\\ny', '你\\u3000好')
    """
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode()
        if unicodedata.category(c) in _HIDDEN and not (c == "\n" and newlines)
        else c
        for c in text
    )
