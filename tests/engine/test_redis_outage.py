"""The Redis pacer when Redis fails: an outage, a wrong password, Ctrl-C in the middle.

Every test runs a real redis-server on a free loopback port and stops it for real.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import suppress
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from m5c_async import AsyncClient, CampaignNotFoundError, RedisAuthError, RedisUnavailableError
from m5c_async.engine import (
    Campaign,
    EngineConfig,
    Hooks,
    OutcomeKind,
    PacketOutcome,
    RedisPacer,
    SendEngine,
)
from m5c_async.journal import Journal, run_campaign
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from tests.conftest import APIKEY, PASSWORD
from tests.redis_server import RedisServer

QUIET = PlatformSettings(reports=False)
RIGHT = "redis-right-Pw-7731"
WRONG = "redis-wrong-Pw-4410"


def _pacer(url: str, key: str, **kw: object) -> RedisPacer:
    options: dict[str, object] = {"rate": 200.0, "concurrency": 20, "retry_interval": 0.05}
    options.update(kw)
    client = aioredis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return RedisPacer(client, key=key, **options)  # type: ignore[arg-type]


def _redis_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "redis" in r.getMessage().lower()]


@pytest.mark.parametrize("password", [WRONG, None], ids=["wrong password", "no password"])
async def test_refused_credentials_are_fatal_at_once(
    password: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong (or missing) password raises RedisAuthError on the first call: not retried, not
    logged as "unreachable", and no password in its text, its repr or any log line."""
    caplog.set_level(logging.DEBUG)
    with RedisServer(password=RIGHT) as server:
        pacer = _pacer(server.url_with(password), "auth")
        with anyio.fail_after(3), pytest.raises(RedisAuthError) as caught:
            await pacer.check()
        with anyio.fail_after(3), pytest.raises(RedisAuthError):
            await pacer.acquire(1)
        await pacer.aclose()
    err = caught.value
    assert pacer.failures == 0
    assert err.server == f"127.0.0.1:{server.port}/0"
    assert not any("unreachable" in line for line in _redis_lines(caplog))
    seen = " ".join([str(err), repr(err), err.message, repr(pacer), caplog.text])
    assert RIGHT not in seen
    assert WRONG not in seen


async def test_wrong_password_stops_a_campaign_with_everything_pending() -> None:
    """Through the engine: the run stops with RedisAuthError, nothing sent, nothing failed."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=200)
    with RedisServer(password=RIGHT) as server:
        async with run_simulator(
            [account], nodes=1, settings=PlatformSettings(reports=False)
        ) as sim:
            async with AsyncClient(
                username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
            ) as client:
                pacer = _pacer(server.url_with(WRONG), "auth-engine")
                engine = SendEngine(
                    client, EngineConfig(rate=200, packet_size=1, concurrency=5), pacer=pacer,
                    hooks=[],
                )  # fmt: skip
                numbers = [f"135{i:08d}" for i in range(40)]
                with anyio.fail_after(10):
                    result = await engine.run_campaign(Campaign(numbers=numbers, content="x"))
                await pacer.aclose()
            assert sim.platform.ledger == []
    assert isinstance(result.stopped_by, RedisAuthError)
    assert result.accepted == result.failed == result.ambiguous == 0
    assert result.pending == 40


class _Collect(Hooks):
    def __init__(self) -> None:
        self.outcomes: list[PacketOutcome] = []

    def on_outcome(self, outcome: PacketOutcome) -> None:
        self.outcomes.append(outcome)


async def _wait(condition: object, seconds: float, what: str) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.01)


async def test_outage_holds_sends_then_resumes_by_itself(caplog: pytest.LogCaptureFixture) -> None:
    """Redis killed mid-campaign: nothing leaves while it is down; started again, the campaign
    finishes by itself with every number sent once; two log lines for the whole outage."""
    caplog.set_level(logging.WARNING, logger="m5c_async")
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=200)
    collect = _Collect()
    with RedisServer() as server:
        async with run_simulator(
            [account], nodes=1, settings=PlatformSettings(reports=False)
        ) as sim:
            async with AsyncClient(
                username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
            ) as client:
                pacer = _pacer(server.url, "outage")
                engine = SendEngine(
                    client, EngineConfig(rate=200, packet_size=1, concurrency=20), pacer=pacer,
                    hooks=[collect],
                )  # fmt: skip
                numbers = [f"136{i:08d}" for i in range(400)]

                async def chaos() -> None:
                    await _wait(lambda: len(sim.platform.ledger) >= 60, 20, "sending")
                    server.stop()
                    await _wait(lambda: pacer.link.down_since is not None, 10, "outage seen")
                    held = len(sim.platform.ledger)
                    await _wait(lambda: pacer.failures >= 10, 10, "retrying")
                    # fail closed: at most the requests already past the gate went out
                    assert len(sim.platform.ledger) <= held + 20
                    server.start()

                with anyio.fail_after(60):
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(chaos)
                        result = await engine.run_campaign(Campaign(numbers=numbers, content="x"))
                await pacer.aclose()
            ledger = Counter(m for e in sim.platform.ledger for m in e.mobiles)
    assert result.stopped_by is None
    assert result.accepted == 400
    assert set(ledger) == set(numbers)
    assert set(ledger.values()) == {1}
    lines = _redis_lines(caplog)
    assert len(lines) == 2, lines
    assert "unreachable" in lines[0]
    assert "answers again" in lines[1]
    assert "failed attempts not logged" in lines[1]
    assert result.pacer_failures == pacer.failures >= 10


async def test_long_outage_stops_the_run_and_leaves_no_packet_in_flight(
    tmp_path: Path,
) -> None:
    """Past ``outage_timeout`` the run stops with RedisUnavailableError; in the journal every
    packet marked in flight either went out (accepted) or is back to pending."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=200)
    with RedisServer() as server:
        async with run_simulator(
            [account], nodes=1, settings=PlatformSettings(reports=False)
        ) as sim:
            async with AsyncClient(
                username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
            ) as client:
                pacer = _pacer(server.url, "long-outage", outage_timeout=0.5)
                numbers = [f"137{i:08d}" for i in range(600)]
                async with Journal(tmp_path / "j.db") as journal:

                    async def chaos() -> None:
                        await _wait(lambda: len(sim.platform.ledger) >= 60, 20, "sending")
                        server.stop()

                    with anyio.fail_after(30):
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(chaos)
                            _, result = await run_campaign(
                                client,
                                journal,
                                Campaign(numbers=numbers, content="x"),
                                EngineConfig(rate=200, packet_size=1, concurrency=20),
                                pacer=pacer,
                            )
                    status = await journal.status()
                await pacer.aclose()
            sent = Counter(m for e in sim.platform.ledger for m in e.mobiles)
    assert isinstance(result.stopped_by, RedisUnavailableError)
    assert status.in_flight == 0
    assert status.accepted == len(sent) == result.accepted
    assert status.pending == 600 - len(sent)
    assert set(sent.values()) == {1}


