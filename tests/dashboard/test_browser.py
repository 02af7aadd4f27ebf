"""The dashboard as a person sees it: Debian's Chromium (driven by Playwright, never a downloaded
browser) follows a real campaign against the simulator while it runs, and at the end shows what
the journal counts. The screenshot is kept in ``test-artifacts/dashboard.png``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
from playwright.async_api import Page, async_playwright

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, CampaignResult, EngineConfig
from m5c_async.journal import Journal, run_campaign
from m5c_async.simulator import AccountConfig, PlatformSettings, free_port, run_simulator
from m5c_async.webhook import WebhookReceiver
from tests.conftest import APIKEY, PASSWORD
from tests.simulator.test_serving import serve

from .conftest import DOC_PUSH, XSS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
N = 400
#: Deadlines (ms) for what the page must show; generous, as both cores may be busy.
SHOWN = 60_000


async def _number(page: Page, element: str) -> int:
    return int((await page.text_content(f"#{element}") or "").replace(",", ""))


async def _shown(page: Page, condition: str) -> None:
    """Wait until the page's own state satisfies ``condition`` (a JS expression over ``n(id)``,
    the number an element shows, and ``t(id)``, its text)."""
    await page.wait_for_function(
        "() => { const t = (id) => document.getElementById(id).textContent;"
        " const n = (id) => Number(t(id).replace(/,/g, ''));"
        f" return {condition}; }}",
        timeout=SHOWN,
    )


async def test_chromium_follows_a_live_campaign_and_ends_on_the_journals_counts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.db"
    port = free_port()
    async with Journal(path) as journal:
        receiver = WebhookReceiver(sink=journal, insecure=True)
        async with serve(receiver) as hook:
            account = AccountConfig(
                username="mlrt",
                password=PASSWORD,
                apikey=APIKEY,
                report_push_url=hook + "/reports",
                reply_push_url=hook + "/replies",
            )
            settings = PlatformSettings(report_delay=(0.05, 1.5))
            async with (
                run_simulator([account], nodes=2, settings=settings) as sim,
                AsyncClient(
                    username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
                ) as client,
            ):
                await sim.set_faults(sim.node_names[0], throttle_ratio=0.05)
                with _dashboard(path, port) as dashboard:
                    try:
                        url = await _ready(dashboard, port)
                        await _watch(url, tmp_path, journal, client, sim, hook)
                    finally:
                        dashboard.terminate()
                        dashboard.wait(timeout=10)


def _dashboard(path: Path, port: int) -> subprocess.Popen[str]:
    """``m5c dashboard`` on ``port``, updating four times a second."""
    command = ["dashboard", "--journal", str(path), "--port", str(port), "--interval", "0.25"]
    return subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *command],
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("M5C_")},
    )


async def _ready(dashboard: subprocess.Popen[str], port: int) -> str:
    assert dashboard.stderr is not None
    line = await anyio.to_thread.run_sync(dashboard.stderr.readline)
    url = f"http://127.0.0.1:{port}/"
    assert line.startswith(f"m5c dashboard ready: {url}")
    async with httpx.AsyncClient(timeout=10) as http:
        with anyio.fail_after(30):
            while True:
                try:
                    await http.get(url)
                    return url
                except httpx.ConnectError:
                    await anyio.sleep(0.05)


async def _watch(
    url: str, tmp_path: Path, journal: Journal, client: AsyncClient, sim: Any, hook: str
) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            troubles: list[str] = []
            page.on("pageerror", lambda exc: troubles.append(f"page error: {exc}"))
            page.on("dialog", lambda dialog: troubles.append(f"dialog: {dialog.message}"))
            page.on(
                "console",
                lambda m: troubles.append(m.text) if m.type in ("error", "warning") else None,
            )
            await page.goto(url)
            # Before the campaign: the journal has none, and the page says so.
            await page.wait_for_function(
                "() => Number(document.body.dataset.updates || 0) >= 1", timeout=SHOWN
            )
            assert await page.is_visible("#empty")
            assert await page.text_content("#journal") == "live.db"

            result: list[CampaignResult] = []
            async with anyio.create_task_group() as tg:

                async def send() -> None:
                    numbers = [f"137{i:08d}" for i in range(N)]
                    _, outcome = await run_campaign(
                        client,
                        journal,
                        Campaign(numbers=numbers, content="您的验证码是1234【测试】"),
                        EngineConfig(packet_size=10, rate=100),
                    )
                    result.append(outcome)

                tg.start_soon(send)
                # Live: the page follows the campaign while it runs.
                await _shown(page, f"n('total') === {N} && n('sent') > 0 && n('sent') < {N}")
                mid = await _number(page, "sent")
                updates = int(await page.get_attribute("body", "data-updates") or 0)
                await _shown(page, f"n('sent') > {mid}")
                assert int(await page.get_attribute("body", "data-updates") or 0) > updates
                assert not await page.is_visible("#empty")
            [done] = result
            assert done.accepted == N

            # A reply with markup from a number of the campaign, and a push that cannot be read.
            sim.platform.inject_reply("mlrt", "13700000007", XSS)
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.post(hook + "/reports", data={"data": DOC_PUSH})
                assert answer.text == "success"
            with anyio.fail_after(30):
                while True:
                    status = await journal.status()
                    if status.no_report == 0 and status.replies == 1:
                        break
                    await anyio.sleep(0.1)

            # The end: the page shows the journal's counts.
            await _shown(
                page,
                f"n('delivered') === {status.delivered} && n('replies-count') === 1"
                " && n('quarantine-held') === 1",
            )
            shown = {
                name: await _number(page, name)
                for name in (
                    "total", "sent", "pending", "in-flight", "accepted", "failed", "ambiguous",
                    "delivered", "undelivered", "awaiting", "contested", "throttled-total",
                    "errors-total",
                )
            }  # fmt: skip
            assert shown == {
                "total": status.total,
                "sent": status.accepted + status.failed + status.ambiguous,
                "pending": status.pending,
                "in-flight": status.in_flight,
                "accepted": status.accepted,
                "failed": status.failed,
                "ambiguous": status.ambiguous,
                "delivered": status.delivered,
                "undelivered": status.undelivered,
                "awaiting": 0,
                "contested": status.contested,
                "throttled-total": done.throttled,
                "errors-total": _refused(journal.path) - done.throttled,
            }
            assert status.total == N and status.delivered + status.undelivered == N
            failures = await page.locator("#top-failures li").all_text_contents()
            for code, count in sorted(status.undelivered_by_status.items())[:5]:
                assert any(f.startswith(code) and f.endswith(f"{count:,}") for f in failures)
            legend = await page.text_content("#rate-legend") or ""
            for node, count in done.per_node.items():
                assert f"{node.removeprefix('http://')} {count:,}" in legend

            # The reply is shown as the text it is: nothing of it ran, its number is masked.
            cells = await page.locator("#replies tbody td").all_text_contents()
            assert XSS in cells and "137****0007" in cells
            assert "13700000007" not in (await page.content())
            assert await page.title() == "m5c dashboard"
            assert await page.evaluate("() => window.__pwned === undefined")
            held = await page.locator("#quarantine td.raw").all_text_contents()
            assert len(held) == 1 and "138****9988" in held[0]
            assert troubles == []

            ARTIFACTS.mkdir(exist_ok=True)
            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            shutil.copy(shot, ARTIFACTS / "dashboard.png")
        finally:
            await browser.close()


def _refused(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        count = int(conn.execute("SELECT COUNT(*) FROM request_log").fetchone()[0])
    conn.close()
    return count
