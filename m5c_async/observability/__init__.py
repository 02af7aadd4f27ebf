"""Seeing the engine run: Prometheus metrics (``metrics``) and OpenTelemetry traces (``tracing``).

Each needs its extra: ``pip install 'm5c_async[metrics]'`` (prometheus-client) and
``'m5c_async[tracing]'`` (opentelemetry-api). Nothing is imported until a name is used, so this
package costs nothing where neither is installed; the engine itself never imports either.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from .metrics import EngineMetrics, Metrics
    from .tracing import TracingHooks

__all__ = ["EngineMetrics", "Metrics", "TracingHooks"]

_WHERE = {"EngineMetrics": "metrics", "Metrics": "metrics", "TracingHooks": "tracing"}


def __getattr__(name: str) -> _typing.Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(_importlib.import_module(f".{module}", __name__), name)
