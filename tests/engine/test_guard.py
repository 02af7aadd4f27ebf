"""The frequency guard: local (one process, injected clock) and shared through a real
redis-server (two processes, a restart, the same history everywhere)."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest
import redis.asyncio as aioredis

from m5c_async import (
    AsyncClient,
    FrequencyLimitError,
    GuardFullError,
    RedisAuthError,
    RedisUnavailableError,
)
from m5c_async.engine import EngineConfig, FrequencyGuard, RedisGuard, SendEngine
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from tests.conftest import APIKEY, PASSWORD, FakeClock
from tests.redis_server import RedisServer

QUIET = PlatformSettings(reports=False)
A, B, C, D = "13800000001", "13800000002", "13800000003", "13800000004"


# --- local -------------------------------------------------------------------------------------


def test_local_guard_never_forgets_a_count_while_its_window_is_open() -> None:
    """A full table refuses a new number (GuardFullError) instead of dropping another number's
    count; once windows close, their numbers leave and new ones pass."""
    clock = FakeClock(0.0)
    guard = FrequencyGuard([(1, 60)], clock=clock, max_numbers=3)
    for n in (A, B, C):
        guard.check(n)
    clock.advance(10)
    with pytest.raises(GuardFullError) as full:
        guard.check(D)
    assert full.value.retry_after == pytest.approx(50)
    with pytest.raises(FrequencyLimitError):  # A is still counted: it was never forgotten
        guard.check(A)
    clock.advance(50)  # A, B and C's windows close
    guard.check(D)
    assert len(guard) == 1
    guard.check(A)


def test_local_guard_memory_is_bounded_by_window_expiry() -> None:
    """Numbers whose windows closed leave the table: 10,000 numbers over time, at most the
    ones of the last window held."""
    clock = FakeClock(0.0)
    guard = FrequencyGuard([(1, 60), (3, 600)], clock=clock, max_numbers=1000)
    for i in range(10_000):
        guard.check(f"139{i:08d}")
        clock.advance(1.0)
        assert len(guard) <= 601
    guard.check("13900000000")  # its 600 s window closed long ago


def test_local_guard_limits_and_retry_after() -> None:
    clock = FakeClock(0.0)
    guard = FrequencyGuard([(1, 60), (2, 3600)], clock=clock)
    guard.check(A)
    clock.advance(30)
    with pytest.raises(FrequencyLimitError) as first:
        guard.check(A)
    assert first.value.retry_after == pytest.approx(30)
    assert first.value.limit == (1, 60.0)
    clock.advance(31)
    guard.check(A)
    clock.advance(61)
    with pytest.raises(FrequencyLimitError) as second:
        guard.check(A)
    assert second.value.limit == (2, 3600.0)
    assert second.value.retry_after == pytest.approx(3600 - 122)


# --- shared through Redis ----------------------------------------------------------------------


def _guard(url: str, prefix: str, **kw: object) -> RedisGuard:
    client = aioredis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return RedisGuard(client, prefix=prefix, **kw)  # type: ignore[arg-type]


_OTHER_PROCESS = """
import sys, anyio, redis.asyncio as aioredis
from m5c_async import FrequencyLimitError
from m5c_async.engine import RedisGuard
async def main():
    guard = RedisGuard(aioredis.from_url(sys.argv[1]), prefix=sys.argv[2], limits=[(2, 60)])
    try:
        await guard.acheck(sys.argv[3])
        print("admitted")
    except FrequencyLimitError as exc:
        print(f"refused {exc.retry_after:.0f}")
    await guard.aclose()
