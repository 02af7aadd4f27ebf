"""Requests stamped when their first bytes are read, not when their handler runs.

The simulator counts a send's messages in one-second windows at the time it stamps the request.
Stamped in the handler, a request waits for the requests read before it to be handled (each
costs the event loop a fraction of a millisecond) and a burst of arrivals is stamped closer
together than it came: windows by stamp hold more than arrived in any second. A platform counts
by arrival; so does the simulator: uvicorn's httptools protocol is subclassed to stamp
``scope["m5c.arrival"]`` with the platform's clock when a request's first bytes are parsed, in
the same callback that reads them from the socket. What remains is the time the process waits
for a core before it reads (``_lag.py`` measures it).

Without httptools (uvicorn's pure-Python h11 protocol), requests are stamped in the handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

__all__ = ["ARRIVAL_KEY", "arrival_protocol"]

#: The scope key holding a request's arrival time on the platform's clock.
ARRIVAL_KEY: Final = "m5c.arrival"


def arrival_protocol(clock: Callable[[], float]) -> type[asyncio.Protocol] | str:
    """uvicorn's ``http`` setting: a protocol stamping arrivals with ``clock``, or ``"auto"``."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency of the client's framing
        return "auto"

    class ArrivalStamped(HttpToolsProtocol):
        """uvicorn's httptools protocol, stamping each request as its parsing begins."""

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope[ARRIVAL_KEY] = clock()  # type: ignore[typeddict-unknown-key]

    return ArrivalStamped
