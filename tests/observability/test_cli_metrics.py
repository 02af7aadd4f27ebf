"""``--metrics-port`` on the long-running commands, scraped over real HTTP while they run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from m5c_async.simulator import free_port
from tests import doc_pushes
from tests.cli.test_cli import APIKEY, PASSWORD, SECRETS, USER, sim

__all__ = ["sim"]

TOKEN = "t0ken-for-the-metrics-test"
ADDRESS = re.compile(r"m5c metrics: (http://127\.0\.0\.1:\d+/metrics)")


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and want <= set(s.labels.items())
    )


def _first_line(proc: subprocess.Popen[str], pattern: re.Pattern[str]) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = pattern.search(line)
    assert found, line
    return found.group(1)


def _scrape_until(url: str, done: object, seconds: float = 20.0) -> str:
    """Scrape until ``done(text)`` holds (a deadline, never a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while True:
        text = httpx.get(url, timeout=5).text
        if done(text):  # type: ignore[operator]
            return text
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.05)


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """``m5c webhook serve --journal --metrics-port 0``: the process, its metrics URL, its port."""
    port = free_port()
    args = ["webhook", "serve", "--port", str(port), "--journal", str(tmp_path / "hook.db")]
    with subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *args, "--token", TOKEN, "--metrics-port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            url = _first_line(proc, ADDRESS)
            assert proc.stderr is not None
            ready = proc.stderr.readline()
            assert "/metrics" in ready, ready
            yield proc, url, port
        finally:
            if proc.poll() is None:
                proc.kill()


def test_webhook_serve_counts_pushes_on_its_metrics_port(
    webhook: tuple[subprocess.Popen[str], str, int],
) -> None:
    """The document's §7 string push (one report read, one part quarantined) shows on the
    metrics port and on /<token>/metrics alike; Ctrl-C still stops it within two seconds."""
    proc, url, port = webhook
    query = doc_pushes.REPORT_STRING_URL.split("?", 1)[1]
    deadline = time.monotonic() + 10
    while True:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/{TOKEN}/reports?{query}", timeout=5)
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert answer.text == "success"
    text = _scrape_until(url, lambda t: value(t, "m5c_reports_received_total") == 1)
    assert value(text, "m5c_reports_received_total", via="push", status="DELIVRD") == 1
    assert value(text, "m5c_quarantined_records_total", kind="report", via="push") == 1
    assert value(text, "m5c_journal_commit_seconds_count") > 0
    same = httpx.get(f"http://127.0.0.1:{port}/{TOKEN}/metrics", timeout=5)
    assert value(same.text, "m5c_reports_received_total", status="DELIVRD") == 1
    assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 404
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    assert time.monotonic() - began < 2.0


def test_campaign_run_serves_metrics_while_it_sends(sim: str, tmp_path: Path) -> None:
    """A journaled campaign at 100 msg/s with --metrics-port 0: scraped mid-way (some accepted,
    not all), then it finishes with every number accepted; no secret on stderr."""
    numbers = tmp_path / "n.txt"
    numbers.write_text("\n".join(f"136{i:08d}" for i in range(300)) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("M5C_")}
    env.update(M5C_USERNAME=USER, M5C_PASSWORD=PASSWORD, M5C_APIKEY=APIKEY, M5C_BASE_URL=sim)
    args = [
        "campaign", "run", "--content", "hi【签名】", "--numbers", str(numbers),
        "--journal", str(tmp_path / "c.db"), "--packet-size", "1", "--rate", "100",
        "--metrics-port", "0", "--json",
    ]  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            url = _first_line(proc, ADDRESS)
            text = _scrape_until(
                url, lambda t: 0 < value(t, "m5c_messages_total", outcome="accepted") < 300
            )
            assert value(text, "m5c_messages_submitted_total", profile="notification") >= 1
            assert value(text, "m5c_pacing_rate", profile="notification") > 0
            assert value(text, "m5c_journal_commit_seconds_count") > 0
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert '"accepted":300' in out.replace(" ", "")
    for secret in SECRETS:
        assert secret not in out + err


def test_metrics_port_needs_a_port() -> None:
    """A port out of range is a usage error (exit 2) before anything is sent."""
    done = subprocess.run(
        [sys.executable, "-m", "m5c_async", "webhook", "serve", "--insecure",
         "--metrics-port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--metrics-port 70000" in done.stderr