anyio.run(main)
"""


def _other_process(url: str, prefix: str, number: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, url, prefix, number],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


async def test_two_processes_and_a_restart_share_one_history() -> None:
    """Two sends a minute per number: one here, one in another process, and the third is
    refused here, there, and by a guard made afresh (a restart)."""
    with RedisServer() as server:
        here = _guard(server.url, "g1", limits=[(2, 60)])
        await here.acheck(A)
        assert _other_process(server.url, "g1", A) == "admitted"
        with pytest.raises(FrequencyLimitError) as refused:
            await here.acheck(A)
        assert 0 < refused.value.retry_after <= 60
        assert _other_process(server.url, "g1", A).startswith("refused")
        await here.aclose()
        restarted = _guard(server.url, "g1", limits=[(2, 60)])
        with pytest.raises(FrequencyLimitError):
            await restarted.acheck(A)
        await restarted.acheck(B)  # another number has its own count
        assert _other_process(server.url, "g2", A) == "admitted"  # another prefix too
        await restarted.aclose()


async def test_concurrent_checks_across_guards_admit_the_limit_exactly() -> None:
    """Forty checks of one number at once through two clients: exactly five admitted."""
    with RedisServer() as server:
        guards = [_guard(server.url, "g3", limits=[(5, 60)]) for _ in range(2)]
        admitted: list[int] = []

        async def one(k: int) -> None:
            try:
                await guards[k % 2].acheck(A)
                admitted.append(k)
            except FrequencyLimitError:
                pass

        async with anyio.create_task_group() as tg:
            for k in range(40):
                tg.start_soon(one, k)
        for g in guards:
            await g.aclose()
    assert len(admitted) == 5


async def test_shared_history_expires_with_its_window() -> None:
    """The key holds the longest window and expires with it (bounded by expiry, not by count);
    a number passes again once its window closed."""
    with RedisServer() as server:
        guard = _guard(server.url, "g4", limits=[(1, 0.3)])
        await guard.acheck(A)
        with pytest.raises(FrequencyLimitError):
            await guard.acheck(A)
        ttl = await guard.redis.pttl("g4:" + A)
        assert 0 < ttl <= 1300
        with anyio.fail_after(5):
            while True:
                try:
                    await guard.acheck(A)
                    break
                except FrequencyLimitError as exc:
                    await anyio.sleep(max(exc.retry_after, 0.01))
        await guard.aclose()


async def test_engine_submit_uses_the_shared_guard() -> None:
    """Two engines (two web workers) with their own clients and guards: the second message to a
    number within the minute is refused whichever worker takes it."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=200)
    with RedisServer() as server:
        async with run_simulator(
            [account], nodes=1, settings=PlatformSettings(reports=False)
        ) as sim:
            async with (
                AsyncClient(
                    username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
                ) as c1,
                AsyncClient(
                    username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
                ) as c2,
            ):
                g1, g2 = _guard(server.url, "web"), _guard(server.url, "web")
                config = EngineConfig(rate=200, packet_size=1, concurrency=2)
                async with (
                    SendEngine(c1, config, guard=g1, hooks=[]) as w1,
                    SendEngine(c2, config, guard=g2, hooks=[]) as w2,
                ):
                    await w1.submit(A, "验证码：1234【测试】")
                    with pytest.raises(FrequencyLimitError):
                        await w2.submit(A, "验证码：5678【测试】")
                    await w2.submit(B, "验证码：1234【测试】")
                await g1.aclose()
                await g2.aclose()
            assert sorted(m for e in sim.platform.ledger for m in e.mobiles) == [A, B]


async def test_shared_guard_fails_closed() -> None:
    """Redis down: refused at once with RedisUnavailableError (never let through unchecked);
    a wrong password: RedisAuthError; back up: checks pass again."""
    with RedisServer(password="guard-right-pw") as server:
        wrong = _guard(server.url_with("guard-wrong-pw"), "g5")
        with anyio.fail_after(3), pytest.raises(RedisAuthError) as auth:
            await wrong.acheck(A)
        assert "guard-wrong-pw" not in str(auth.value) + repr(wrong)
        await wrong.aclose()
        guard = _guard(server.url, "g5", retry_interval=0.05)
        await guard.acheck(A)
        server.stop()
        for _ in range(3):
            with anyio.fail_after(3), pytest.raises(RedisUnavailableError):
                await guard.acheck(B)
        server.start()
        with anyio.fail_after(5):
            while True:
                try:
                    await guard.acheck(C)
                    break
                except RedisUnavailableError:
                    await anyio.sleep(0.05)
        await guard.aclose()
