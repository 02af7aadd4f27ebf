"""Rate and concurrency enforcement: each limiter reading on the platform, with a fake clock."""

from __future__ import annotations

import pytest

from m5c_async.protocol import Gcra, Limiter
from m5c_async.simulator import AccountConfig, Platform, PlatformSettings
from tests.conftest import APIKEY, PASSWORD, FakeClock

MOBILE = "13800000000"


def _send(platform: Platform, n: int = 1, content: str = "hi") -> str:
    account = platform.account("mlrt")
    numbers = ",".join(f"138{i:08d}" for i in range(n))
    return platform.send(account, "qingdao", mobile=numbers, content=content, encode="UTF-8")


def test_gcra_admits_debt_up_to_tolerance() -> None:
    """A packet is admitted while debt <= tolerance, then paid for over time."""
    g = Gcra(rate=600, tolerance=1.0)
    assert g.try_acquire(10_000, now=0.0)
    assert not g.try_acquire(1, now=15.0)
    assert g.try_acquire(1, now=15.7)
    assert g.debt(100.0) == 0.0
    with pytest.raises(ValueError, match="positive"):
        Gcra(rate=0)


def test_gcra_reserve_waits_until_a_meter_would_admit() -> None:
    """reserve() returns the wait after which an identical meter admits the request."""
    pacer, meter = Gcra(rate=100), Gcra(rate=100)
    now = 0.0
    for _ in range(500):
        wait = pacer.reserve(7, now)
        now += wait
        assert meter.try_acquire(7, now)
    assert now == pytest.approx(500 * 7 / 100 - 7 / 100 - 1.0, abs=0.05)
    pacer.refund(7)
    assert pacer.tat == pytest.approx(meter.tat - 0.07)


def _platform(clock: FakeClock, limiter: Limiter, **account: object) -> Platform:
    config = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, **account)  # type: ignore[arg-type]
    return Platform([config], settings=PlatformSettings(limiter=limiter), clock=clock)


@pytest.fixture
def gcra(clock: FakeClock) -> Platform:
    """A notification account under the GCRA reading (one second of tolerance)."""
    return _platform(clock, Limiter.GCRA)


def test_sliding_is_the_default(platform: Platform) -> None:
    """Without a choice, the platform counts any one-second window."""
    assert platform.settings.limiter is Limiter.SLIDING
    assert platform.snapshot()["accounts"]["mlrt"]["limiter"] == "sliding"


@pytest.mark.parametrize("limiter", list(Limiter))
def test_below_the_rate_never_throttled_and_max_window_reported(
    clock: FakeClock, limiter: Limiter
) -> None:
    """599 single messages a second for 10 s pass every reading; max_window is 599."""
    platform = _platform(clock, limiter)
    for _ in range(599 * 10):
        assert _send(platform).startswith("success:")
        clock.advance(1 / 599)
    assert platform.stats.throttled == 0
    assert platform.snapshot()["accounts"]["mlrt"]["max_window"] == 599


def test_opening_burst_is_throttled_by_the_windows_not_the_gcra(clock: FakeClock) -> None:
    """A whole second at once and then the rate: GCRA admits it, both windows refuse it."""
    outcomes = {}
    for limiter in Limiter:
        platform = _platform(clock, limiter)
        start = clock.now = 1000.0
        replies = [_send(platform, 600)]
        while clock.now < start + 1.0:
            clock.advance(1 / 600)
            replies.append(_send(platform))
        outcomes[limiter] = sum(r == "error:Throughput Rate Exceeded" for r in replies)
    assert outcomes[Limiter.GCRA] == 0
    assert outcomes[Limiter.SLIDING] > 500
    assert outcomes[Limiter.FIXED] > 0


def test_fixed_window_admits_twice_the_rate_across_a_boundary(clock: FakeClock) -> None:
    """Calendar seconds: 600 at the end of one and 600 at the start of the next both pass, and
    max_window reports the 1,200 a sliding reader would have refused."""
    platform = _platform(clock, Limiter.FIXED, rate=600)
    clock.now = 1000.9
    for _ in range(600):
        assert _send(platform).startswith("success:")
        clock.advance(0.0001)
    clock.now = 1001.0
    for _ in range(600):
        assert _send(platform).startswith("success:")
        clock.advance(0.0001)
    assert platform.snapshot()["accounts"]["mlrt"]["max_window"] == 1200


