"""Engine hooks mapped to Prometheus metrics, checked against the campaign's own totals; label
values stay low-cardinality; the engine never imports prometheus_client or opentelemetry."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from m5c_async.engine import Campaign
from m5c_async.journal import Journal
from m5c_async.observability import Metrics
from m5c_async.observability.metrics import status_label
from m5c_async.protocol import DeliveryReport, PushBatch, PushFormat, PushKind, Quarantined
from tests.engine.conftest import Rig, numbers

CONTENT = "通知【示例】"


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0 when it does not exist."""
    return registry.get_sample_value(name, labels) or 0.0


def total(registry: CollectorRegistry, name: str, **match: str) -> float:
    """The sum of a family's samples whose labels include ``match``."""
    found = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in match.items()):
                found += sample.value
    return found


def label_values(registry: CollectorRegistry) -> set[str]:
    """Every label value of every m5c sample."""
    return {
        v
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith("m5c_")
        for v in sample.labels.values()
    }


async def test_campaign_figures_match_its_result(rig: Rig) -> None:
    """A campaign with throttles, a failing node and rejected numbers: every counter agrees with
    the CampaignResult, per node too, and the gauges read the engine (watched from its first run)
    at scrape time."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    rig.platform.account("mlrt").set_rate(300)
    rig.faults["qingdao"].update({"error_ratio": 0.2})
    engine_config = {"reconcile_grace": 0.2}
    engine = rig.make(
        hooks=[metrics.engine_hooks("notification")], packet_size=1, concurrency=20, **engine_config
    )
    source = [*numbers(1500), "bad", "123", numbers(1)[0]]
    result = await engine.run_campaign(Campaign(numbers=source, content=CONTENT))
    assert result.throttled > 0 and result.rejected == 3
    assert value(registry, "m5c_messages_submitted_total", profile="notification") == 1500
    accepted = "m5c_messages_total"
    assert total(registry, accepted, outcome="accepted") == result.accepted == 1500
    for node, count in result.per_node.items():
        assert total(registry, accepted, outcome="accepted", node=node) == count
    assert total(registry, accepted, outcome="rejected") == 3
    assert total(registry, "m5c_requests_total", outcome="throttled") == result.throttled
    assert total(registry, "m5c_messages_throttled_total") == result.throttled
    requests = total(registry, "m5c_requests_total")
    assert total(registry, "m5c_request_duration_seconds_count") == requests
    assert requests == engine.stats.requests
    unsafe = total(registry, "m5c_requests_total", outcome="unsafe")
    assert unsafe == total(registry, "m5c_reconciliations_total") > 0
    assert (
        value(
            registry,
            "m5c_runs_ended_total",
            profile="notification",
            kind="campaign",
            stopped_by="none",
        )
        == 1
    )
    engine.pacer.throttled()  # the gauges are read at scrape time: they see this at once
    factor = value(registry, "m5c_pacing_factor", profile="notification")
    assert 0 < factor < 1
    assert factor == engine.pacer.aimd.factor  # type: ignore[attr-defined]
    rate = value(registry, "m5c_pacing_rate", profile="notification")
    assert rate == pytest.approx(engine.pacer.rate)
    assert value(registry, "m5c_requests_in_flight", profile="notification") == 0
    assert value(registry, "m5c_backlog_messages", profile="notification") == 0
    states = total(registry, "m5c_breaker_state")
    assert states == len(engine.client.health())


async def test_submit_and_a_stopped_run_are_counted(rig: Rig) -> None:
    """submit() messages count as submitted and accepted; a run stopped by the account counts
    under its error class, its unsent messages as pending."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    engine = rig.make(hooks=[metrics.engine_hooks("notification")], linger=0.001)
    async with engine:
        for number in numbers(5):
            await engine.submit(number, "验证码123【示例】")
    assert value(registry, "m5c_messages_submitted_total", profile="notification") == 5
    assert total(registry, "m5c_messages_total", outcome="accepted") == 5
    assert total(registry, "m5c_runs_ended_total", kind="submit") == 1
    rig.platform.account("mlrt").balance = 100
    other = rig.make(hooks=[metrics.engine_hooks("notification")], packet_size=50, concurrency=2)
    result = await other.run_campaign(Campaign(numbers=numbers(400, 100), content="x"))
    assert result.stopped_by is not None
    stopped = type(result.stopped_by).__name__
    assert total(registry, "m5c_runs_ended_total", stopped_by=stopped) == 1
    assert total(registry, "m5c_messages_total", outcome="pending") == result.pending


