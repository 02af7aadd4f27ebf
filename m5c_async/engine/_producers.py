"""Producers: what fills a run's queue.

A campaign's source goes through the ``Intake`` (numbers judged, de-duplicated, batched); packets
prepared elsewhere (the journal's) go in as they are. Either way each packet is admitted by the
engine (message budget, counters, hooks), rejections are outcomes, and a stopping run takes
nothing more from its source.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from contextlib import aclosing

from ._intake import Intake
from ._model import Campaign, OutcomeKind, Packet, PacketOutcome
from ._pipeline import PacketQueue
from ._state import RunState

__all__ = ["Admit", "Emit", "produce_campaign", "produce_packets"]

#: Hands an outcome to the hooks and the run's reader.
Emit = Callable[[PacketOutcome], Awaitable[None]]
#: Lets a packet into the pipeline (``SendEngine._admit``).
Admit = Callable[[PacketQueue, Packet, RunState], Awaitable[None]]


async def produce_campaign(
    intake: Intake,
    campaign: Campaign,
    queue: PacketQueue,
    emit: Emit,
    state: RunState,
    admit: Admit,
    next_id: Callable[[], int],
) -> None:
    """Read ``campaign``'s source through ``intake`` into packets; close the queue at the end."""
    async with queue, aclosing(intake.batches(campaign)) as batches:
        async for batch in batches:
            if batch.rejected:
                state.stats.rejected += len(batch.rejected)
                await emit(
                    PacketOutcome(
                        kind=OutcomeKind.REJECTED,
                        packet_id=0,
                        numbers=(),
                        rejected=batch.rejected,
                    )
                )
            if state.stopping:
                break
            if batch.numbers:
                await admit(queue, Packet(next_id(), batch.numbers, batch.contents), state)


async def produce_packets(
    packets: AsyncIterable[Packet],
    queue: PacketQueue,
    emit: Emit,
    state: RunState,
    admit: Admit,
) -> None:
    """Admit packets prepared elsewhere; close the queue at the end."""
    async with queue:
        async for packet in packets:
            if state.stopping:
                # Taken from the source but never queued: it gets its outcome too.
                state.stats.pending += len(packet)
                await emit(
                    PacketOutcome(
                        kind=OutcomeKind.PENDING,
                        packet_id=packet.id,
                        numbers=packet.numbers,
                        error=state.stopped_by,
                        attempts=0,
                    )
                )
                break
            await admit(queue, packet, state)
