"""protocol/ stays pure: no module in it imports anything that does I/O or reads a clock."""

from __future__ import annotations

import ast
from pathlib import Path

import m5c_async.protocol as protocol

FORBIDDEN = {
    "asyncio",
    "anyio",
    "httpx",
    "httpcore",
    "socket",
    "ssl",
    "time",
    "select",
    "selectors",
    "threading",
    "subprocess",
    "os",
    "io",
    "pathlib",
    "sqlite3",
    "random",
    "uvicorn",
    "redis",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_protocol_modules_import_nothing_that_does_io() -> None:
    """Every protocol module's imports avoid I/O, clocks and randomness."""
    folder = Path(protocol.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_purity_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The import reader sees both import forms."""
    sample = tmp_path / "x.py"
    sample.write_text("import time\nfrom asyncio import sleep\nfrom . import y\n")
    assert _imports(sample) == {"time", "asyncio"}