def _report(msgid: str, mobile: str, status: str, at: float) -> DeliveryReport:
    return DeliveryReport(
        msgid=msgid, mobile=mobile, status=status, at=datetime.fromtimestamp(at, UTC)
    )


async def test_reports_by_status_and_delivery_latency(rig: Rig) -> None:
    """Reports count by status (forged statuses under 'other'); the delivery latency is the
    report's receive time less the accepted request's departure, for msgids sent here."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    engine = rig.make(hooks=[metrics.engine_hooks("marketing")], packet_size=1)
    sent: list[tuple[str, str, float]] = []
    async with engine.open_campaign(Campaign(numbers=numbers(3), content=CONTENT)) as run:
        assert run.outcomes is not None
        async for outcome in run.outcomes:
            assert outcome.msgid is not None and outcome.sent_at is not None
            sent.append((outcome.msgid, outcome.numbers[0], outcome.sent_at))
    reports = [
        _report(sent[0][0], sent[0][1], "DELIVRD", sent[0][2] + 4.5),
        _report(sent[1][0], sent[1][1], "UNDELIV", sent[1][2] + 50),
        _report(sent[2][0], sent[2][1], "13800138000", sent[2][2] + 1),
        _report("999", "13900000000", "DELIVRD", sent[2][2] + 1),  # not sent by this process
    ]
    batch = PushBatch(
        kind=PushKind.REPORT,
        format=PushFormat.JSON,
        records=tuple(reports),
        quarantined=(
            Quarantined(
                kind=PushKind.REPORT,
                format=PushFormat.JSON,
                raw='{"mobile": "13800138000"',
                reason="unreadable",
                records=2,
                position=4,
            ),
        ),
        digest="d",
    )
    metrics.on_inbound(batch, via="push")
    assert value(registry, "m5c_reports_received_total", via="push", status="DELIVRD") == 2
    assert value(registry, "m5c_reports_received_total", via="push", status="UNDELIV") == 1
    assert value(registry, "m5c_reports_received_total", via="push", status="other") == 1
    assert value(registry, "m5c_quarantined_records_total", kind="report", via="push") == 2
    latency = "m5c_delivery_latency_seconds"
    assert value(registry, f"{latency}_count", status="DELIVRD") == 1
    assert value(registry, f"{latency}_sum", status="DELIVRD") == pytest.approx(4.5, abs=0.01)
    assert value(registry, f"{latency}_bucket", status="UNDELIV", le="30.0") == 0
    assert value(registry, f"{latency}_bucket", status="UNDELIV", le="60.0") == 1
    metrics.on_push_refused(403)
    assert value(registry, "m5c_webhook_refused_total", code="403") == 1


def test_status_labels_are_bounded() -> None:
    """Codes pass; numbers, markup and long text do not; past 32 distinct codes, 'other'."""
    seen: set[str] = set()
    assert status_label("DELIVRD", seen) == "DELIVRD"
    assert status_label("MK:0001", seen) == "MK:0001"
    assert status_label("TOO FAST", seen) == "TOO FAST"
    for bad in ("13800138000", "8613800138000", "<b>x</b>", "通知", "A" * 13, "", "ID:123456"):
        assert status_label(bad, seen) == "other"
    for i in range(40):
        status_label(f"E{i:03d}", seen)
    assert len(seen) == 32
    assert status_label("NEWCODE", seen) == "other"


async def test_no_label_value_looks_like_a_number_or_content(rig: Rig) -> None:
    """After a campaign with every kind of outcome and forged pushes, no label value holds a
    phone number, a msgid, the content or anything long."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    rig.faults["qingdao"].update({"error_ratio": 0.3})
    engine = rig.make(hooks=[metrics.engine_hooks()], packet_size=5, reconcile_grace=0.2)
    metrics.watch(engine)
    source = [*numbers(300), "bad", "+86 138 0000 0002", "1" * 30]
    result = await engine.run_campaign(Campaign(numbers=source, content=CONTENT))
    assert result.accepted == 300
    for status in ("13800138000", "DELIVRD", "a" * 200, CONTENT, "ID:12345678"):
        report = _report("1234567890123", "13800138000", status, 0)
        metrics.on_inbound(
            PushBatch(
                kind=PushKind.REPORT, format=None, records=(report,), quarantined=(), digest="x"
            ),
            via="pull",
        )
    values = label_values(registry)
    assert "accepted" in values and "rejected" in values
    for label in values:
        assert not re.search(r"\d{5}", label), label
        assert CONTENT not in label and "示例" not in label
        assert len(label) <= 40 or label.startswith("http://"), label