@pytest.mark.parametrize("limiter", [Limiter.SLIDING, Limiter.FIXED])
def test_big_marketing_packet_is_spread_over_its_time(clock: FakeClock, limiter: Limiter) -> None:
    """10,000 at 150/s counts over 66.7 s: a request before then is refused, after it passes."""
    platform = _platform(clock, limiter, profile="marketing")
    assert _send(platform, 10_000).startswith("success:")
    clock.advance(30.0)
    assert _send(platform) == "error:Throughput Rate Exceeded"
    clock.advance(10_000 / 150 - 30.0 + 0.01)
    assert _send(platform, 10_000).startswith("success:")
    assert platform.snapshot()["accounts"]["mlrt"]["max_window"] == 150


def test_at_the_rate_never_throttled(gcra: Platform, clock: FakeClock) -> None:
    """GCRA: single messages at exactly 600/s for 30 s: never throttled."""
    for _ in range(600 * 30):
        assert _send(gcra).startswith("success:")
        clock.advance(1 / 600)
    assert gcra.stats.throttled == 0
    assert gcra.stats.accepted == 18_000


def test_above_the_rate_is_throttled(gcra: Platform, clock: FakeClock) -> None:
    """GCRA: at 1.05x the rate, the debt passes one second after 20 s and throttling starts."""
    replies = []
    for _ in range(630 * 25):
        replies.append(_send(gcra))
        clock.advance(1 / 630)
    first = next(i for i, r in enumerate(replies) if r == "error:Throughput Rate Exceeded")
    assert 19.0 < first / 630 < 21.5
    # Afterwards the platform lets through exactly its rate.
    accepted = sum(1 for r in replies if r.startswith("success:"))
    assert accepted == pytest.approx(600 * 25 + 600, abs=3)


def test_burst_then_above_rate_is_throttled_within_ten_seconds(
    gcra: Platform, clock: FakeClock
) -> None:
    """GCRA: opening with one second's budget at once, then 1.05x: throttled within 10 s."""
    assert _send(gcra, 600).startswith("success:")
    throttled_at = None
    for i in range(630 * 10):
        clock.advance(1 / 630)
        if _send(gcra) == "error:Throughput Rate Exceeded":
            throttled_at = i / 630
            break
    assert throttled_at is not None
    assert throttled_at < 10


def test_big_packet_is_admitted_then_paid_for(gcra: Platform, clock: FakeClock) -> None:
    """GCRA: 10,000 numbers are accepted at once; the next request waits out the debt."""
    assert _send(gcra, 10_000).startswith("success:")
    clock.advance(10.0)
    assert _send(gcra) == "error:Throughput Rate Exceeded"
    clock.advance(10_000 / 600 - 10.0 - 1.0 + 0.01)
    assert _send(gcra).startswith("success:")


def test_packet_over_profile_size_is_throttled(platform: Platform) -> None:
    """10,001 numbers exceed the notification packet: Throughput Rate Exceeded."""
    assert _send(platform, 10_001) == "error:Throughput Rate Exceeded"
    assert platform.stats.throttled == 1
    assert platform.stats.accepted == 0


def test_limits_are_configurable_per_account(clock: FakeClock) -> None:
    """A scaled-down account enforces its own rate and packet size."""
    small = AccountConfig(
        username="mlrt", password="pw", apikey="k" * 32, rate=10, packet_size=5, concurrency=2
    )
    platform = Platform([small], settings=PlatformSettings(limiter=Limiter.GCRA), clock=clock)
    state = platform.account("mlrt")
    assert (state.rate, state.packet_size, state.concurrency) == (10.0, 5, 2)
    assert _send(platform, 6) == "error:Throughput Rate Exceeded"
    # Debts before each request: 0, 0.5, 1.0 (admitted, at the tolerance), then 1.5 (refused).
    for _ in range(3):
        assert _send(platform, 5).startswith("success:")
    assert _send(platform, 5) == "error:Throughput Rate Exceeded"
    clock.advance(0.5)
    assert _send(platform, 5).startswith("success:")
