"""/metrics scraped over real HTTP while a real campaign runs against the simulator, whose reports
are pushed to the same receiver: the figures agree with the campaign's result and the journal."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import anyio
import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.journal import Journal, pull_reports
from m5c_async.observability import Metrics
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from m5c_async.webhook import WebhookReceiver
from tests.conftest import APIKEY, PASSWORD
from tests.engine.conftest import numbers
from tests.simulator.test_serving import wait_for
from tests.webhook.test_e2e import served

TOKEN = "scrape-secret-token-0123"
N = 800


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **match: str) -> float:
    """The sum of a metric's samples whose labels include ``match``."""
    want = set(match.items())
    return sum(v for (n, labels), v in samples.items() if n == name and want <= labels)


async def test_metrics_scraped_during_a_campaign_match_its_result(tmp_path: Path) -> None:
    """Scrapes during the campaign never go backwards nor past the campaign; the last one,
    after every report was pushed, matches the result (accepted, per node), the journal's
    report statuses, and has a delivery latency for every report."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    db = tmp_path / "scrape.db"
    async with Journal(db, observer=metrics) as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN, metrics=metrics)
        async with served(receiver) as port:
            base = f"http://127.0.0.1:{port}"
            account = AccountConfig(
                username="mlrt",
                password=PASSWORD,
                apikey=APIKEY,
                rate=500,
                report_push_url=f"{base}/{TOKEN}/reports",
            )
            settings = PlatformSettings(report_delay=(0.05, 0.3), push_batch=50)
            async with (
                run_simulator([account], nodes=2, settings=settings) as sim,
                AsyncClient(
                    username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
                ) as client,
                httpx.AsyncClient(base_url=base) as scraper,
            ):
                engine = SendEngine(
                    client,
                    EngineConfig(rate=500, packet_size=1, concurrency=20),
                    hooks=[metrics.engine_hooks("notification")],
                )
                seen: list[float] = []
                result = None

                async def campaign() -> None:
                    nonlocal result
                    result = await engine.run_campaign(
                        Campaign(numbers=numbers(N), content="通知【示例】")
                    )

                async with anyio.create_task_group() as tg:
                    tg.start_soon(campaign)
                    with anyio.fail_after(30):
                        while result is None:
                            answer = await scraper.get(f"/{TOKEN}/metrics")
                            assert answer.status_code == 200
                            during = parse(answer.text)
                            accepted = total(during, "m5c_messages_total", outcome="accepted")
                            assert accepted <= N
                            assert not seen or accepted >= seen[-1]
                            seen.append(accepted)
                            await anyio.sleep(0.05)
                assert result is not None
                pusher = sim.pusher
                assert pusher is not None
                await wait_for(lambda: pusher.pushed["report"] == N, seconds=20)
                assert (await scraper.get("/metrics")).status_code == 404
                assert (await scraper.get("/wrong-token-000000000/metrics")).status_code == 404
                answer = await scraper.get(f"/{TOKEN}/metrics")
    assert any(0 < s < N for s in seen), seen  # scraped while it ran
    after = parse(answer.text)
    assert answer.headers["content-type"].startswith("text/plain")
    assert result.accepted == N
    assert total(after, "m5c_messages_submitted_total") == N
    assert total(after, "m5c_messages_total", outcome="accepted") == N
    for node, count in result.per_node.items():
        assert total(after, "m5c_messages_total", outcome="accepted", node=node) == count
    assert total(after, "m5c_requests_total", outcome="throttled") == result.throttled
    with sqlite3.connect(db) as conn:
        statuses = Counter(
            dict(conn.execute("SELECT status, COUNT(*) FROM report_log GROUP BY status"))
        )
    assert sum(statuses.values()) == N
    for status, count in statuses.items():
        assert total(after, "m5c_reports_received_total", via="push", status=status) == count
    assert total(after, "m5c_delivery_latency_seconds_count") == N
    assert total(after, "m5c_delivery_latency_seconds_bucket", le="10.0") == N
    assert total(after, "m5c_journal_commit_seconds_count") > 0
    assert total(after, "m5c_journal_errors_total") == 0
    assert total(after, "m5c_webhook_refused_total", code="404") == 2
    assert total(after, "m5c_requests_in_flight") == 0
    assert total(after, "m5c_breaker_state", state="closed") == 2


async def test_metrics_need_the_token_but_not_the_push_allow_list(tmp_path: Path) -> None:
    """With an allow-list that excludes the scraper, a push from it is refused (403) while
    GET /<token>/metrics answers; POST to it is 405; metrics=False removes the route."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    async with Journal(tmp_path / "allow.db") as journal:
        receiver = WebhookReceiver(
            sink=journal, token=TOKEN, allowed_ips=["10.1.2.3"], metrics=metrics
        )
        async with served(receiver) as port, httpx.AsyncClient() as http:
            base = f"http://127.0.0.1:{port}/{TOKEN}"
            push = await http.get(f"{base}/reports", params={"data": "1,13800000000,DELIVRD,1"})
            assert push.status_code == 403
            scraped = await http.get(f"{base}/metrics")
            assert scraped.status_code == 200
            assert (await http.post(f"{base}/metrics")).status_code == 405
            assert total(parse(scraped.text), "m5c_webhook_refused_total", code="403") == 1
        off = WebhookReceiver(sink=journal, token=TOKEN, metrics=False)
        async with served(off) as port, httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/{TOKEN}/metrics")
            assert answer.status_code == 404


async def test_pulled_reports_are_counted_with_their_delivery_latency(tmp_path: Path) -> None:
    """An account without push: the journal's pull loop stores the reports and counts them by
    status under via="pull", each with a delivery latency (its msgid was sent here)."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    settings = PlatformSettings(report_delay=(0.01, 0.05))
    async with (
        Journal(tmp_path / "pull.db", observer=metrics) as journal,
        run_simulator([account], nodes=1, settings=settings) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
        ) as client,
    ):
        engine = SendEngine(
            client, EngineConfig(packet_size=5), hooks=[metrics.engine_hooks("notification")]
        )
        result = await engine.run_campaign(Campaign(numbers=numbers(30), content="x【y】"))
        assert result.accepted == 30

        def pulled() -> float:
            return sum(
                s.value
                for family in registry.collect()
                for s in family.samples
                if s.name == "m5c_reports_received_total" and s.labels["via"] == "pull"
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: pull_reports(client, journal, interval=0.05, observer=metrics))
            await wait_for(lambda: pulled() >= 30, seconds=20)
            tg.cancel_scope.cancel()
    with sqlite3.connect(tmp_path / "pull.db") as conn:
        stored = dict(conn.execute("SELECT status, COUNT(*) FROM report_log GROUP BY status"))
    reports = {
        s.labels["status"]: s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "m5c_reports_received_total"
    }
    assert sum(reports.values()) == 30
    assert reports == stored
    latency = sum(
        s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "m5c_delivery_latency_seconds_count"
    )
    assert latency == 30
