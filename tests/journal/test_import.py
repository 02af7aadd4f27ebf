"""The journal imports through the engine's Intake: per-row encoding, shared content, re-import."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from m5c_async import AsyncClient, ContentEncodingError
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.journal import Journal, run_campaign
from m5c_async.protocol import Encoding
from m5c_async.simulator import AccountConfig, Platform, run_simulator
from tests.conftest import APIKEY, PASSWORD

ROWS = [(f"1380013800{i}", f"第{i}条通知【测试】") for i in range(10)]
BAD = ("13900139000", "表情😀【测试】")


@asynccontextmanager
async def gbk_client() -> AsyncIterator[tuple[AsyncClient, Platform]]:
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    async with (
        run_simulator([account], nodes=1) as sim,
        AsyncClient(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            nodes=sim.base_urls,
            encode=Encoding.GBK,
        ) as client,
    ):
        yield client, sim.platform


def sent(platform: Platform) -> list[tuple[str, str]]:
    return sorted((m, e.content) for e in platform.ledger for m in e.mobiles)


async def test_gbk_personalized_batch_one_bad_row_is_one_rejection(tmp_path: Path) -> None:
    """Journal + GBK + batches of 10: the row GBK cannot carry is rejected; 10 are sent."""
    rows = [*ROWS[:4], BAD, *ROWS[4:]]
    async with gbk_client() as (client, platform), Journal(tmp_path / "g.db") as journal:
        cid, result = await run_campaign(
            client, journal, Campaign(messages=rows), EngineConfig(batch_size=10)
        )
        status = await journal.status(cid)
    assert result.accepted == 10
    assert (status.accepted, status.failed, status.rejected) == (10, 0, 1)
    assert sent(platform) == sorted(ROWS)
    with sqlite3.connect(tmp_path / "g.db") as conn:
        assert conn.execute("SELECT number, reason, line FROM rejected").fetchall() == [
            ("13900139000", "not-encodable", 5)
        ]


async def test_gbk_personalized_batch_through_the_engine_alone() -> None:
    """Same rows without a journal: the engine's producer rejects the one row, sends ten."""
    rows = [*ROWS[:4], BAD, *ROWS[4:]]
    async with gbk_client() as (client, platform):
        engine = SendEngine(client, EngineConfig(batch_size=10), hooks=[])
        result = await engine.run_campaign(Campaign(messages=rows))
    assert (result.accepted, result.rejected, result.failed) == (10, 1, 0)
    assert sent(platform) == sorted(ROWS)


async def test_gbk_shared_content_is_a_named_error_before_anything(tmp_path: Path) -> None:
    """A shared content GBK cannot carry: ContentEncodingError; nothing sent, nothing recorded."""
    async with gbk_client() as (client, platform), Journal(tmp_path / "s.db") as journal:
        with pytest.raises(ContentEncodingError, match="GBK cannot carry"):
            await run_campaign(
                client,
                journal,
                Campaign(numbers=["13800138000"], content="表情😀【测试】"),
                EngineConfig(),
            )
        cid = await journal.create(Campaign(numbers=[], content="x"), profile="notification")
        with pytest.raises(ContentEncodingError):
            await journal.import_source(
                cid,
                Campaign(numbers=["13800138000"], content="😀"),
                encoding=Encoding.GBK,
            )
        assert (await journal.status(cid)).total == 0
    assert platform.ledger == []
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM campaigns").fetchone()[0] == 1


async def test_import_again_counts_rejections_and_duplicates_once(tmp_path: Path) -> None:
    """Importing twice (resume after a crash mid-import) adds nothing and counts once."""
    campaign = Campaign(
        numbers=["13800138000", "13800138000", "28123456", "13800138001"], content="x"
    )
    async with Journal(tmp_path / "r.db") as journal:
        cid = await journal.create(campaign, profile="notification")
        assert await journal.import_source(cid, campaign) == 2
        assert await journal.import_source(cid, campaign) == 0
        status = await journal.status(cid)
    assert (status.total, status.rejected, status.duplicates) == (2, 1, 1)


async def test_a_journal_of_the_first_version_gains_the_line_column(tmp_path: Path) -> None:
    """A rejected table without 'line' (first journals) is extended, not recreated."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE rejected (campaign INTEGER NOT NULL, number TEXT NOT NULL,"
            " reason TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO rejected VALUES (99, 'x', 'not-digits')")
    async with Journal(path) as journal:
        campaign = Campaign(numbers=["bad"], content="x")
        cid = await journal.create(campaign, profile="notification")
        await journal.import_source(cid, campaign)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT campaign, number, line FROM rejected ORDER BY campaign")
        assert rows.fetchall() == [(cid, "bad", 1), (99, "x", None)]
