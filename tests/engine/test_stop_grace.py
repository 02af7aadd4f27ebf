"""A stop never waits out a hung platform: once a run is cancelled, a request still in flight
(or the record lookups settling an ambiguous one) gets ``EngineConfig.stop_grace`` seconds,
then is cut and its packet is ``AMBIGUOUS`` with ``SendInterruptedError`` (never resent, never
lost); without a stop, the same request waits for its answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from m5c_async import (
    AsyncClient,
    EngineStoppedError,
    InvalidParameterError,
    SendInterruptedError,
    Timeouts,
)
from m5c_async.engine import Campaign, EngineConfig, Hooks, OutcomeKind, PacketOutcome, SendEngine
from tests.conftest import APIKEY, PASSWORD

USERNAME = "stopgrace"

#: Beyond any stop this test allows, so a stop that waited for the answer shows; short enough
#: that such a regression fails the test (its shield outlives ``fail_after``) within a minute.
READ_TIMEOUT = 15.0


@dataclass
class _Hung:
    """A node that reads each request and holds it without a byte until ``release`` is set,
    then answers ``success``."""

    url: str = ""
    requests: int = 0
    arrived: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)


@contextlib.asynccontextmanager
async def hung_node() -> AsyncIterator[_Hung]:
    node = _Hung()

    async def handle(stream: SocketStream) -> None:
        async with stream:
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                data = b""
                while b"\r\n\r\n" not in data:
                    data += await stream.receive()
                node.requests += 1
                node.arrived.set()
                await node.release.wait()
                body = b"success:1"
                await stream.send(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await stream.receive()  # until the client closes

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    node.url = f"http://127.0.0.1:{listener.extra(SocketAttribute.local_port)}"
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield node
        finally:
            tg.cancel_scope.cancel()


class _Outcomes(Hooks):
    def __init__(self) -> None:
        self.seen: list[PacketOutcome] = []

    def on_outcome(self, outcome: PacketOutcome) -> None:
        self.seen.append(outcome)


def _client_of(node: _Hung) -> AsyncClient:
    """A client of ``node`` alone, reading answers for up to ``READ_TIMEOUT``."""
    return AsyncClient(
        username=USERNAME,
        password=PASSWORD,
        apikey=APIKEY,
        nodes=[node.url],
        timeouts=Timeouts(read=READ_TIMEOUT),
    )


@contextlib.asynccontextmanager
async def _engine_on_hung_node(
    **config: float,
) -> AsyncIterator[tuple[_Hung, SendEngine, _Outcomes]]:
    """A hung node, a client of it (read timeout ``READ_TIMEOUT``) and an engine recording its
    outcomes, with ``config`` on top of single-number packets."""
    outcomes = _Outcomes()
    async with (
        hung_node() as node,
        _client_of(node) as client,
    ):
        engine_config = EngineConfig(packet_size=1, concurrency=2, **config)  # type: ignore[arg-type]
        yield node, SendEngine(client, engine_config, hooks=[outcomes]), outcomes


async def test_a_cancelled_run_cuts_a_hung_send_after_stop_grace() -> None:
    async with _engine_on_hung_node(stop_grace=0.2, reconcile_attempts=1) as (node, engine, out):
        campaign = Campaign(numbers=["13800000001"], content="hung【x】")
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(engine.run_campaign, campaign)
                await node.arrived.wait()
                cancelled_at = anyio.current_time()
                tg.cancel_scope.cancel()
            took = anyio.current_time() - cancelled_at
        assert node.requests == 1
    assert took < 10  # the read timeout is 15 s, and lookups would follow
    assert [o.kind for o in out.seen] == [OutcomeKind.AMBIGUOUS]
    assert isinstance(out.seen[0].error, SendInterruptedError)
    assert out.seen[0].numbers == ("13800000001",)


async def test_without_a_stop_the_send_waits_for_its_answer() -> None:
    """The grace only starts at a stop: a slow answer is still read and accepted."""
    async with _engine_on_hung_node(stop_grace=0.01) as (node, engine, out):
        campaign = Campaign(numbers=["13800000001"], content="slow【x】")
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(engine.run_campaign, campaign)
                await node.arrived.wait()
                # The answer comes ten graces after the request: were the grace applied
                # without a stop, the send would have been cut (a deliberate delay, not a wait
                # for a condition; slower is still correct).
                await anyio.sleep(0.1)
                node.release.set()
    assert [o.kind for o in out.seen] == [OutcomeKind.ACCEPTED]


async def test_ctrl_c_while_the_service_closes_into_a_full_queue_stops_within_the_grace() -> None:
    """Ctrl-C (one native cancel of the task, as ``asyncio.run`` delivers it) while closing the
    ``submit()`` service still hands lingering messages to a queue the hung platform keeps full:
    the service ends cancelled, the request in flight is cut after ``stop_grace``, nothing more
    is sent, and every caller gets a named error. (It used to close as if not cancelled: the
    workers sent the queued packet once the hung one timed out, then waited for ever.)"""
    async with (
        hung_node() as node,
        _client_of(node) as client,
    ):
        engine = SendEngine(
            client,
            EngineConfig(packet_size=50, concurrency=1, queue_size=1, linger=60, stop_grace=0.2),
            hooks=[],
        )
        errors: list[BaseException] = []
        entered = anyio.Event()
        leave = anyio.Event()

        async def submit(content: str) -> None:
            try:
                await engine.submit("13800000001", content)
            except Exception as exc:  # what this test checks
                errors.append(exc)

        async def owner() -> None:
            async with engine:
                entered.set()
                await leave.wait()

        task = asyncio.get_running_loop().create_task(owner())
        try:
            with anyio.fail_after(30):
                await entered.wait()
                async with anyio.create_task_group() as callers:
                    for k in range(3):  # three contents: three packets, lingering until close
                        callers.start_soon(submit, f"c{k}【x】")
                    service = engine._service
                    assert service is not None
                    while len(service._lingering) < 3:
                        await anyio.sleep(0.01)
                    leave.set()
                    # Closing: the first packet hangs on the wire, the second fills the queue,
                    # the third waits for room.
                    await node.arrived.wait()
                    queue = service._queue
                    assert queue is not None
                    while service._lingering or not queue._queue.full():
                        await anyio.sleep(0.01)
                    cancelled_at = anyio.current_time()
                    task.cancel()
                    done, _ = await asyncio.wait({task}, timeout=READ_TIMEOUT / 3)
                    took = anyio.current_time() - cancelled_at
                    if not done:  # the regression: its callers would wait as long as it does
                        callers.cancel_scope.cancel()
            assert done, "the service did not end once cancelled"
            assert took < READ_TIMEOUT / 3
            assert node.requests == 1
            assert sorted(type(e).__name__ for e in errors) == [
                "EngineStoppedError",
                "EngineStoppedError",
                "SendInterruptedError",
            ]
            assert all(isinstance(e, EngineStoppedError | SendInterruptedError) for e in errors)
        finally:
            if not task.done():  # the regression: end it (a second cancel) before the node goes
                node.release.set()
                task.cancel()
                await asyncio.wait({task}, timeout=READ_TIMEOUT * 2)


@pytest.mark.parametrize("grace", [-1, 61])
def test_stop_grace_out_of_range_is_a_named_error(grace: float) -> None:
    with pytest.raises(InvalidParameterError, match="stop_grace"):
        EngineConfig(stop_grace=grace)
