"""The public surface: every package's __all__ is sorted, complete and importable."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "m5c_async",
    "m5c_async.engine",
    "m5c_async.journal",
    "m5c_async.observability",
    "m5c_async.protocol",
    "m5c_async.simulator",
    "m5c_async.webhook",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    """__all__ is sorted (isort style) and each name resolves."""
    module = importlib.import_module(name)
    names = list(module.__all__)

    def isort_key(n: str) -> tuple[int, str]:
        kind = 0 if n.isupper() else 1 if n[:1].isupper() else 2
        return (kind, n)

    assert names == sorted(names, key=isort_key)
    for item in names:
        assert hasattr(module, item), item


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name(name: str) -> None:
    """Every public class or function the package holds is in __all__."""
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and (isinstance(v, type) or callable(v))
    }
    assert public <= set(module.__all__)


def test_version_is_a_string() -> None:
    """__version__ comes from the installed metadata."""
    import m5c_async

    assert m5c_async.__version__.count(".") >= 2
