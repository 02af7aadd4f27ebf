"""``m5c demo`` end to end, small: the campaign goes through a journal, the dashboard's URL is
printed while it runs, and its screenshot lands beside the chart."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from m5c_async.cli._demo import run_demo
from m5c_async.dashboard import JournalReader


async def test_a_small_demo_writes_the_journal_the_chart_and_the_dashboard(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo-output"
    printed = io.StringIO()
    console = Console(file=printed, width=200)
    summary = await run_demo(out, numbers=600, down_at=0.3, down_for=0.3, console=console)
    text = printed.getvalue()
    assert re.search(r"live dashboard: http://127\.0\.0\.1:\d+/", text)
    assert summary["accepted"] == 600
    assert summary["delivered"] + summary["undelivered"] == summary["reports_stored"] == 600
    assert json.loads((out / "summary.json").read_text()) == summary
    # The simulator ran in a process of its own, measuring its loop (its stamps' error).
    assert re.search(r"simulator nodes .* \(process \d+\)", text)
    assert (out / "simulator.log").exists()
    assert summary["simulator_loop_lag_ms"] >= 0
    assert summary["margin"] == 0.02
    assert (out / "dashboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "rate-per-node.png").exists()
    snap = JournalReader(out / "demo.db").snapshot()
    assert snap is not None
    assert snap["funnel"]["delivered"] == summary["delivered"]
    assert snap["replies"]["count"] == 3
    assert "m5c dashboard --journal" in text


async def test_screenshot_without_playwright_or_without_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Playwright, Chromium's own --screenshot takes it; without Chromium, one line says
    so and the demo goes on."""
    import sys

    from m5c_async.cli import _demo
    from m5c_async.dashboard import DashboardApp
    from m5c_async.journal import Journal
    from tests.dashboard.test_app import served

    path = tmp_path / "j.db"
    async with Journal(path):
        pass
    printed = io.StringIO()
    console = Console(file=printed, width=200)
    async with served(DashboardApp(JournalReader(path))) as url:
        monkeypatch.setitem(sys.modules, "playwright.async_api", None)
        shot = await _demo._screenshot(url + "/", tmp_path / "a.png", 0, console)
        assert shot == tmp_path / "a.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        monkeypatch.setattr(_demo, "CHROMIUM", str(tmp_path / "no-chromium"))
        monkeypatch.setenv("PATH", str(tmp_path))
        assert await _demo._screenshot(url + "/", tmp_path / "b.png", 0, console) is None
    assert printed.getvalue() == "no chromium found: the dashboard screenshot is skipped\n"
    assert not (tmp_path / "b.png").exists()


def test_a_demo_whose_simulator_dies_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's task group wraps the simulator's error: the user meets it in one line."""
    import anyio

    from m5c_async.cli import _demo
    from m5c_async.cli._main import main
    from m5c_async.simulator import SimulatorExitedError

    async def dying(out: Path, *, numbers: int) -> None:
        async with anyio.create_task_group():
            raise SimulatorExitedError(-9)

    monkeypatch.setattr(_demo, "run_demo", dying)
    assert main(["demo", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "m5c: demo: the simulator exited while in use (code -9)\n"
