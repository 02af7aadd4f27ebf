"""Delivering one packet: pace, send, and act on the answer. Shared by campaigns and ``submit``.

Everything that belongs to one run (a campaign, a ``run_packets`` call, or the ``submit()``
service) lives in its ``RunState``: the scheduled time and extension number, the journal's
``before_send``, the stop flag and the statistics. Two runs on one engine never see each other's.

Rules, in the order they apply to a packet:

1. The run is stopping (a fatal account error, ``stop()``): the packet is ``PENDING``.
2. The journal marks the packet in flight; then the pacer's gate opens and books the
   messages as leaving now (a shared pacer also hands out a request slot), and the request is
   written at once (docs/engine.md, "Pacing"); a packet held at the gate more than
   ``_REMARK_AFTER`` s is marked again first, so its mark stays the time resume searches
   around (``protocol.CLOCK_SKEW``). Until the request is written nothing has left,
   so a packet whose wait there ends without a send is ``PENDING``, never left marked in
   flight: cancelled (Ctrl-C), or an error whose verdict is ``FATAL`` or ``SAFE`` from the
   journal or the pacer (a journal that cannot record the mark, a lease lost,
   ``RedisAuthError``, ``RedisUnavailableError``): the run stops with it. Any other error
   there is the packet's: ``FAILED``.
3. The answer is dispatched on the error's ``verdict`` (``_exceptions.py``), the library's one
   classification:

   - ``THROTTLED``: refused, so safe to resend; the pacer halves its rate and the packet goes
     again.
   - ``SAFE`` (no node could take it): back off and try again, until ``unavailable_timeout`` of
     continuous failure stops the run with that error (the packet stays ``PENDING``).
   - ``UNSAFE``: never resent blindly. An ``AmbiguousOutcomeError`` is reconciled against the
     platform's records (``_reconcile.py``): numbers found are ``ACCEPTED`` with their msgid, the
     others are resent. When the records cannot be read, or the failure carries no time window
     (an unexpected exception while sending), the packet is ``AMBIGUOUS``, left for a person or
     the journal's resume.
   - ``FATAL``: the run stops; this packet and every queued one are ``PENDING``.
   - ``POINTLESS``: the packet ``FAILED`` for good.

4. Any exception that is not an ``M5CError`` is wrapped in ``UnexpectedError`` (``UNSAFE`` when
   raised by the send, ``POINTLESS`` before it) and handled by the same rules: one packet's
   failure is that packet's outcome and never cancels the others.

The send itself and the recording of its outcome are shielded from cancellation, so a cancelled
campaign never leaves a request whose answer nobody read. A shield has an end: once the run is
cancelled, a request still in flight (or the record lookups settling an ambiguous one) gets
``EngineConfig.stop_grace`` seconds more; then it is cut, and its packet is ``AMBIGUOUS``
(``SendInterruptedError``), recorded as such, for a journal's resume to reconcile.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import anyio

from .._exceptions import (
    AmbiguousOutcomeError,
    M5CError,
    SendInterruptedError,
    UnexpectedError,
    Verdict,
)
from ..client import AsyncClient, SendReceipt
from ..protocol import BatchItem, EndpointName
from ._hooks import HookSet
from ._model import (
    EngineConfig,
    OutcomeKind,
    Packet,
    PacketOutcome,
    ReconcileEvent,
    RequestEnd,
)
from ._pacer import Pacer
from ._reconcile import reconcile
from ._state import BACKOFF, DONE, THROTTLED, Backoff, Done, Resend, RunState, Step

__all__ = ["Deliverer"]

log = logging.getLogger("m5c_async.engine")
Emit = Callable[[PacketOutcome], Awaitable[None]]
#: Seconds a cancelled packet's PENDING outcome may take to be recorded.
_RECORD_DEADLINE = 1.0
#: Seconds at the gate after which a packet is marked in flight again before it leaves: well
#: inside the window a resume searches around a mark (``protocol.CLOCK_SKEW``).
_REMARK_AFTER = 5.0


async def _give_back(slot: AsyncExitStack | None) -> None:
    if slot is not None:
        await slot.aclose()


class Deliverer:
    """Turns packets into outcomes through the client, the pacer and the rules above."""

    def __init__(
        self,
        client: AsyncClient,
        config: EngineConfig,
        pacer: Pacer,
        hooks: HookSet,
        *,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.client = client
        self.config = config
        self.pacer = pacer
        self.hooks = hooks
        self.clock = clock
        self.sleep = sleep
        self.node: str | None = None

    async def deliver(self, packet: Packet, run: RunState, emit: Emit) -> None:
        """Carry one packet to its outcome(s)."""
        attempts = 0
        backoff = 0.1
        while True:
            if run.stopping:
                await self._emit_pending(packet, run, emit, attempts)
                return
            attempts += 1
            slot = AsyncExitStack() if self.pacer.shared else None
            try:
                if run.before_send is not None:
                    # Marked before the gate, so the gate's booking is the moment the request
                    # is written: time spent journaling never bunches requests on the wire.
                    with anyio.CancelScope(shield=True):
                        await run.before_send(packet)
                    marked = self.clock()
                # Waiting at the gate (and for a shared slot, taken with the booking) can be
                # cancelled (Ctrl-C during a Redis outage): nothing has left yet.
                if slot is not None:
                    await slot.enter_async_context(self.pacer.admit(len(packet)))
                else:
                    await self.pacer.acquire(len(packet))
                if run.before_send is not None and self.clock() - marked > _REMARK_AFTER:
                    # Held at the gate long after its mark (big packets queued at the cap, an
                    # outage waited through): marked again, so the mark's time, where a
                    # resume looks for the request's records, is the moment it leaves.
                    with anyio.CancelScope(shield=True):
                        await run.before_send(packet)
            except anyio.get_cancelled_exc_class():
                # Cancelled before the request left: the packet is PENDING (the journal puts
                # its in-flight mark back), recorded within a bounded, shielded moment.
                with anyio.move_on_after(_RECORD_DEADLINE, shield=True):
                    await _give_back(slot)
                    await self._emit_pending(packet, run, emit, attempts)
                raise
            except M5CError as exc:
                await _give_back(slot)
                if exc.verdict is Verdict.FATAL or exc.verdict is Verdict.SAFE:
                    # The pacer's store (or the journal) failed, not this packet: nothing
                    # left, so the run stops and the packet stays PENDING (rule 2).
                    run.stop(exc)
                    await self._emit_pending(packet, run, emit, attempts, exc)
                else:
                    log.error("packet %d not sent: %s", packet.id, exc.message)
                    await self._emit_end(packet, run, emit, attempts, OutcomeKind.FAILED, exc)
                return
            except Exception as exc:  # any failure is this packet's outcome
                await _give_back(slot)
                err = UnexpectedError.wrap(exc, may_have_left=False)
                log.error("packet %d not sent: %s", packet.id, err.message)
                await self._emit_end(packet, run, emit, attempts, OutcomeKind.FAILED, err)
                return
            if run.stopping:
                await _give_back(slot)
                await self._emit_pending(packet, run, emit, attempts)
                return
            with anyio.CancelScope(shield=True):
                step = await self._attempt(packet, run, emit, attempts, slot)
            if isinstance(step, Done):
                return
            if isinstance(step, Resend):
                packet = step.packet
            elif isinstance(step, Backoff):
                await self.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _attempt(
        self,
        packet: Packet,
        run: RunState,
        emit: Emit,
        attempts: int,
        slot: AsyncExitStack | None,
    ) -> Step:
        """One request, and what its answer means for the packet; ``slot`` (the shared pacer's
        request slot, when taken) is given back as soon as the answer is in."""
        stats = run.stats
        stats.requests += 1
        stats.in_flight += 1
        hooks = self.hooks
        if hooks.request_start:
            hooks.request_start(packet, attempts)
        began = self.clock() if hooks.request_end else 0.0
        try:
            try:
                with run.on_the_wire() as wire:
                    receipt = await self._send(packet, run)
                if wire.cancelled_caught:
                    raise SendInterruptedError(
                        f"stopped with packet {packet.id} in flight for over"
                        f" {run.stop_grace:g} s: its outcome is unknown"
                    )
            finally:
                await _give_back(slot)
        except M5CError as exc:
            err = exc
        except Exception as exc:  # any failure is this packet's outcome
            # Logged by class only: an arbitrary exception's text could quote a URL with the
            # credentials of a GET. The original stays chained as the error's __cause__.
            err = UnexpectedError.wrap(exc, may_have_left=True)
            log.error("packet %d: %s", packet.id, err.message)
        except BaseException:
            stats.in_flight -= 1
            raise
        else:
            # Accepted: inline, the hot path (no extra coroutine a request).
            stats.in_flight -= 1
            run.unavailable_since = None
            pacer = self.pacer
            pacer.succeeded()
            rate = pacer.rate
            if rate != stats.pacing_rate:
                stats.pacing_rate = rate
                if hooks.rate_change:
                    hooks.rate_change(rate)
            node = receipt.node
            if node != self.node:
                previous, self.node = self.node, node
                if hooks.node_change:
                    hooks.node_change(previous, node)
            if hooks.request_end:
                hooks.request_end(self._event(packet, attempts, None, receipt, began))
            stats.record_accepted(self.clock(), len(packet), node)
            await emit(
                PacketOutcome(
                    kind=OutcomeKind.ACCEPTED,
                    packet_id=packet.id,
                    numbers=packet.numbers,
                    msgid=receipt.msgid,
                    node=node,
                    attempts=attempts,
                    sent_at=receipt.sent_at,
                )
            )
            return DONE
        stats.in_flight -= 1
        if hooks.request_end:
            hooks.request_end(self._event(packet, attempts, err.verdict, err, began))
        return await self._failed(packet, run, emit, attempts, err)

    async def _failed(
        self, packet: Packet, run: RunState, emit: Emit, attempts: int, err: M5CError
    ) -> Step:
        """Dispatch on the error's verdict: the one classification of failures."""
        verdict = err.verdict
        if verdict is Verdict.THROTTLED:
            stats = run.stats
            stats.throttled += 1
            stats.retried += len(packet)
            self.pacer.throttled()
            stats.pacing_rate = rate = self.pacer.rate
            if self.hooks.throttle:
                self.hooks.throttle(rate)
            if self.hooks.rate_change:
                self.hooks.rate_change(rate)
            return THROTTLED
        if verdict is Verdict.UNSAFE:
            if isinstance(err, AmbiguousOutcomeError):
                return await self._reconcile(packet, run, err, emit, attempts)
            await self._emit_end(packet, run, emit, attempts, OutcomeKind.AMBIGUOUS, err)
            return DONE
        if verdict is Verdict.SAFE:
            return await self._unavailable(packet, run, err, emit, attempts)
        if verdict is Verdict.FATAL:
            run.stop(err)
            await self._emit_pending(packet, run, emit, attempts, err)
            return DONE
        await self._emit_end(packet, run, emit, attempts, OutcomeKind.FAILED, err)
        return DONE

    async def _send(self, packet: Packet, run: RunState) -> SendReceipt:
        if packet.shared:
            return await self.client.send_prepared(
                packet.numbers,
                packet.contents[0],
                at=run.at,
                ext=run.ext,
                format=self.config.format,
            )
        items = [
            BatchItem(mobiles=(n,), content=c, at=run.at)
            for n, c in zip(packet.numbers, packet.contents, strict=True)
        ]
        return await self.client.send_batch(items)

    def _event(
        self,
        packet: Packet,
        attempts: int,
        verdict: Verdict | None,
        answer: SendReceipt | M5CError,
        began: float,
    ) -> RequestEnd:
        return RequestEnd(
            packet_id=packet.id,
            attempt=attempts,
            size=len(packet),
            endpoint=EndpointName.SEND.value if packet.shared else EndpointName.SEND_BATCH.value,
            node=getattr(answer, "node", None) or None,
            verdict=verdict,
            latency=self.clock() - began,
            msgid=answer.msgid if isinstance(answer, SendReceipt) else None,
            error=None if isinstance(answer, SendReceipt) else type(answer).__name__,
        )

    async def _unavailable(
        self, packet: Packet, run: RunState, err: M5CError, emit: Emit, attempts: int
    ) -> Step:
        now = self.clock()
        if run.unavailable_since is None:
            run.unavailable_since = now
        if now - run.unavailable_since >= self.config.unavailable_timeout:
            run.stop(err)
            await self._emit_pending(packet, run, emit, attempts, err)
            return DONE
        run.stats.retried += len(packet)
        return BACKOFF

    async def _reconcile(
        self,
        packet: Packet,
        run: RunState,
        err: AmbiguousOutcomeError,
        emit: Emit,
        attempts: int,
    ) -> Step:
        """Look the packet up in the platform's records; resend only what is not there."""
        stats = run.stats
        matches = None
        with run.on_the_wire():  # cut short when the run is interrupted: left AMBIGUOUS
            matches = await reconcile(
                self.client,
                packet,
                err,
                tries=self.config.reconcile_attempts,
                grace=self.config.reconcile_grace,
                sleep=self.sleep,
                clock=self.clock,
            )
        if self.hooks.reconcile:
            self.hooks.reconcile(
                ReconcileEvent(
                    packet_id=packet.id,
                    node=err.node,
                    messages=len(packet),
                    found=len(matches.found) if matches is not None else 0,
                    repeated=matches.repeated if matches is not None else 0,
                    read=matches is not None,
                )
            )
        if matches is None:
            await self._emit_end(packet, run, emit, attempts, OutcomeKind.AMBIGUOUS, err)
            return DONE
        by_msgid: dict[str, list[str]] = {}
        for (number, _), msgid in matches.found.items():
            by_msgid.setdefault(msgid, []).append(number)
        for msgid, numbers in by_msgid.items():
            stats.reconciled += len(numbers)
            stats.record_accepted(self.clock(), len(numbers), err.node)
            await emit(
                PacketOutcome(
                    kind=OutcomeKind.ACCEPTED,
                    packet_id=packet.id,
                    numbers=tuple(numbers),
                    msgid=msgid,
                    node=err.node,
                    attempts=attempts,
                    reconciled=True,
                    sent_at=err.started_at,
                )
            )
        missing = [(n, c) for n, c in packet.pairs() if (n, c) not in matches.found]
        if not missing:
            return DONE
        stats.retried += len(missing)
        log.info("reconciled packet %d: %d numbers not found, resending", packet.id, len(missing))
        left = tuple(n for n, _ in missing)
        if packet.shared:
            return Resend(Packet(packet.id, left, packet.contents))
        return Resend(Packet(packet.id, left, tuple(c for _, c in missing)))

    async def _emit_end(
        self,
        packet: Packet,
        run: RunState,
        emit: Emit,
        attempts: int,
        kind: OutcomeKind,
        err: M5CError,
    ) -> None:
        if kind is OutcomeKind.AMBIGUOUS:
            run.stats.ambiguous += len(packet)
        else:
            run.stats.failed += len(packet)
        await emit(
            PacketOutcome(
                kind=kind,
                packet_id=packet.id,
                numbers=packet.numbers,
                node=getattr(err, "node", None) or None,
                error=err,
                attempts=attempts,
            )
        )

    async def _emit_pending(
        self,
        packet: Packet,
        run: RunState,
        emit: Emit,
        attempts: int,
        err: M5CError | None = None,
    ) -> None:
        run.stats.pending += len(packet)
        await emit(
            PacketOutcome(
                kind=OutcomeKind.PENDING,
                packet_id=packet.id,
                numbers=packet.numbers,
                error=err or run.stopped_by,
                attempts=attempts,
            )
        )