async def test_cancelled_while_waiting_for_redis_puts_the_mark_back(tmp_path: Path) -> None:
    """Cancelled at the gate during an outage (what Ctrl-C does): within the deadline, and the
    packets marked in flight are pending again in the journal."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=200)
    collect = _Collect()
    with RedisServer() as server:
        async with run_simulator(
            [account], nodes=1, settings=PlatformSettings(reports=False)
        ) as sim:
            async with AsyncClient(
                username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
            ) as client:
                pacer = _pacer(server.url, "cancel", outage_timeout=None)
                numbers = [f"138{i:08d}" for i in range(600)]
                async with Journal(tmp_path / "j.db") as journal:
                    async with anyio.create_task_group() as tg:

                        async def campaign() -> None:
                            await run_campaign(
                                client,
                                journal,
                                Campaign(numbers=numbers, content="x"),
                                EngineConfig(rate=200, packet_size=1, concurrency=20),
                                pacer=pacer,
                                hooks=[collect],
                            )

                        tg.start_soon(campaign)
                        await _wait(lambda: len(sim.platform.ledger) >= 60, 20, "sending")
                        server.stop()
                        await _wait(lambda: pacer.failures >= 5, 10, "retrying")
                        cancelled_at = anyio.current_time()
                        tg.cancel_scope.cancel()
                    stopped_in = anyio.current_time() - cancelled_at
                    status = await journal.status()
                await pacer.aclose()
            sent = Counter(m for e in sim.platform.ledger for m in e.mobiles)
    assert stopped_in < 2
    assert status.in_flight == 0
    assert status.accepted == len(sent)
    assert set(sent.values()) == {1}
    pending = [o for o in collect.outcomes if o.kind is OutcomeKind.PENDING]
    assert pending  # the workers waiting at the gate gave their packets back


async def test_cancel_while_waiting_for_a_shared_slot(tmp_path: Path) -> None:
    """Every request slot is held elsewhere (another process) and Redis goes down: the workers
    waiting for a slot are cancelled within 2 s (the wait is not shielded, nothing has left),
    and their packets are pending again in the journal."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=200)
    with RedisServer() as server:
        async with run_simulator(
            [account], nodes=1, settings=PlatformSettings(reports=False)
        ) as sim:
            async with AsyncClient(
                username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
            ) as client:
                pacer = _pacer(server.url, "slots", concurrency=2, outage_timeout=None)
                for ghost in ("other-process-1", "other-process-2"):
                    await pacer._call(pacer._slot, ["slots:slots"], [2, 60, ghost])
                numbers = [f"134{i:08d}" for i in range(50)]
                async with Journal(tmp_path / "j.db") as journal:
                    async with anyio.create_task_group() as tg:

                        async def campaign() -> None:
                            await run_campaign(
                                client,
                                journal,
                                Campaign(numbers=numbers, content="x"),
                                EngineConfig(rate=200, packet_size=1, concurrency=4),
                                pacer=pacer,
                            )

                        tg.start_soon(campaign)
                        marked = await _wait_marked(journal, 1)
                        server.stop()
                        await _wait(lambda: pacer.failures >= 3, 10, "retrying")
                        cancelled_at = anyio.current_time()
                        tg.cancel_scope.cancel()
                    stopped_in = anyio.current_time() - cancelled_at
                    status = await journal.status()
                await pacer.aclose()
            assert sim.platform.ledger == []
    assert marked >= 1
    assert stopped_in < 2
    assert status.in_flight == 0
    assert status.accepted == 0


async def _wait_marked(journal: Journal, at_least: int) -> int:
    """Wait until ``at_least`` packets are marked in flight; returns how many are."""
    with anyio.fail_after(10):
        while True:
            with suppress(CampaignNotFoundError):  # not yet recorded
                marked = (await journal.status()).in_flight
                if marked >= at_least:
                    return marked
            await anyio.sleep(0.01)
