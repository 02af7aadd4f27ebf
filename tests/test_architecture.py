"""The import direction of docs/architecture.md, read from the source with ``ast``.

Every module of ``m5c_async`` belongs to one *unit*: a package (``protocol``, ``client``, ...) or
a shared module at the top (``_exceptions``, ``_config``, ``_asgi``...). ``ALLOWED`` says which
units each unit may import; a unit missing from it fails the test, so a new package is placed
in the table (and in the architecture page) before it lands. Besides the direction, a module
never reaches into another package's private module (``engine._intake``, ``simulator._serve``):
it imports the package and uses a public name. Imports under ``TYPE_CHECKING`` and inside
functions count too: they are the same dependency, paid later.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import m5c_async

ROOT = "m5c_async"

#: unit -> the units it may import (besides itself). ``cli`` is imported by nobody but ``__main__``.
#: The shared modules at the top that every package but ``protocol`` may import.
SHARED = frozenset({"_exceptions", "_config", "_observers"})

ALLOWED: dict[str, frozenset[str]] = {
    "_version": frozenset(),
    "_exceptions": frozenset(),
    "protocol": frozenset({"_exceptions"}),
    "_config": frozenset({"_exceptions", "protocol"}),
    "_observers": frozenset({"_exceptions", "protocol"}),
    "_asgi": frozenset({"_exceptions"}),
    "_text": frozenset(),
    "client": SHARED | {"protocol"},
    "engine": SHARED | {"protocol", "client"},
    "journal": SHARED | {"protocol", "client", "engine"},
    "observability": SHARED | {"_version", "_asgi", "protocol", "client", "engine"},
    "webhook": SHARED | {"_asgi", "_text", "protocol", "observability"},
    "simulator": frozenset({"_exceptions", "_config", "_asgi", "protocol"}),
    "dashboard": frozenset({"_exceptions", "_config", "_asgi", "protocol", "journal", "webhook"}),
    "cli": SHARED
    | {
        "_version",
        "_text",
        "protocol",
        "client",
        "engine",
        "journal",
        "webhook",
        "simulator",
        "observability",
        "dashboard",
    },
    "__init__": frozenset({"_exceptions", "_config", "_version", "protocol", "client"}),
    "__main__": frozenset({"cli"}),
}


@dataclass(frozen=True)
class Edge:
    """One import: where it is and what it names (absolute dotted module)."""

    source: str  # dotted module doing the import
    line: int
    target: str  # dotted module imported


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def edges(root: Path) -> list[Edge]:
    """Every import of ``root``'s package by its own modules, as absolute dotted targets."""
    found: list[Edge] = []
    top = root.name
    modules = {_module_name(p, root)[0] for p in root.rglob("*.py")}
    for path in sorted(root.rglob("*.py")):
        module, is_package = _module_name(path, root)
        package = module if is_package else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # ``from .pkg import _mod`` names a module; ``from .pkg import Name`` does not.
                named = (f"{prefix}.{alias.name}" for alias in node.names)
                targets = [prefix, *(t for t in named if t in modules)]
            else:
                continue
            for target in targets:
                if target == top or target.startswith(top + "."):
                    found.append(Edge(module, node.lineno, target))
    return found


def _unit(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(root: Path, allowed: dict[str, frozenset[str]] = ALLOWED) -> list[str]:
    """What breaks the import rules under ``root`` (a package directory), one line each."""
    problems: list[str] = []
    modules = {_module_name(p, root)[0] for p in root.rglob("*.py")}
    for unit in sorted({_unit(m) for m in modules} - allowed.keys()):
        problems.append(f"{unit}: not in ALLOWED (add it there and to docs/architecture.md)")
    for edge in edges(root):
        target = edge.target
        src_unit, dst_unit = _unit(edge.source), _unit(target)
        where = f"{edge.source}:{edge.line}"
        if dst_unit == src_unit:
            continue
        if dst_unit not in allowed.get(src_unit, frozenset()):
            problem = f"{where}: {src_unit} may not import {dst_unit} ({target})"
        elif any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[2:]):
            # Another package's private module (the top's shared modules are units of their
            # own, named in ALLOWED).
            problem = f"{where}: imports {target}, private to {dst_unit}; use its __init__"
        else:
            continue
        if problem not in problems:
            problems.append(problem)
    return problems


def test_the_package_keeps_the_import_direction() -> None:
    """No module of m5c_async imports against the direction of docs/architecture.md."""
    root = Path(m5c_async.__file__).parent
    assert len(edges(root)) > 100
    assert violations(root) == []


def test_the_architecture_page_names_every_package() -> None:
    """docs/architecture.md has a paragraph for every unit of the table."""
    page = (Path(m5c_async.__file__).parent.parent / "docs" / "architecture.md").read_text(
        encoding="utf-8"
    )
    for unit in ALLOWED:
        if unit.startswith("__"):
            continue
        heading = f"`{unit}/`" if not unit.startswith("_") else f"`{unit}.py`"
        assert heading in page, f"docs/architecture.md does not describe {heading}"


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / ROOT
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


CLEAN = {
    "__init__.py": "from .client import Client\n",
    "_exceptions.py": "class M5CError(Exception): ...\n",
    "protocol/__init__.py": "from ._codes import CODES\n",
    "protocol/_codes.py": "from .._exceptions import M5CError\nCODES = {}\n",
    "client/__init__.py": "from ._client import Client\n",
    "client/_client.py": "from ..protocol import CODES\nclass Client: ...\n",
    "engine/__init__.py": "from ._engine import Engine\n",
    "engine/_engine.py": "import m5c_async.client\nclass Engine: ...\n",
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    """The planted tree that follows the rules has no violation."""
    assert violations(_plant(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("protocol/_bad.py", "from ..client import Client\n", "protocol may not import client"),
        ("client/_bad.py", "import m5c_async.engine\n", "client may not import engine"),
        ("engine/_bad.py", "from ..cli import main\n", "engine may not import cli"),
        (
            "engine/_bad.py",
            "from ..protocol._codes import CODES\n",
            "imports m5c_async.protocol._codes, private to protocol",
        ),
        (
            "engine/_bad.py",
            "from ..protocol import _codes\n",
            "imports m5c_async.protocol._codes, private to protocol",
        ),
        (
            "engine/_bad.py",
            "def f():\n    from m5c_async.client._client import Client\n",
            "private to client",
        ),
        (
            "engine/_bad.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..journal import J\n",
            "engine may not import journal",
        ),
        ("newpkg/__init__.py", "", "newpkg: not in ALLOWED"),
    ],
)
def test_a_planted_violation_fails(tmp_path: Path, name: str, text: str, expected: str) -> None:
    """Each kind of violation, planted in a clean tree, is reported with its place."""
    root = _plant(tmp_path, {**CLEAN, name: text})
    found = violations(root)
    assert len(found) == 1, found
    assert expected in found[0]
