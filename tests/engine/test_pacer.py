"""The local pacer: reservations on a fake clock, big packets, AIMD."""

from __future__ import annotations

import pytest

from m5c_async.engine import LocalPacer
from tests.conftest import FakeClock


class Sleeper:
    """A sleep that moves the fake clock and records each wait."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


async def test_big_packet_goes_at_once_then_is_paid_for() -> None:
    """10,000 numbers at 600/s: no wait for the packet, ~16.2 s before the next."""
    clock = FakeClock(0.0)
    sleep = Sleeper(clock)
    pacer = LocalPacer(600, tolerance=0.5, clock=clock, sleep=sleep)
    await pacer.acquire(10_000)
    assert sleep.waits == []
    await pacer.acquire(1)
    assert sleep.waits == [pytest.approx(10_000 / 600 - 0.5)]


async def test_steady_rate_is_exact() -> None:
    """60,000 single messages take 100 s at 600/s, whatever the sleep granularity."""
    clock = FakeClock(0.0)
    pacer = LocalPacer(600, tolerance=0.5, clock=clock, sleep=Sleeper(clock))
    for _ in range(60_000):
        await pacer.acquire(1)
    assert clock.now == pytest.approx(100 - 0.5, abs=0.01)


async def test_aimd() -> None:
    """Throttling halves the rate down to a floor; clean seconds add 5% back."""
    clock = FakeClock(0.0)
    pacer = LocalPacer(600, clock=clock, sleep=Sleeper(clock), min_factor=0.1)
    pacer.throttled()
    assert pacer.rate == 300
    for _ in range(5):
        pacer.throttled()
    assert pacer.rate == pytest.approx(60)
    pacer.succeeded()
    assert pacer.rate == pytest.approx(60)  # not a second yet since the last change
    for _ in range(20):
        clock.advance(1.0)
        pacer.succeeded()
    assert pacer.rate == 600
    pacer.succeeded()
    assert pacer.rate == 600
