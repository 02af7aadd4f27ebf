"""Calling hooks cheaply: only the methods a hook overrides, each failure logged and contained.

``HookSet`` holds, for every event of ``Hooks``, one callable fanning out to the hooks that
override it, or None when none does; the engine tests for None before building an event, so an
event nobody listens to costs one attribute read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ._model import Hooks

__all__ = ["HookSet"]

log = logging.getLogger("m5c_async.engine")
Fan = Callable[..., None]


def _listeners(hooks: Sequence[object], name: str) -> list[Callable[..., None]]:
    base = getattr(Hooks, name)
    found = []
    for hook in hooks:
        method = getattr(type(hook), name, None)
        if method is not None and method is not base:
            found.append(getattr(hook, name))
    return found


def _fan(methods: list[Callable[..., None]]) -> Fan | None:
    if not methods:
        return None

    def call(*args: Any) -> None:
        for method in methods:
            try:
                method(*args)
            except Exception:
                # A hook's bug never changes a packet's outcome nor stops the engine.
                log.exception("hook %s failed", getattr(method, "__qualname__", method))

    return call


class HookSet:
    """The engine's hooks, one fan-out callable (or None) per event."""

    __slots__ = (
        "admit",
        "hooks",
        "node_change",
        "outcome",
        "rate_change",
        "reconcile",
        "request_end",
        "request_start",
        "run_end",
        "run_start",
        "throttle",
    )

    def __init__(self, hooks: Sequence[object]) -> None:
        self.hooks = tuple(hooks)
        self.outcome = _fan(_listeners(hooks, "on_outcome"))
        self.throttle = _fan(_listeners(hooks, "on_throttle"))
        self.rate_change = _fan(_listeners(hooks, "on_rate_change"))
        self.request_start = _fan(_listeners(hooks, "on_request_start"))
        self.request_end = _fan(_listeners(hooks, "on_request_end"))
        self.reconcile = _fan(_listeners(hooks, "on_reconcile"))
        self.node_change = _fan(_listeners(hooks, "on_node_change"))
        self.run_start = _fan(_listeners(hooks, "on_run_start"))
        self.run_end = _fan(_listeners(hooks, "on_run_end"))
        self.admit = _fan(_listeners(hooks, "on_admit"))
