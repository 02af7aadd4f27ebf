"""The three limiters of protocol/_rates.py, with injected times, checked against brute force."""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter

import pytest

from m5c_async.protocol import FixedWindow, Gcra, Limiter, SlidingWindow, make_limiter

US = 1_000_000


def _messages(packets: list[tuple[float, int]], rate: int) -> list[int]:
    """Brute force of the reading: message i of a packet at t counts at t + i/rate (in µs)."""
    out = []
    for t, n in packets:
        start = round(t * US)
        out.extend(start + (i * US) // rate for i in range(n))
    return sorted(out)


def _max_sliding(times: list[int]) -> int:
    """The largest count of any window (s - 1 s, s], s running over every message time."""
    return max((j + 1 - bisect_right(times, s - US) for j, s in enumerate(times)), default=0)


def _max_fixed(times: list[int]) -> int:
    return max(Counter(t // US for t in times).values(), default=0)


# (arrivals as (time, n), rate, the decisions expected)
SLIDING_TABLE = [
    ([(0.0, 1), (0.5, 1), (0.9, 1), (1.0, 1)], 2, [True, True, False, True]),
    ([(0.0, 2), (0.999999, 1), (1.0, 1)], 2, [True, False, True]),
    # a packet of the whole budget, then nothing until the window has moved past it
    ([(0.0, 600), (0.5, 1), (1.0, 1)], 600, [True, False, True]),
    # 10,000 at 150/s: counted over 66.67 s; the next packet waits that long
    ([(0.0, 10_000), (66.0, 1), (66.66, 1), (66.67, 1)], 150, [True, False, False, True]),
    ([(0.0, 10_000), (66.67, 10_000), (133.33, 1), (133.34, 1)], 150, [True, True, False, True]),
    # two half-budget packets overlap without passing the cap
    ([(0.0, 300), (0.1, 300), (0.2, 1)], 600, [True, True, False]),
]

FIXED_TABLE = [
    # the whole budget at the end of one second and again at the start of the next: allowed
    ([(0.4, 2), (1.0, 2), (1.5, 1), (2.0, 1)], 2, [True, True, False, True]),
    ([(0.9, 2), (1.0, 2), (1.9, 1)], 2, [True, False, True]),
    ([(0.0, 600), (0.999, 1), (1.0, 600)], 600, [True, False, True]),
    # a spread packet fills the seconds it touches: 300 at 0.5 -> 300 in second 0, 0 in 1
    ([(0.5, 450), (0.9, 1), (1.2, 1)], 600, [True, True, True]),
    # second 65 is full; second 66 holds the last 100 of the packet, so 50 more fit there
    ([(0.0, 10_000), (65.5, 1), (66.0, 50), (66.9, 1)], 150, [True, False, True, False]),
]

GCRA_TABLE = [
    ([(0.0, 10_000), (15.0, 1), (15.7, 1)], 600, [True, False, True]),
    # one second of tolerance: the opening burst of a full second is admitted
    ([(0.0, 600), (0.0, 600), (0.0, 1)], 600, [True, True, False]),
]


@pytest.mark.parametrize(("arrivals", "rate", "expected"), SLIDING_TABLE)
def test_sliding_window_table(
    arrivals: list[tuple[float, int]], rate: int, expected: list[bool]
) -> None:
    """Sliding window decisions at injected times."""
    limiter = SlidingWindow(rate=rate)
    assert [limiter.try_acquire(n, t) for t, n in arrivals] == expected
    accepted = [a for a, ok in zip(arrivals, expected, strict=True) if ok]
    assert limiter.peak == _max_sliding(_messages(accepted, rate)) <= rate


@pytest.mark.parametrize(("arrivals", "rate", "expected"), FIXED_TABLE)
def test_fixed_window_table(
    arrivals: list[tuple[float, int]], rate: int, expected: list[bool]
) -> None:
    """Fixed calendar-second decisions at injected times."""
    limiter = FixedWindow(rate=rate)
    assert [limiter.try_acquire(n, t) for t, n in arrivals] == expected


@pytest.mark.parametrize(("arrivals", "rate", "expected"), GCRA_TABLE)
def test_gcra_table(arrivals: list[tuple[float, int]], rate: int, expected: list[bool]) -> None:
    """GCRA with one second of tolerance at injected times."""
    limiter = Gcra(rate=rate, tolerance=1.0)
    assert [limiter.try_acquire(n, t) for t, n in arrivals] == expected


def _random_arrivals(seed: int, rate: int) -> list[tuple[float, int]]:
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(120):
        t += rng.choice((0.0, 0.0005, 0.003, 0.05, 0.3, 1.0, 2.5)) * rng.random()
        n = rng.choice((1, 1, 1, 2, 3, rate // 3, rate - 1, rate, 3 * rate + 7))
        out.append((round(t, 6), max(n, 1)))
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("rate", [3, 10, 40])
def test_sliding_window_matches_brute_force(seed: int, rate: int) -> None:
    """Each decision is what brute force over every message time decides; so is the peak."""
    limiter, meter = SlidingWindow(rate=rate), SlidingWindow(rate=rate)
    accepted: list[tuple[float, int]] = []
    offered: list[tuple[float, int]] = []
    for t, n in _random_arrivals(seed, rate):
        expected = _max_sliding(_messages([*accepted, (t, n)], rate)) <= rate
        assert limiter.try_acquire(n, t) is expected, (t, n)
        if expected:
            accepted.append((t, n))
        offered.append((t, n))
        meter.add(n, t)
    assert limiter.peak == _max_sliding(_messages(accepted, rate))
    assert meter.peak == _max_sliding(_messages(offered, rate))
    assert meter.peak > rate  # the offered traffic did pass the cap somewhere


@pytest.mark.parametrize("seed", range(8))
def test_fixed_window_matches_brute_force(seed: int) -> None:
    """Fixed-window decisions equal brute force over calendar seconds."""
    rate = 10
    limiter = FixedWindow(rate=rate)
    accepted: list[tuple[float, int]] = []
    for t, n in _random_arrivals(seed, rate):
        expected = _max_fixed(_messages([*accepted, (t, n)], rate)) <= rate
        assert limiter.try_acquire(n, t) is expected, (t, n)
        if expected:
            accepted.append((t, n))


def test_fixed_window_lets_twice_the_rate_through_a_boundary() -> None:
    """Why sliding is the default: fixed admits 2x the rate across a second boundary."""
    fixed, sliding = FixedWindow(rate=600), SlidingWindow(rate=600)
    times = [0.9 + i / 10_000 for i in range(600)] + [1.0 + i / 10_000 for i in range(600)]
    assert all(fixed.try_acquire(1, t) for t in times)
    assert sum(sliding.try_acquire(1, t) for t in times) == 600


def test_a_steady_sender_below_the_rate_passes_every_limiter() -> None:
    """594 single messages a second for 30 s, never refused by any reading."""
    for kind in Limiter:
        limiter = make_limiter(kind, 600)
        assert all(limiter.try_acquire(1, i / 594) for i in range(594 * 30)), kind


def test_rate_changes_apply_to_later_packets() -> None:
    """A lower rate spreads later packets wider; booked ones keep theirs."""
    limiter = SlidingWindow(rate=10)
    assert limiter.try_acquire(10, 0.0)
    limiter.set_rate(2)
    assert not limiter.try_acquire(1, 1.5)  # the booked 10 still count, against the new cap
    assert limiter.try_acquire(4, 1.95)  # counted at 1.95, 2.45, 2.95, 3.45
    assert not limiter.try_acquire(1, 3.5)
    assert limiter.try_acquire(1, 3.96)


def test_bad_arguments_are_refused() -> None:
    """Rates below one message a second, unknown kinds and empty packets are errors."""
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindow(rate=0.5)
    with pytest.raises(ValueError, match="leaky"):
        make_limiter("leaky", 10)
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindow(rate=10).try_acquire(0, 0.0)
    with pytest.raises(ValueError, match="at least 1"):
        FixedWindow(rate=10).try_acquire(0, 0.0)


def test_a_huge_packet_is_counted_without_listing_it() -> None:
    """5,000,000 numbers at 150/s: admitted, and a message 9 hours later is still refused."""
    limiter = SlidingWindow(rate=150)
    assert limiter.try_acquire(5_000_000, 0.0)
    assert not limiter.try_acquire(1, 9 * 3600.0)
    assert limiter.try_acquire(1, 5_000_000 / 150 + 0.01)
    fixed = FixedWindow(rate=150)
    assert fixed.try_acquire(5_000_000, 0.0)
    assert not fixed.try_acquire(1, 9 * 3600.0)
