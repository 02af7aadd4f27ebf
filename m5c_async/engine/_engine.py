"""SendEngine: campaigns through a bounded worker pool, and ``submit()`` for web apps.

Shape of a campaign::

    source --(producer: Intake: validate, de-duplicate, chunk)--> bounded queue --> N workers
                                                                              |
                                pacer.acquire(n) -> client -> Deliverer rules -> outcomes

The queue holds ``queue_size`` packets, so a slow platform pushes back on the source instead
of filling memory. Workers are ``concurrency`` tasks: never more requests in flight than the
profile allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Sequence,
)
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from .._exceptions import InvalidParameterError, UnexpectedError
from ..client import AsyncClient, SendReceipt
from ..protocol import PROFILES, check_content
from ._delivery import Deliverer
from ._guard import Guard
from ._hooks import HookSet
from ._intake import Intake
from ._model import (
    Campaign,
    CampaignResult,
    EngineConfig,
    EngineStats,
    Hooks,
    LoggingHooks,
    OutcomeKind,
    Packet,
    PacketOutcome,
    RunInfo,
    RunKind,
)
from ._pacer import LocalPacer, Pacer
from ._pipeline import Budget, CampaignRun, PacketQueue
from ._producers import Emit, produce_campaign, produce_packets
from ._service import SubmitService
from ._state import RunState

__all__ = ["CampaignRun", "SendEngine"]

log = logging.getLogger("m5c_async.engine")
_REJECT_BATCH = 1000


class SendEngine:
    """Paced, bounded, failover-aware sending at the platform's caps.

    Example:
        >>> async def campaign(client: AsyncClient) -> None:
        ...     engine = SendEngine(client, EngineConfig(profile="notification"))
        ...     result = await engine.run_campaign(
        ...         Campaign(numbers=Path("numbers.txt"), content="通知【示例】"))
        ...     print(result.accepted, result.pending)

    In a web app, start it in the lifespan and await ``submit``::

        async with SendEngine(client) as engine:
            receipt = await engine.submit("13800138000", "验证码：1234【示例】")
    """

    def __init__(
        self,
        client: AsyncClient,
        config: EngineConfig | None = None,
        *,
        pacer: Pacer | None = None,
        hooks: Sequence[Hooks] | None = None,
        guard: Guard | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.client = client
        self.config = config or EngineConfig()
        profile = PROFILES[self.config.profile]
        self.rate = self.config.rate or profile.rate
        self.concurrency = self.config.concurrency or profile.concurrency
        self.packet_size = self.config.packet_size or profile.packet_size
        self.pacer = pacer or LocalPacer(
            self.rate,
            margin=self.config.margin,
            tolerance=self.config.tolerance,
            clock=clock,
            sleep=sleep,
        )
        self.hooks: list[Hooks] = list(hooks) if hooks is not None else [LoggingHooks()]
        self._hooks = HookSet(self.hooks)
        self.guard = guard
        self.clock = clock
        self.deliverer = Deliverer(
            client, self.config, self.pacer, self._hooks, clock=clock, sleep=sleep
        )
        self._latest = RunState(name="none", stats=EngineStats(pacing_rate=self.pacer.rate))
        self._runs: set[RunState] = set()
        self._packet_ids = 0
        self._budget = Budget(self.config.max_pending_messages)
        self._service: SubmitService | None = None

    @property
    def stats(self) -> EngineStats:
        """The live counters of the latest run started: the campaign (or ``run_packets`` call)
        in progress or last finished, or the ``submit()`` service when it started last.

        Each run has its own counters: two campaigns in a row never mix their totals, and a
        campaign's counters never include ``submit()`` traffic beside it.
        """
        return self._latest.stats

    def _start_run(self, name: str, kind: RunKind, **state: Any) -> RunState:
        info = RunInfo(name=name, kind=kind, profile=self.config.profile.value, engine=self)
        run = RunState(
            name=name,
            stats=EngineStats(pacing_rate=self.pacer.rate, started=self.clock()),
            pacer_failures_before=self.pacer.failures,
            info=info,
            stop_grace=self.config.stop_grace,
            **state,
        )
        self._runs.add(run)
        self._latest = run
        if self._hooks.run_start:
            self._hooks.run_start(info)
        return run

    def _end_run(self, run: RunState) -> CampaignResult:
        """Forget a run and tell the hooks its totals."""
        self._runs.discard(run)
        result = run.result(self.clock(), self.pacer.failures)
        if self._hooks.run_end and run.info is not None:
            self._hooks.run_end(run.info, result)
        return result

    @property
    def backlog(self) -> int:
        """Messages admitted and not finished: queued for the workers or in flight."""
        return self._budget.used

    @property
    def in_flight(self) -> int:
        """Requests in flight across the runs in progress."""
        return sum(run.stats.in_flight for run in self._runs)

    # --- campaigns ------------------------------------------------------------------------

    async def run_campaign(self, campaign: Campaign) -> CampaignResult:
        """Send a whole campaign; outcomes go to the hooks. Returns the totals."""
        if campaign.content is not None:
            check_content(campaign.content, self.client.encoding)
        run = CampaignRun(outcomes=None)
        await self._campaign(campaign, None, run)
        assert run.result is not None
        return run.result

    async def run_packets(
        self,
        packets: AsyncIterable[Packet],
        *,
        before_send: Callable[[Packet], Awaitable[None]] | None = None,
        name: str = "packets",
        at: datetime | None = None,
        ext: str | None = None,
    ) -> CampaignResult:
        """Send packets prepared elsewhere (the journal), awaiting ``before_send`` for each.

        The packets' numbers must already be normalised and de-duplicated. ``at`` and ``ext``
        apply to these packets only.
        """
        state = self._start_run(name, RunKind.PACKETS, at=at, ext=ext, before_send=before_send)

        async def produce(queue: PacketQueue, emit: Emit) -> None:
            await produce_packets(packets, queue, emit, state, self._admit)

        run = CampaignRun(outcomes=None)
        await self._pipeline(produce, None, run, state)
        assert run.result is not None
        return run.result

    @asynccontextmanager
    async def open_campaign(
        self, campaign: Campaign, *, buffer: int = 1024
    ) -> AsyncIterator[CampaignRun]:
        """Run a campaign while the caller iterates its outcomes.

        Example:
            >>> # async with engine.open_campaign(c) as run:
            >>> #     async for outcome in run.outcomes: ...
            >>> #     print(run.result)

        Iterate ``run.outcomes`` to the end: it is bounded, so an idle reader slows the engine.
        """
        if campaign.content is not None:
            check_content(campaign.content, self.client.encoding)
        send, receive = anyio.create_memory_object_stream[PacketOutcome](buffer)
        run = CampaignRun(outcomes=receive)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._campaign, campaign, send, run)
            try:
                yield run
            finally:
                receive.close()

    async def _campaign(
        self,
        campaign: Campaign,
        outcomes: MemoryObjectSendStream[PacketOutcome] | None,
        run: CampaignRun,
    ) -> None:
        state = self._start_run(campaign.name, RunKind.CAMPAIGN, at=campaign.at, ext=campaign.ext)

        intake = Intake(
            encoding=self.client.encoding,
            dedupe=self.config.dedupe,
            packet_size=self.packet_size,
            batch_size=self.config.batch_size,
            reject_batch=_REJECT_BATCH,
        )

        async def produce(queue: PacketQueue, emit: Emit) -> None:
            await produce_campaign(intake, campaign, queue, emit, state, self._admit, self._next_id)

        await self._pipeline(produce, outcomes, run, state)

    async def _pipeline(
        self,
        produce: Callable[
            [PacketQueue, Callable[[PacketOutcome], Awaitable[None]]],
            Coroutine[Any, Any, None],
        ],
        outcomes: MemoryObjectSendStream[PacketOutcome] | None,
        run: CampaignRun,
        state: RunState,
    ) -> None:
        stats = state.stats
        log.info("campaign %s started at %.0f msg/s", state.name, self.pacer.rate)
        on_outcome = self._hooks.outcome

        async def emit(outcome: PacketOutcome) -> None:
            if on_outcome is not None:
                on_outcome(outcome)
            if outcomes is not None:
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await outcomes.send(outcome)

        queue = PacketQueue(self.config.queue_size, self.concurrency)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(produce, queue, emit)
                self._start_workers(tg, queue, emit, state)
        finally:
            run.result = self._end_run(state)
            log.info(
                "campaign %s ended: %d accepted, %d pending, %d failed",
                state.name,
                stats.accepted,
                stats.pending,
                stats.failed,
            )
            if outcomes is not None:
                outcomes.close()

    def _start_workers(
        self,
        tg: anyio.abc.TaskGroup,
        queue: PacketQueue,
        emit: Callable[[PacketOutcome], Awaitable[None]],
        state: RunState,
    ) -> None:
        """``concurrency`` workers in ``tg``, and a watch: once ``tg`` is cancelled (Ctrl-C, a
        failing task), what the workers have on the wire is cut after ``stop_grace``
        (``RunState.interrupt``), so a stop never waits out a hung platform's timeouts."""
        live = self.concurrency
        finished = anyio.Event()

        async def worker() -> None:
            nonlocal live
            try:
                await self._work(queue, emit, state)
            finally:
                live -= 1
                if not live:
                    finished.set()

        async def watch() -> None:
            try:
                await finished.wait()
            except anyio.get_cancelled_exc_class():
                state.interrupt()
                raise

        for _ in range(self.concurrency):
            tg.start_soon(worker)
        tg.start_soon(watch)

    async def _work(
        self,
        queue: PacketQueue,
        emit: Callable[[PacketOutcome], Awaitable[None]],
        state: RunState,
    ) -> None:
        async for packet in queue:
            try:
                await self.deliverer.deliver(packet, state, emit)
            except Exception as exc:  # the last net: a worker never dies
                # deliver() gives every failure an outcome; reaching here is a bug, and the
                # packet's fate is unknown, so it is ambiguous (never resent blindly).
                log.error(
                    "packet %d: delivery failed unexpectedly (%s)", packet.id, type(exc).__name__
                )
                state.stats.ambiguous += len(packet)
                await emit(
                    PacketOutcome(
                        kind=OutcomeKind.AMBIGUOUS,
                        packet_id=packet.id,
                        numbers=packet.numbers,
                        error=UnexpectedError.wrap(exc, may_have_left=True),
                    )
                )
            finally:
                self._budget.release(len(packet))
                # An idle worker must not keep its last packet alive: with hundreds of
                # workers and 10,000-number packets that pinned ~0.7 MB each.
                del packet

    def _next_id(self) -> int:
        self._packet_ids += 1
        return self._packet_ids

    async def _admit(self, queue: PacketQueue, packet: Packet, state: RunState) -> None:
        """Let a packet into the pipeline: within the message budget, counted, queued."""
        await self._budget.acquire(len(packet))
        state.stats.submitted += len(packet)
        if self._hooks.admit and state.info is not None:
            self._hooks.admit(packet, state.info)
        await queue.send(packet)

    def stop(self) -> None:
        """Stop the runs in progress (campaigns and the ``submit()`` service): they take no new
        work, their queued packets become PENDING, in-flight requests finish.

        Runs started afterwards are not affected: a stop is never sticky across runs.
        """
        for state in list(self._runs):
            state.stop()

    # --- the long-lived engine of a web app -----------------------------------------------

    async def __aenter__(self) -> Self:
        self._service = SubmitService(self)
        await self._service.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._service is not None
        await self._service.close(exc_type, exc, tb)

    async def submit(self, mobile: str, content: str) -> SendReceipt:
        """Send one message from a request handler; returns when the platform answered.

        Same-content submissions within ``linger`` seconds share one packet.

        Raises:
            InvalidRequestError: a bad number or content.
            FrequencyLimitError: the per-number guard refused it.
            GuardFullError: the local guard's table is full of open windows.
            RedisUnavailableError, RedisAuthError: a ``RedisGuard`` could not check it (nothing
                sent).
            EngineStoppedError: the engine stopped (e.g. a fatal account error) before sending,
                or the service ended while this message waited.
            ProviderError: the platform refused the request for good.
            AmbiguousOutcomeError, UnexpectedError: the outcome could not be known.
        """
        if self._service is None or not self._service.running:
            raise InvalidParameterError("start the engine first: async with SendEngine(...)")
        return await self._service.submit(mobile, content)
