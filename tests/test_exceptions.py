"""The exception tree drawn in ``_exceptions.py`` is the real one, verdicts included."""

from __future__ import annotations

import re

import pytest

import m5c_async
from m5c_async import (
    AllNodesFailedError,
    M5CError,
    NodeUnavailableError,
    ReplyFormatError,
    UnexpectedError,
    Verdict,
)
from m5c_async import _exceptions as exceptions_module

LINE = re.compile(r"^    ((?:[│ ] {3})*)(?:[├└]── )?([A-Z]\w+)(.*)$")
NAMED_VERDICT = re.compile(r"\((safe|throttled|unsafe|pointless|fatal)\b[^)]*\)\s*$")


def _drawing() -> list[tuple[int, str, str]]:
    """(depth, class name, comment) for every line of the drawing."""
    doc = exceptions_module.__doc__ or ""
    start = doc.index("    M5CError")
    rows = []
    for line in doc[start:].splitlines():
        if not line.strip():
            break
        match = LINE.match(line)
        if match is None:
            continue  # a comment's continuation line
        prefix, name, comment = match.groups()
        depth = len(prefix) // 4 + (0 if name == "M5CError" else 1)
        rows.append((depth, name, comment))
    return rows


def _real_tree() -> dict[str, str | None]:
    """class name -> parent class name, for every M5CError class of the library."""
    tree: dict[str, str | None] = {"M5CError": None}
    todo: list[type[M5CError]] = [M5CError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("m5c_async"):
                tree[sub.__name__] = cls.__name__
                todo.append(sub)
    return tree


def test_the_drawing_is_the_tree() -> None:
    """Every class is drawn once, under its real parent, and nothing else is drawn."""
    drawn: dict[str, str | None] = {}
    parents: list[str] = []
    for depth, name, _ in _drawing():
        del parents[depth:]
        assert name not in drawn, f"{name} drawn twice"
        drawn[name] = parents[-1] if parents else None
        parents.append(name)
    assert drawn == _real_tree()


def test_every_class_is_exported() -> None:
    """The tree is the public one: each class is importable from the package."""
    for name in _real_tree():
        assert getattr(m5c_async, name) is getattr(exceptions_module, name)


def test_verdicts_named_in_the_drawing_are_the_classes() -> None:
    """Where a line names one verdict in parentheses, the class (by default) carries it."""
    checked = 0
    for _, name, comment in _drawing():
        match = NAMED_VERDICT.search(comment)
        cls = getattr(exceptions_module, name)
        if match is None or name in ("AllNodesFailedError", "UnexpectedError"):
            continue
        assert cls.verdict is Verdict(match.group(1)), name
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    ("failures", "verdict"),
    [
        ({"a": NodeUnavailableError("x"), "b": NodeUnavailableError("y")}, Verdict.SAFE),
        ({"a": NodeUnavailableError("x"), "b": ReplyFormatError("bad")}, Verdict.POINTLESS),
    ],
)
def test_all_nodes_failed_is_safe_only_when_every_failure_was(
    failures: dict[str, M5CError], verdict: Verdict
) -> None:
    """The per-instance verdict of the one class whose verdict depends on its content."""
    assert AllNodesFailedError(failures, endpoint="send").verdict is verdict


def test_unexpected_error_wraps_without_quoting() -> None:
    """The wrapped exception is the cause; its text (which could quote a URL) is not copied."""
    original = RuntimeError("http://x/?apikey=secret")
    err = UnexpectedError.wrap(original, may_have_left=True)
    assert err.__cause__ is original
    assert err.verdict is Verdict.UNSAFE
    assert "secret" not in str(err) + repr(err)
    assert err.kind == "RuntimeError"
    assert UnexpectedError.wrap(original, may_have_left=False).verdict is Verdict.POINTLESS
