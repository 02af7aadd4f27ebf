"""The long-lived engine of a web app: ``submit()`` and its own run.

``async with SendEngine(client) as engine`` starts one ``SubmitService``: a run of its own
(``RunState``: no scheduled time, no extension, its own stop flag and counters), ``concurrency``
workers on its own queue, and the waiters of the requests in progress. Same-content messages
submitted within ``linger`` seconds share one packet. Whatever ends the service, no caller waits
forever: each one still waiting gets ``EngineStoppedError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from .._exceptions import EngineStoppedError, M5CError
from ..client import SendReceipt
from ..protocol import check_content, normalize
from ._model import OutcomeKind, Packet, PacketOutcome, RunKind
from ._pipeline import PacketQueue
from ._state import RunState

if TYPE_CHECKING:
    from ._engine import SendEngine

__all__ = ["SubmitService"]


@dataclass(slots=True)
class _Waiter:
    event: anyio.Event = field(default_factory=anyio.Event)
    receipt: SendReceipt | None = None
    error: M5CError | None = None


class SubmitService:
    """``submit()`` for one ``async with`` block of a ``SendEngine``."""

    def __init__(self, engine: SendEngine) -> None:
        self.engine = engine
        self.run: RunState | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._queue: PacketQueue | None = None
        self._waiters: dict[int, dict[str, list[_Waiter]]] = {}
        self._lingering: dict[str, list[tuple[str, _Waiter]]] = {}

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``close()``."""
        return self._tg is not None

    async def start(self) -> None:
        """Start the run and its workers."""
        engine = self.engine
        self.run = run = engine._start_run("submit", RunKind.SUBMIT)
        self._tg = await anyio.create_task_group().__aenter__()
        self._queue = PacketQueue(engine.config.queue_size, engine.concurrency)
        engine._start_workers(self._tg, self._queue, self._resolve, run)

    async def close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Send what lingers, let the workers finish, release every waiter."""
        assert self._tg is not None
        assert self._queue is not None
        try:
            for content in list(self._lingering):
                await self._flush(content)
            await self._queue.aclose()
        except BaseException as failure:
            # Cancelled (Ctrl-C) or failed while handing the lingering messages to a full
            # queue: the group ends with it, cancelled, so what is on the wire is cut after
            # stop_grace; never awaited as a normal close, whose workers would go on sending
            # and then wait for ever on a queue nobody closed.
            exc_type, exc, tb = type(failure), failure, failure.__traceback__
            raise
        finally:
            tg, self._tg = self._tg, None
            try:
                await tg.__aexit__(exc_type, exc, tb)
            finally:
                self._release_waiters()

    def _release_waiters(self) -> None:
        run = self.run
        if run is not None:
            run.stop()
            if run in self.engine._runs:
                self.engine._end_run(run)
        cause = run.stopped_by if run is not None else None
        waiting = [w for by in self._waiters.values() for ws in by.values() for w in ws]
        waiting += [w for pending in self._lingering.values() for _, w in pending]
        self._waiters.clear()
        self._lingering.clear()
        for waiter in waiting:
            if not waiter.event.is_set():
                waiter.error = EngineStoppedError(cause)
                waiter.event.set()

    async def submit(self, mobile: str, content: str) -> SendReceipt:
        """See ``SendEngine.submit``."""
        run = self.run
        assert run is not None
        assert self._tg is not None
        if run.stopping:
            raise EngineStoppedError(run.stopped_by)
        engine = self.engine
        number = normalize(mobile)
        check_content(content, engine.client.encoding)
        if engine.guard is not None:
            await engine.guard.acheck(number)
        waiter = _Waiter()
        pending = self._lingering.setdefault(content, [])
        pending.append((number, waiter))
        if len(pending) >= engine.packet_size and len({n for n, _ in pending}) >= (
            engine.packet_size
        ):
            # Full (a packet size of one is full at once): no packet above the size.
            await self._flush(content)
        elif len(pending) == 1:
            self._tg.start_soon(self._linger, content)
        await waiter.event.wait()
        if waiter.error is not None:
            raise waiter.error
        assert waiter.receipt is not None
        return waiter.receipt

    async def _linger(self, content: str) -> None:
        await anyio.sleep(self.engine.config.linger)
        await self._flush(content)

    async def _flush(self, content: str) -> None:
        pending = self._lingering.pop(content, None)
        if not pending or self._queue is None or self.run is None:
            return
        by_number: dict[str, list[_Waiter]] = {}
        for number, waiter in pending:
            by_number.setdefault(number, []).append(waiter)
        packet = Packet(self.engine._next_id(), tuple(by_number), (content,))
        self._waiters[packet.id] = by_number
        await self.engine._admit(self._queue, packet, self.run)

    async def _resolve(self, outcome: PacketOutcome) -> None:
        on_outcome = self.engine._hooks.outcome
        if on_outcome is not None:
            on_outcome(outcome)
        waiters = self._waiters.get(outcome.packet_id)
        if waiters is None:
            return
        for number in outcome.numbers:
            for waiter in waiters.pop(number, ()):
                if outcome.kind is OutcomeKind.ACCEPTED and outcome.msgid is not None:
                    waiter.receipt = SendReceipt(
                        msgid=outcome.msgid,
                        accepted=(number,),
                        rejected=(),
                        node=outcome.node or "",
                        format=self.engine.config.format,
                        sent_at=outcome.sent_at if outcome.sent_at is not None else time.time(),
                    )
                elif outcome.kind is OutcomeKind.PENDING:
                    waiter.error = EngineStoppedError(outcome.error)
                else:
                    waiter.error = outcome.error or EngineStoppedError(None)
                waiter.event.set()
        if not waiters:
            del self._waiters[outcome.packet_id]
