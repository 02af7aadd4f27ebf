"""Bad arguments raise named errors: InvalidParameterError (an M5CError and a ValueError), never
a bare ValueError, except inside the parsers, which turn their ValueErrors into quarantine
reasons and named format errors before anything leaves them."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import m5c_async
from m5c_async import InvalidParameterError, M5CError
from m5c_async.client import BreakerConfig, Timeouts
from m5c_async.engine import Intake
from m5c_async.protocol import Gcra, SlidingWindow, chunked
from m5c_async.simulator import AccountConfig, PlatformSettings, parse_account_spec

#: Modules whose ValueErrors are caught within the module (or its one caller) and re-raised as
#: named errors or kept as quarantine reasons.
INTERNAL = {"protocol/_parsers.py", "protocol/_push.py", "client/_transports/_fast.py"}


def _bare_raises(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            if isinstance(func, ast.Name) and func.id in ("ValueError", "TypeError"):
                lines.append(node.lineno)
    return sorted(lines)


def test_no_bare_value_errors_outside_the_parsers() -> None:
    """Every module but the parsers raises named errors for bad input."""
    root = Path(m5c_async.__file__).parent
    found = {
        str(p.relative_to(root)): lines
        for p in root.rglob("*.py")
        if str(p.relative_to(root)) not in INTERNAL and (lines := _bare_raises(p))
    }
    assert found == {}


@pytest.mark.parametrize(
    "make",
    [
        lambda: Timeouts(read=0),
        lambda: BreakerConfig(failure_threshold=0),
        lambda: Intake(packet_size=0),
        lambda: Gcra(rate=0),
        lambda: SlidingWindow(rate=0.5),
        lambda: list(chunked(["1"], 0)),
        lambda: AccountConfig(username="ab", password="p", apikey="k"),
        lambda: parse_account_spec("only-a-name"),
        lambda: PlatformSettings(tolerance=-1),
    ],
)
def test_bad_settings_are_named_errors(make: Callable[[], Any]) -> None:
    """Out-of-range settings of the public classes raise InvalidParameterError."""
    with pytest.raises(InvalidParameterError) as caught:
        make()
    assert isinstance(caught.value, M5CError)
    assert isinstance(caught.value, ValueError)
