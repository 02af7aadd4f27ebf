"""The pipeline's plumbing: the bounded queue between producer and workers, the message budget,
and the handle of a running campaign."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from ._model import CampaignResult, Packet, PacketOutcome

__all__ = ["Budget", "CampaignRun", "PacketQueue"]


@dataclass(slots=True)
class CampaignRun:
    """A running campaign: iterate ``outcomes``; ``result`` is set when it ends."""

    outcomes: MemoryObjectReceiveStream[PacketOutcome] | None
    result: CampaignResult | None = None


class PacketQueue:
    """The bounded queue between the producer and the workers.

    An ``asyncio.Queue`` rather than an anyio memory stream: at thousands of packets a second
    the streams' checkpoints cost about a quarter of the engine's CPU. Closing it wakes every
    worker with a sentinel after the packets already queued.
    """

    def __init__(self, size: int, consumers: int) -> None:
        self._queue: asyncio.Queue[Packet | None] = asyncio.Queue(size)
        self._consumers = consumers
        self._closed = False

    async def send(self, packet: Packet) -> None:
        await self._queue.put(packet)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            for _ in range(self._consumers):
                await self._queue.put(None)

    async def __aenter__(self) -> PacketQueue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[Packet]:
        while True:
            packet = await self._queue.get()
            if packet is None:
                return
            yield packet
            del packet  # not kept alive while this consumer waits for the next one


class Budget:
    """Messages admitted into the pipeline (queued or in flight), so memory has a ceiling that
    does not depend on the campaign's size or the packet size. One producer waits on it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = anyio.Event()

    async def acquire(self, n: int) -> None:
        # A packet larger than the whole budget is still admitted once the pipeline is empty.
        while self.used and self.used + n > self.limit:
            await self._changed.wait()
        self.used += n

    def release(self, n: int) -> None:
        self.used -= n
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
