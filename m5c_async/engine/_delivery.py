"""Delivering one packet: pace, send, and act on the answer. Shared by campaigns and ``submit``.

Rules, in the order they apply to a packet:

1. The engine is stopping (a fatal account error, ``stop()``): the packet is ``PENDING``.
2. The journal marks the packet in flight; then the pacer's gate opens and books the
   messages as leaving now, and the request is written at once (docs/engine.md, "Pacing").
3. ``ThrottledError``: refused, so safe to resend; the pacer halves its rate and the packet is
   sent again.
4. Every node failing to connect (safe): back off and try again, until ``unavailable_timeout``
   of continuous failure stops the engine with that error (the packet stays ``PENDING``).
5. ``AmbiguousOutcomeError``: never resent blindly. The records of the packet's time window are
   read on a healthy node; numbers found there are ``ACCEPTED`` (reconciled) with their msgid;
   the others are resent after the grace period. When the records cannot be read, the packet is
   ``AMBIGUOUS`` and left for a person or the journal's resume.
6. ``AccountError``: the engine stops; this packet and every queued one are ``PENDING``.
7. Other provider or request errors: the packet ``FAILED`` for good.

The send itself and the recording of its outcome are shielded from cancellation, so a cancelled
campaign never leaves a request whose answer nobody read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import anyio

from .._exceptions import (
    AccountError,
    AllNodesFailedError,
    AmbiguousOutcomeError,
    InvalidRequestError,
    M5CError,
    NodeUnavailableError,
    ProviderError,
    ThrottledError,
)
from ..client import AsyncClient, SendReceipt
from ..protocol import BatchItem
from ._model import EngineConfig, EngineStats, Hooks, OutcomeKind, Packet, PacketOutcome
from ._pacer import Pacer

__all__ = ["Deliverer"]

log = logging.getLogger("m5c_async.engine")
Emit = Callable[[PacketOutcome], Awaitable[None]]


class Deliverer:
    """Turns packets into outcomes through the client, the pacer and the rules above."""

    def __init__(
        self,
        client: AsyncClient,
        config: EngineConfig,
        pacer: Pacer,
        stats: EngineStats,
        hooks: Sequence[Hooks],
        *,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.client = client
        self.config = config
        self.pacer = pacer
        self.stats = stats
        self.hooks = hooks
        self.clock = clock
        self.sleep = sleep
        self.stopped_by: M5CError | None = None
        self.stopping = False
        self._unavailable_since: float | None = None
        self.at: datetime | None = None
        self.ext: str | None = None
        #: Awaited right before each request leaves (the journal marks the packet in flight).
        self.before_send: Callable[[Packet], Awaitable[None]] | None = None

    def stop(self, reason: M5CError | None = None) -> None:
        """Send nothing new; the first fatal reason is kept."""
        self.stopping = True
        if reason is not None and self.stopped_by is None:
            self.stopped_by = reason
            log.error("engine stopping: %s", reason.message)

    async def deliver(self, packet: Packet, emit: Emit) -> None:
        """Carry one packet to its outcome(s)."""
        attempts = 0
        backoff = 0.1
        while True:
            if self.stopping:
                await self._emit_pending(packet, emit, attempts)
                return
            attempts += 1
            if self.before_send is not None:
                # Marked before the gate, so the gate's booking is the moment the request
                # is written: time spent journaling never bunches requests on the wire.
                with anyio.CancelScope(shield=True):
                    await self.before_send(packet)
            await self.pacer.acquire(len(packet))
            if self.stopping:
                await self._emit_pending(packet, emit, attempts)
                return
            with anyio.CancelScope(shield=True):
                retry = await self._attempt(packet, emit, attempts)
            if retry is None:
                return
            if retry is _THROTTLED:
                continue
            if isinstance(retry, Packet):
                packet = retry
                continue
            await self.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _attempt(self, packet: Packet, emit: Emit, attempts: int) -> object:
        """One request; returns None when done, or what to do next."""
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        try:
            if self.pacer.shared:
                async with self.pacer.slot():
                    receipt = await self._send(packet)
            else:
                receipt = await self._send(packet)
        except ThrottledError:
            stats.throttled += 1
            stats.retried += len(packet)
            self.pacer.throttled()
            stats.pacing_rate = self.pacer.rate
            for hook in self.hooks:
                hook.on_throttle(self.pacer.rate)
            return _THROTTLED
        except AmbiguousOutcomeError as err:
            return await self._reconcile(packet, err, emit, attempts)
        except AccountError as err:
            self.stop(err)
            await self._emit_pending(packet, emit, attempts, err)
            return None
        except (AllNodesFailedError, NodeUnavailableError) as err:
            return await self._unavailable(packet, err, emit, attempts)
        except (ProviderError, InvalidRequestError) as err:
            stats.failed += len(packet)
            await emit(
                PacketOutcome(
                    kind=OutcomeKind.FAILED,
                    packet_id=packet.id,
                    numbers=packet.numbers,
                    error=err,
                    attempts=attempts,
                )
            )
            return None
        finally:
            stats.in_flight -= 1
        self._unavailable_since = None
        self.pacer.succeeded()
        stats.record_accepted(self.clock(), len(packet), receipt.node)
        await emit(
            PacketOutcome(
                kind=OutcomeKind.ACCEPTED,
                packet_id=packet.id,
                numbers=packet.numbers,
                msgid=receipt.msgid,
                node=receipt.node,
                attempts=attempts,
            )
        )
        return None

    async def _send(self, packet: Packet) -> SendReceipt:
        if packet.shared:
            return await self.client._send_normalized(
                packet.numbers,
                packet.contents[0],
                at=self.at,
                ext=self.ext,
                format=self.config.format,
            )
        items = [
            BatchItem(mobiles=(n,), content=c, at=self.at)
            for n, c in zip(packet.numbers, packet.contents, strict=True)
        ]
        return await self.client.send_batch(items)

    async def _unavailable(
        self, packet: Packet, err: M5CError, emit: Emit, attempts: int
    ) -> object:
        now = self.clock()
        if self._unavailable_since is None:
            self._unavailable_since = now
        if now - self._unavailable_since >= self.config.unavailable_timeout:
            self.stop(err)
            await self._emit_pending(packet, emit, attempts, err)
            return None
        self.stats.retried += len(packet)
        return _BACKOFF

    async def _reconcile(
        self, packet: Packet, err: AmbiguousOutcomeError, emit: Emit, attempts: int
    ) -> object:
        """Look the packet up in the platform's records; resend only what is not there."""
        stats = self.stats
        wanted = set(packet.pairs())
        found: dict[str, tuple[str, str]] = {}
        read_any = False
        start = datetime.fromtimestamp(err.started_at - 2, tz=UTC)
        for _ in range(self.config.reconcile_attempts):
            await self.sleep(self.config.reconcile_grace)
            end = datetime.fromtimestamp(max(err.ended_at, err.started_at) + 2, tz=UTC)
            try:
                records = await self.client.records(start, end)
            except M5CError as exc:
                log.warning("reconciliation query failed: %s", exc.message)
                continue
            read_any = True
            for record in records:
                for number in record.mobiles:
                    if (number, record.content) in wanted:
                        found[number] = (record.msgid, err.node)
            if len(found) == len(packet):
                break
        if not read_any:
            stats.ambiguous += len(packet)
            await emit(
                PacketOutcome(
                    kind=OutcomeKind.AMBIGUOUS,
                    packet_id=packet.id,
                    numbers=packet.numbers,
                    node=err.node,
                    error=err,
                    attempts=attempts,
                )
            )
            return None
        by_msgid: dict[str, list[str]] = {}
        for number, (msgid, _) in found.items():
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
                )
            )
        missing = [(n, c) for n, c in packet.pairs() if n not in found]
        if not missing:
            return None
        stats.retried += len(missing)
        log.info("reconciled packet %d: %d numbers not found, resending", packet.id, len(missing))
        if packet.shared:
            return Packet(packet.id, tuple(n for n, _ in missing), packet.contents)
        return Packet(packet.id, tuple(n for n, _ in missing), tuple(c for _, c in missing))

    async def _emit_pending(
        self, packet: Packet, emit: Emit, attempts: int, err: M5CError | None = None
    ) -> None:
        self.stats.pending += len(packet)
        await emit(
            PacketOutcome(
                kind=OutcomeKind.PENDING,
                packet_id=packet.id,
                numbers=packet.numbers,
                error=err or self.stopped_by,
                attempts=attempts,
            )
        )


_THROTTLED = object()
_BACKOFF = object()
