"""Serving the receiver with uvicorn, bounded: a deadline on request headers, no proxy rewriting.

uvicorn bounds header *size* (h11's incomplete-event limit) and idle keep-alive connections, but
not the time a client takes to send a request's headers: a client trickling one header byte a
second holds its connection forever (slowloris). ``HeaderDeadlineH11`` closes a connection whose
next request's headers are not complete within ``header_timeout`` seconds; the receiver itself
bounds the body (``body_timeout``).

uvicorn's own ``proxy_headers`` (on by default, trusting 127.0.0.1) would rewrite the client
address from ``X-Forwarded-For`` before the receiver sees it, bypassing the receiver's rule
(only configured trusted proxies). ``receiver_config`` turns it off.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["receiver_config"]


def _protocol(header_timeout: float) -> type[Any]:
    # uvicorn is the optional [sim] extra: imported only when a server is built.
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineH11(H11Protocol):
        """uvicorn's h11 protocol with a deadline on each request's headers."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            """Start the first request's header deadline."""
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._waiting_for = self.cycle
            self._deadline: asyncio.TimerHandle | None = self.loop.call_later(
                header_timeout, self._expired
            )

        def _disarm(self) -> None:
            deadline = getattr(self, "_deadline", None)
            if deadline is not None:
                deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.cycle is self._waiting_for and not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            """Stop the deadline once a request's headers are complete (a new cycle began)."""
            super().data_received(data)
            if self.cycle is not self._waiting_for:
                self._disarm()

        def on_response_complete(self) -> None:
            """Keep-alive: the next request's headers get a deadline of their own."""
            super().on_response_complete()
            if not self.transport.is_closing():
                self._disarm()
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            """Nothing left to time."""
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineH11


def receiver_config(
    app: Any,
    *,
    host: str,
    port: int,
    header_timeout: float = 10.0,
    limit_concurrency: int = 1000,
    **options: Any,
) -> Any:
    """A ``uvicorn.Config`` for the receiver (module docstring): a deadline on request headers,
    no proxy-header rewriting, connections capped (beyond ``limit_concurrency`` uvicorn answers
    503), 5 s keep-alive, 16 KiB of incomplete headers at most, 1 s graceful shutdown.

    Example:
        >>> # await uvicorn.Server(receiver_config(receiver, host="0.0.0.0", port=8900)).serve()
    """
    import uvicorn

    settings: dict[str, Any] = {
        "log_level": "warning",
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 16 * 1024,
        "limit_concurrency": limit_concurrency,
        # Ctrl-C: requests still running get a second; what they stored is committed, what they
        # did not answer the platform pushes again.
        "timeout_graceful_shutdown": 1,
    } | options
    return uvicorn.Config(
        app, host=host, port=port, http=_protocol(header_timeout), proxy_headers=False, **settings
    )
