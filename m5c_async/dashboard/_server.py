"""Serving the dashboard with uvicorn, bounded like the webhook receiver."""

from __future__ import annotations

from typing import Any

from ..webhook import receiver_config

__all__ = ["dashboard_config"]


def dashboard_config(app: Any, *, host: str, port: int, **options: Any) -> Any:
    """A ``uvicorn.Config`` for the dashboard: the receiver's bounds (a deadline on request
    headers, no proxy-header rewriting, 1 s graceful shutdown) and at most 64 connections.

    Example:
        >>> # await uvicorn.Server(dashboard_config(app, host="127.0.0.1", port=8950)).serve()
    """
    return receiver_config(
        app, host=host, port=port, limit_concurrency=64, lifespan="off", **options
    )
