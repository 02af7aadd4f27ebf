"""The local pacer: the gate on a fake clock, big packets, imprecise timers, AIMD."""

from __future__ import annotations

import math
import random
from bisect import bisect_right

import pytest

from m5c_async.engine import Aimd, LocalPacer
from m5c_async.protocol import FixedWindow, Gcra, SlidingWindow
from tests.conftest import FakeClock


class Sleeper:
    """A sleep that moves the fake clock and records each wait."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


class SloppySleeper(Sleeper):
    """epoll and uvloop: wakes up to 1 ms early or up to 2 ms late, at random."""

    def __init__(self, clock: FakeClock, seed: int) -> None:
        super().__init__(clock)
        self.rng = random.Random(seed)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(max(seconds + self.rng.uniform(-0.001, 0.002), 0.0))


def _max_window(times: list[float]) -> int:
    return max(j + 1 - bisect_right(times, t - 1.0) for j, t in enumerate(times))


async def test_big_packet_goes_at_once_then_is_paid_for() -> None:
    """10,000 numbers at 600/s less 1%: no wait for the packet, 10,000/594 s before the next."""
    clock = FakeClock(0.0)
    sleep = Sleeper(clock)
    pacer = LocalPacer(600, margin=0.01, clock=clock, sleep=sleep)
    await pacer.acquire(10_000)
    assert sleep.waits == []
    await pacer.acquire(1)
    assert sleep.waits == [pytest.approx(10_000 / 594)]


async def test_steady_rate_is_exact() -> None:
    """59,400 single messages take 100 s at 600/s less 1%, with no start-up burst."""
    clock = FakeClock(0.0)
    pacer = LocalPacer(600, margin=0.01, clock=clock, sleep=Sleeper(clock))
    times = []
    for _ in range(59_400):
        await pacer.acquire(1)
        times.append(clock.now)
    assert clock.now == pytest.approx(100 - 1 / 594, abs=0.01)
    assert sum(1 for t in times if t < 1.0) == 594
    assert _max_window(times) == 594


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("rate", "packet"), [(600, 1), (200, 1), (150, 1), (600, 37)])
async def test_no_window_above_the_cap_with_imprecise_timers(
    seed: int, rate: int, packet: int
) -> None:
    """Timers early and late at random: every limiter admits every request, goodput >= 99%."""
    clock = FakeClock(0.0)
    pacer = LocalPacer(rate, margin=0.01, clock=clock, sleep=SloppySleeper(clock, seed))
    # GCRA with 0.1 s of tolerance: a tenth of the simulator's
    meters = [SlidingWindow(rate=rate), FixedWindow(rate=rate), Gcra(rate=rate, tolerance=0.1)]
    seconds = 30
    sent = 0
    while clock.now < seconds:
        await pacer.acquire(packet)
        for meter in meters:
            assert meter.try_acquire(packet, clock.now), (meter, clock.now)
        sent += packet
    assert sent / seconds >= 0.985 * rate  # the margin is 1%; the last packet's time is cut
    # the window gate: the cap less the margin (rounded up), by construction
    assert meters[0].peak <= math.ceil(rate * 0.99)


async def test_a_late_request_never_lets_the_next_leave_early() -> None:
    """A request that leaves later than ``slack`` books from then: the next waits a full
    interval."""
    clock = FakeClock(0.0)
    sleep = Sleeper(clock)
    pacer = LocalPacer(100, margin=0.0, clock=clock, sleep=sleep)
    await pacer.acquire(1)
    clock.advance(0.2)  # the caller was slow: the second request is due at 0.01, asks at 0.2
    await pacer.acquire(1)
    assert sleep.waits == []
    await pacer.acquire(1)
    assert sleep.waits == [pytest.approx(0.01)]


@pytest.mark.parametrize("stall", [0.002, 0.04, 0.3])
async def test_a_stall_is_caught_up_without_a_window_above_the_cap(stall: float) -> None:
    """After a stall of the process the schedule catches up (up to ``slack``, 3 ms), never in a
    burst (the later ones are lost, not made up), and the window
    gate keeps every one-second window of departures at or below 596 (the cap less the default
    0.8%, rounded up)."""
    clock = FakeClock(0.0)
    pacer = LocalPacer(600, clock=clock, sleep=Sleeper(clock))
    assert pacer.rate == pytest.approx(595.2)
    times = []
    stalled = False
    while clock.now < 10.0:
        if clock.now >= 5.0 and not stalled:
            stalled = True
            clock.advance(stall)  # a garbage collection, between the gate and the next ask
        await pacer.acquire(1)
        times.append(clock.now)
    assert _max_window(times) <= 596
    lost = stall if stall > 0.003 else 0.0  # lateness within slack is caught up
    assert len(times) == pytest.approx(595.2 * (10 - lost), abs=3)


async def test_margin_and_slack_are_checked() -> None:
    """A margin outside [0, 1) is refused."""
    with pytest.raises(ValueError, match="margin"):
        LocalPacer(600, margin=1.0)


async def test_aimd() -> None:
    """An isolated throttle cuts the rate by 10%, one within 30 s of another halves it, down to
    a floor; clean seconds add 5% back."""
    clock = FakeClock(0.0)
    pacer = LocalPacer(600, margin=0.01, clock=clock, sleep=Sleeper(clock), min_factor=0.1)
    pacer.throttled()
    assert pacer.rate == pytest.approx(594 * 0.9)
    clock.advance(29.9)
    pacer.throttled()  # within 30 s of the last one: contention, not jitter
    assert pacer.rate == pytest.approx(594 * 0.45)
    for _ in range(5):
        pacer.throttled()
    assert pacer.rate == pytest.approx(59.4)
    pacer.succeeded()
    assert pacer.rate == pytest.approx(59.4)  # not a second yet since the last change
    for _ in range(20):
        clock.advance(1.0)
        pacer.succeeded()
    assert pacer.rate == pytest.approx(594)
    pacer.succeeded()
    assert pacer.rate == pytest.approx(594)
    clock.advance(30.0)
    pacer.throttled()  # 30 s after the last: isolated again
    assert pacer.rate == pytest.approx(594 * 0.9)
    with pytest.raises(ValueError, match="gentle"):
        Aimd(gentle=0.0)