def test_the_engine_imports_neither_prometheus_nor_opentelemetry() -> None:
    """Importing and running the package's engine, client, journal and webhook loads neither
    optional library: only m5c_async.observability does."""
    code = (
        "import sys, m5c_async, m5c_async.engine, m5c_async.journal, m5c_async.webhook,"
        " m5c_async.client, m5c_async.observability\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('prometheus_client', 'opentelemetry'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


async def test_journal_commits_and_failed_operations_are_counted(tmp_path: Path) -> None:
    """Each group commit is observed from the writer thread; an operation that fails (rolled
    back, the others committed) counts under its error class."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    async with Journal(tmp_path / "j.db", observer=metrics) as journal:
        await journal.store.run(lambda conn: conn.execute("SELECT 1"))
        with pytest.raises(sqlite3.OperationalError):
            await journal.store.run(lambda conn: conn.execute("SELEKT 1"))
    assert value(registry, "m5c_journal_commit_seconds_count") >= 2
    assert value(registry, "m5c_journal_errors_total", error="OperationalError") == 1


def test_the_documented_alert_rules_use_metrics_that_exist() -> None:
    """Every metric the alert rules of docs/observability.md name is one this module exports,
    with labels it has; the rules file is valid YAML with an expression per rule."""
    registry = CollectorRegistry()
    Metrics(registry)
    families = {f.name: f for f in registry.collect()}
    text = (Path(__file__).parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    block = text.split("```yaml\ngroups:", 1)[1].split("```", 1)[0]
    rules = yaml.safe_load("groups:" + block)["groups"][0]["rules"]
    assert len(rules) >= 6
    labels = {
        "m5c_requests": {"node", "outcome", "profile"},
        "m5c_breaker_state": {"node", "state"},
        "m5c_pacing_factor": {"profile"},
        "m5c_delivery_latency_seconds": {"status", "le"},
        "m5c_reports_received": {"status"},
        "m5c_runs_ended": {"stopped_by"},
        "m5c_quarantined_records": set(),
        "m5c_journal_errors": {"error"},
    }
    named = set()
    for rule in rules:
        for name in re.findall(r"m5c_[a-z_]+", rule["expr"]):
            base = re.sub(r"_(total|bucket|count|sum)$", "", name)
            assert base in families, name
            named.add(base)
            used = set(re.findall(r"(\w+)\s*[!=]~?\"", rule["expr"])) | set(
                re.findall(r"by \(([\w, ]+)\)", rule["expr"])[0].split(", ")
                if "by (" in rule["expr"]
                else ()
            )
            assert used <= labels[base] | {"le"}, (name, used)
    assert named == set(labels)
