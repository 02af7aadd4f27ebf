"""Reading the platform's records for an ambiguous packet: the I/O around the pure rule.

The rule (the window, the match) is ``protocol/_reconcile.py``; this loop reads ``action=record``
for the packet's window up to ``tries`` times, ``grace`` seconds apart, and stops as soon as every
message is found. The journal's resume uses the same rule over its own window of packets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from .._exceptions import AmbiguousOutcomeError, M5CError
from ..client import AsyncClient
from ..protocol import CLOCK_SKEW, Matches, match_records, record_window
from ._model import Packet

__all__ = ["reconcile"]

log = logging.getLogger("m5c_async.engine")


async def reconcile(
    client: AsyncClient,
    packet: Packet,
    err: AmbiguousOutcomeError,
    *,
    tries: int,
    grace: float,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> Matches | None:
    """Find the packet's messages in the records; None when the records could not be read.

    The query's end is capped at what the platform can already have recorded (the host's now,
    counted from the failure's wall time on the engine's clock, plus the clock skew), so no
    query asks about the future.
    """
    window = record_window(err.started_at, err.ended_at)
    wanted = packet.pairs()
    seen = clock()
    best: Matches | None = None
    for _ in range(tries):
        await sleep(grace)
        now = err.ended_at + (clock() - seen)
        last = max(window.first, min(window.last, math.ceil(now + CLOCK_SKEW)))
        try:
            records = await client.records(window.start, window.at(last))
        except M5CError as exc:
            log.warning("reconciliation query failed: %s", exc.message)
            continue
        except Exception as exc:  # a failed read is a read that did not happen
            log.warning("reconciliation query failed: unexpected %s", type(exc).__name__)
            continue
        best = match_records(wanted, records, window)
        if best.repeated:
            log.warning(
                "packet %d: %d messages recorded twice in the window (an earlier identical send)",
                packet.id,
                best.repeated,
            )
        if len(best.found) == len(wanted):
            break
    return best
