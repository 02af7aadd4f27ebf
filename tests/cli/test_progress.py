"""The one progress bar: its counts, its rate (the engine's RateMeter), and the task beside it."""

from __future__ import annotations

import io

import anyio
import anyio.lowlevel
import pytest
from rich.console import Console

from m5c_async import AsyncClient
from m5c_async.cli._progress import ProgressHooks, with_progress
from m5c_async.engine import OutcomeKind, PacketOutcome, RateMeter
from m5c_async.protocol import Rejected, RejectReason
from tests.conftest import FakeClock


def _accepted(n: int) -> PacketOutcome:
    return PacketOutcome(kind=OutcomeKind.ACCEPTED, packet_id=1, numbers=("13800138000",) * n)


@pytest.mark.parametrize(
    ("events", "now", "since", "expected"),
    [
        ([], 10.0, None, 0.0),
        ([(1.0, 50)], 1.0, 0.0, 50.0),  # one second in: 50 over 1 s
        ([(1.0, 50), (2.0, 50)], 2.0, 0.0, 50.0),
        ([(1.0, 500), (6.0, 100)], 6.0, 0.0, 20.0),  # (1, 6]: the event at 1.0 is out
        ([(1.0, 500), (5.9, 100)], 5.9, 0.0, 120.0),  # (0.9, 5.9]: both in
        ([(0.0, 10)] * 3, 100.0, None, 0.0),  # long gone
    ],
)
def test_rate_meter_table(
    events: list[tuple[float, int]], now: float, since: float | None, expected: float
) -> None:
    """Counts in the window (s - 5, s], over 5 s or over the time since the start."""
    meter = RateMeter()
    for t, count in events:
        meter.add(t, count)
    assert meter.rate(now, since=since) == pytest.approx(expected)


def test_rate_meter_forgets_old_entries() -> None:
    """It stays small whether or not its rate is read."""
    meter = RateMeter(window=1.0)
    for i in range(10_000):
        meter.add(i * 0.01, 1)
    assert len(meter._recent) <= 101


def test_progress_hooks_count_with_an_injected_clock() -> None:
    """Accepted and rejected numbers are done; only accepted ones make the rate."""
    clock = FakeClock()
    hooks = ProgressHooks(clock=clock)
    clock.advance(2.0)
    hooks.on_outcome(_accepted(100))
    rejected = (Rejected(number="x", reason=RejectReason.NOT_DIGITS),) * 3
    hooks.on_outcome(
        PacketOutcome(kind=OutcomeKind.REJECTED, packet_id=0, numbers=(), rejected=rejected)
    )
    hooks.on_throttle(300.0)
    assert (hooks.done, hooks.accepted, hooks.throttled) == (103, 100, 1)
    assert hooks.rate() == pytest.approx(50.0)  # 100 in the 2 s since the start
    clock.advance(10.0)
    assert hooks.rate() == 0.0


async def test_the_bar_runs_the_work_and_cancels_the_task_beside() -> None:
    """The work's result comes back; the task beside it is cancelled; the last counts show."""
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    hooks = ProgressHooks()
    beside_cancelled = anyio.Event()

    async def beside() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            beside_cancelled.set()

    async def work() -> str:
        for _ in range(3):
            hooks.on_outcome(_accepted(10))
            await anyio.lowlevel.checkpoint()
        return "done"

    async with AsyncClient(
        username="demo_user", password="pw", apikey="k" * 32, nodes=["http://127.0.0.1:9"]
    ) as client:
        with anyio.fail_after(10):
            result = await with_progress(console, hooks, client, 30, work, beside=beside)
    assert result == "done"
    assert beside_cancelled.is_set()
    assert "30/30" in out.getvalue()
    assert "accepted 30" in out.getvalue()
    assert " 9:c" in out.getvalue()
