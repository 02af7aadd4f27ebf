"""The journal's request log: every request that was not accepted, under its campaign; a journal
written before the log existed opens and gains it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig
from m5c_async.journal import Journal, run_campaign
from m5c_async.journal._store import SCHEMA
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from tests.conftest import APIKEY, PASSWORD


async def test_throttled_and_failed_requests_are_logged_per_campaign(tmp_path: Path) -> None:
    """A node throttling and failing some requests: the log holds exactly the engine's throttles
    and one row per other failed request, each under the campaign, with the node that failed."""
    path = tmp_path / "r.db"
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    async with (
        Journal(path) as journal,
        run_simulator([account], nodes=2, settings=PlatformSettings(reports=False)) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
        ) as client,
    ):
        first = sim.node_names[0]
        await sim.set_faults(first, throttle_ratio=0.2, error_ratio=0.1)
        cid, result = await run_campaign(
            client,
            journal,
            Campaign(numbers=[f"135{i:08d}" for i in range(400)], content="x【测试】"),
            EngineConfig(packet_size=5, rate=1000),
        )
    assert result.accepted == 400
    assert result.throttled > 0
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT campaign, node, endpoint, verdict, size FROM request_log"
        ).fetchall()
    throttled = [r for r in rows if r[3] == "throttled"]
    assert len(throttled) == result.throttled
    assert {r[0] for r in rows} == {cid}
    assert {r[2] for r in rows} == {"send"}
    assert all(r[4] == 5 for r in rows)
    assert {r[1] for r in throttled} == {sim.url_of(first)}
    assert len(rows) > len(throttled), "the node's HTTP 5xx answers are logged too"


async def test_a_journal_from_before_the_request_log_opens_and_gains_it(tmp_path: Path) -> None:
    """The first schema (no request_log): opened by the journal, its rows are kept and the log
    exists afterwards."""
    path = tmp_path / "old.db"
    old_schema = SCHEMA.split("CREATE TABLE IF NOT EXISTS request_log")[0]
    with sqlite3.connect(path) as conn:
        conn.executescript(old_schema)
        conn.execute(
            "INSERT INTO campaigns (name, profile, created) VALUES ('old', 'notification', 1.0)"
        )
    conn.close()
    async with Journal(path) as journal:
        assert (await journal.campaign()).name == "old"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM request_log").fetchone() == (0,)
    conn.close()
