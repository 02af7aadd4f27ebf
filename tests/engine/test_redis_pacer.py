"""The Redis pacer against a real redis-server on loopback (started and stopped here)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis.asyncio as aioredis

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, RedisPacer, SendEngine
from m5c_async.simulator import AccountConfig, PlatformSettings, free_port, run_simulator
from tests.conftest import APIKEY, PASSWORD


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server on a free loopback port (Debian's package; .ci/run installs it)."""
    server = shutil.which("redis-server")
    assert server, "redis-server is required: apt-get install redis-server"
    port = free_port()
    with subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    ) as proc:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    import redis

                    with redis.Redis(port=port) as probe:
                        probe.ping()
                    break
                except Exception:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def pacer(url: str, key: str, **kw: float) -> RedisPacer:
    options = {"rate": 200.0, "concurrency": 2, "tolerance": 0.0}
    options.update(kw)
    return RedisPacer(aioredis.from_url(url), key=key, **options)  # type: ignore[arg-type]


async def test_two_pacers_share_one_rate(redis_url: str) -> None:
    """Two processes' worth of pacers on one key admit the shared rate, not twice it.

    The property is an upper bound on the rate, so it holds however loaded the machine is: 120
    admissions through two pacers at 200/s take at least the 119 intervals one shared rate
    allows; two pacers each at 200/s would be done in about half that.
    """
    a, b = pacer(redis_url, "t1"), pacer(redis_url, "t1")
    admitted: list[float] = []

    async def user(p: RedisPacer) -> None:
        while len(admitted) < 120:
            await p.acquire(1)
            admitted.append(anyio.current_time())

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for p in (a, b, a, b):
                tg.start_soon(user, p)
    await a.aclose()
    await b.aclose()
    first_120 = sorted(admitted)[:120]
    assert first_120[-1] - first_120[0] >= 119 / 200 * 0.95


async def test_big_packet_is_booked_then_paid_for(redis_url: str) -> None:
    """1,000 messages at 100/s go at once; the next booking waits out ~9.8 s."""
    p = pacer(redis_url, "t2", rate=100)
    with anyio.fail_after(1):
        await p.acquire(1000)
    with anyio.move_on_after(0.5) as scope:
        await p.acquire(1)
    await p.aclose()
    assert scope.cancelled_caught


async def test_slots_cap_and_expire(redis_url: str) -> None:
    """At most `concurrency` slots across pacers; a crashed holder's lease expires."""
    a, b = pacer(redis_url, "t3", lease=0.5), pacer(redis_url, "t3", lease=0.5)
    async with a.slot(), b.slot():
        with anyio.move_on_after(0.2) as scope:
            async with a.slot():
                pass
        assert scope.cancelled_caught
    async with a.slot():
        pass
    # A holder that never releases (a killed process): its lease frees the slot.
    await a._call(a._slot, ["t3:slots"], [2, 0.3, "ghost-1"])
    await a._call(a._slot, ["t3:slots"], [2, 0.3, "ghost-2"])
    with anyio.fail_after(2):
        async with b.slot():
            pass
    await a.aclose()
    await b.aclose()


async def test_admit_takes_the_slot_with_the_booking(redis_url: str) -> None:
    """While every slot is held, ``admit`` books no rate; the slot is given back on exit."""
    a, b = pacer(redis_url, "t3a", lease=30.0), pacer(redis_url, "t3a", lease=30.0)
    probe = aioredis.from_url(redis_url)
    async with a.admit(1), a.admit(1):  # the cap (concurrency=2) across processes
        assert await probe.zcard("t3a:slots") == 2
        tat = await probe.get("t3a:tat")
        with anyio.move_on_after(0.3) as scope:
            async with b.admit(1):
                pass
        assert scope.cancelled_caught
        assert await probe.get("t3a:tat") == tat  # waited for a slot: booked nothing
    assert await probe.zcard("t3a:slots") == 0
    with anyio.fail_after(2):
        async with b.admit(1):
            assert await probe.zcard("t3a:slots") == 1
    assert await probe.get("t3a:tat") != tat
    await probe.aclose()
    await a.aclose()
    await b.aclose()


async def test_unreachable_redis_fails_closed() -> None:
    """No Redis: nothing is admitted; failures are counted."""
    p = RedisPacer(
        aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0"),
        key="t4",
        rate=100,
        concurrency=1,
        retry_interval=0.05,
    )
    with anyio.move_on_after(0.5) as scope:
        await p.acquire(1)
    assert scope.cancelled_caught
    assert p.failures >= 2
    # A run's result carries the failures counted during that run (not before it), so progress
    # and logs can say so.
    from m5c_async.engine import Packet
    from m5c_async.engine import SendEngine as Engine

    async def failing_meanwhile() -> AsyncIterator[Packet]:
        p.failures += 3
        return
        yield

    async with AsyncClient(
        username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=["http://127.0.0.1:9"]
    ) as c:
        engine = Engine(c, pacer=p, hooks=[])
        result = await engine.run_packets(failing_meanwhile())
        assert result.pacer_failures == 3
    await p.aclose()


async def test_two_engines_on_one_account_are_never_throttled(redis_url: str) -> None:
    """Two engines (as two processes would) share the account's cap through Redis."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=200)
    async with run_simulator([account], nodes=1, settings=PlatformSettings(reports=False)) as sim:

        async def one(offset: int) -> None:
            async with AsyncClient(
                username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
            ) as client:
                shared = pacer(redis_url, "t5", rate=200, concurrency=20, tolerance=0.0)
                engine = SendEngine(
                    client,
                    EngineConfig(rate=200, packet_size=1, concurrency=20),
                    pacer=shared,
                    hooks=[],
                )
                numbers = [f"133{i:08d}" for i in range(offset, offset + 250)]
                result = await engine.run_campaign(Campaign(numbers=numbers, content="x"))
                await shared.aclose()
                assert result.accepted == 250

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, 0)
            tg.start_soon(one, 1000)
        ledger = Counter(m for e in sim.platform.ledger for m in e.mobiles)
        assert sim.platform.stats.throttled == 0
        assert sim.platform.snapshot()["accounts"]["mlrt"]["max_window"] <= 200
    assert len(ledger) == 500
    assert set(ledger.values()) == {1}


async def test_admit_cancelled_while_its_script_is_in_flight_gives_the_slot_back(
    redis_url: str,
) -> None:
    """Cancelled after Redis ran the script (the slot is taken) but before its answer came
    back: the slot is given back at once, not held for the lease by a request that never left.
    """
    a = pacer(redis_url, "t3c", lease=30.0, concurrency=1)
    probe = aioredis.from_url(redis_url)
    script = a._gate_script
    answered = anyio.Event()

    async def answer_lost(**kw: object) -> object:
        await script(**kw)  # Redis booked the rate and took the slot...
        answered.set()
        await anyio.sleep_forever()  # ...and its answer is still on its way (Ctrl-C now)

    a._gate_script = answer_lost
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def admit() -> None:
                async with a.admit(1):
                    raise AssertionError("admitted without an answer")

            tg.start_soon(admit)
            await answered.wait()
            assert await probe.zcard("t3c:slots") == 1
            tg.cancel_scope.cancel()
    a._gate_script = script
    assert await probe.zcard("t3c:slots") == 0  # not held for the 30 s lease
    with anyio.fail_after(2):  # the account's only slot is free for the next request
        async with a.admit(1):
            pass
    await probe.aclose()
    await a.aclose()


async def test_admit_holds_the_cap_with_no_poll_interval(redis_url: str) -> None:
    """``slot_poll=0`` (poll at once) must still mean "wait", never "admitted without a slot"."""
    a = pacer(redis_url, "t3d", lease=30.0, concurrency=1, slot_poll=0.0)
    probe = aioredis.from_url(redis_url)
    admitted = 0
    async with a.admit(1):
        with anyio.move_on_after(0.3):
            async with a.admit(1):
                admitted += 1
    assert admitted == 0  # the account's only slot was held
    assert await probe.zcard("t3d:slots") == 0
    await probe.aclose()
    await a.aclose()


async def test_admit_never_holds_more_than_the_cap_across_pacers(redis_url: str) -> None:
    """Three processes' worth of pacers, ten admits each in parallel, a cap of 4: never more
    than 4 inside at once, whoever they are; slots of a dead holder free at their lease."""
    pacers = [pacer(redis_url, "t3e", lease=0.5, concurrency=4, rate=2000.0) for _ in range(3)]
    probe = aioredis.from_url(redis_url)
    # A killed process left 4 slots: they hold the cap until their lease (0.5 s) is up.
    for i in range(4):
        await probe.zadd("t3e:slots", {f"dead-{i}": time.time() + 0.5})
    inside = peak = done = 0

    async def user(p: RedisPacer) -> None:
        nonlocal inside, peak, done
        async with p.admit(1):
            inside += 1
            peak = max(peak, inside)
            await anyio.sleep(0.01)
            inside -= 1
        done += 1

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for p in pacers:
                for _ in range(10):
                    tg.start_soon(user, p)
    assert done == 30 and peak <= 4, peak
    assert await probe.zcard("t3e:slots") == 0
    await probe.aclose()
    for p in pacers:
        await p.aclose()


async def test_admit_whose_answer_was_lost_does_not_wait_on_its_own_slot(redis_url: str) -> None:
    """Redis ran the admit script (the slot is taken) but its answer was lost (a timeout: an
    outage for the link, which asks again): asking again must find the slot its own, not wait
    for the lease (30 s) behind itself when the cap is 1."""
    import redis.exceptions

    a = pacer(redis_url, "t3f", lease=30.0, concurrency=1, retry_interval=0.05)
    probe = aioredis.from_url(redis_url)
    script = a._gate_script
    calls = 0

    async def first_answer_lost(**kw: object) -> object:
        nonlocal calls
        calls += 1
        answer = await script(**kw)
        if calls == 1:
            raise redis.exceptions.TimeoutError("Timeout reading from socket")
        return answer

    a._gate_script = first_answer_lost
    with anyio.fail_after(5):
        async with a.admit(1):
            assert await probe.zcard("t3f:slots") == 1
    assert calls >= 2
    assert await probe.zcard("t3f:slots") == 0
    await probe.aclose()
    await a.aclose()
