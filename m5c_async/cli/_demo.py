"""``m5c demo`` (``make demo``): a real campaign over loopback HTTP to a local simulator.

Starts the four-node simulator (in a process of its own, as the real platform is elsewhere), a
webhook receiver storing into a journal (``demo.db`` in the output folder) and the live
dashboard of that journal (its URL is printed), sends a notification campaign through the
journal at the real 600 msg/s with a live progress bar, takes the Qingdao node down mid-run to
show failover, waits for the delivery reports pushed to the receiver, then prints a summary
table and writes a chart of messages/s per node, a screenshot of the dashboard (headless
Chromium), a JSON summary and the simulator's log to the output folder. It stops everything it
started.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.table import Table

from ..client import AsyncClient
from ..dashboard import DashboardApp, JournalReader, dashboard_config
from ..engine import Campaign, EngineConfig
from ..journal import Journal, run_campaign
from ..protocol import PushBatch
from ..simulator import DEMO_ACCOUNT, EmbeddedServer, SpawnedSimulator, free_port, spawn_simulator
from ..webhook import WebhookReceiver
from ._progress import ProgressHooks, with_progress

__all__ = ["DEMO_MARGIN", "run_demo"]

#: The share of the rate the demo keeps unused. One 2-core machine runs the sender, its journal,
#: the webhook receiver, the dashboard and the simulator: the simulator's loop was measured up
#: to 10 ms late, and its arrival stamps with it, where the default 0.8% absorbs about 7 ms at
#: 600 msg/s (docs/benchmarks.md); 2% absorbs 20 ms, for 1.2% of goodput.
DEMO_MARGIN = 0.02


async def run_demo(
    out: Path,
    *,
    numbers: int = 20_000,
    packet_size: int = 20,
    down_at: float = 10.0,
    down_for: float = 8.0,
    margin: float = DEMO_MARGIN,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the demo campaign; return the summary it also writes to ``out/summary.json``."""
    import uvicorn

    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    db = out / "demo.db"
    for stale in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
        stale.unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    hook_port, board_port = free_port(), free_port()
    account = DEMO_ACCOUNT
    board_url = f"http://127.0.0.1:{board_port}/"
    async with Journal(db) as journal, anyio.create_task_group() as tg:
        sink = _CountingSink(journal)
        hook = EmbeddedServer(
            uvicorn.Config(
                WebhookReceiver(sink=sink, token=token),
                host="127.0.0.1",
                port=hook_port,
                log_level="error",
                lifespan="off",
            )
        )
        board = EmbeddedServer(
            dashboard_config(
                DashboardApp(JournalReader(db), interval=1.0),
                host="127.0.0.1",
                port=board_port,
                log_level="error",
            )
        )
        for server in (hook, board):
            tg.start_soon(server.serve)
        while not (hook.started and board.started):
            await anyio.sleep(0.01)
        # The platform in a process of its own, as the real one is on another machine: it
        # stamps arrivals on its own event loop, not on this one (which also runs the
        # journal, the receiver and the dashboard).
        async with spawn_simulator(["--measure-lag"], nodes=4, log=out / "simulator.log") as sim:
            await sim.set_account(
                account.username,
                report_push_url=f"http://127.0.0.1:{hook_port}/{token}/reports",
                reply_push_url=f"http://127.0.0.1:{hook_port}/{token}/replies",
            )
            console.print(
                f"[bold]m5c demo[/]: simulator nodes {', '.join(sim.base_urls)}"
                f" (process {sim.pid}); webhook http://127.0.0.1:{hook_port}/<token>/reports"
            )
            console.print(f"[bold]live dashboard[/]: {board_url} (open it while the demo runs)")
            async with AsyncClient(
                username=account.username,
                password=account.password,
                apikey=account.apikey,
                nodes=sim.base_urls,
            ) as client:
                campaign = Campaign(
                    numbers=(f"1{3 + i % 7}{i:09d}" for i in range(numbers)),
                    content="【m5c演示】您的订单已发货，回复TD退订",
                    name="demo",
                )
                result = await _run_with_progress(
                    console,
                    sim,
                    client,
                    journal,
                    campaign,
                    EngineConfig(packet_size=packet_size, margin=margin),
                    numbers,
                    down_at,
                    down_for,
                )
                for i, text in enumerate(_REPLIES):
                    await sim.inject_reply(account.username, f"1{3 + i % 7}{i:09d}", text)
                console.print("waiting for the delivery reports and replies pushed to the webhook…")
                with anyio.move_on_after(30):
                    while True:
                        status = await journal.status()
                        if not status.no_report and status.replies >= len(_REPLIES):
                            break
                        await anyio.sleep(0.5)
            stats = await sim.stats()
        status = await journal.status()
        shot = await _screenshot(board_url, out / "dashboard.png", status.delivered, console)
        hook.should_exit = board.should_exit = True
    summary = {
        "numbers": numbers,
        "accepted": result.accepted,
        "pending": result.pending,
        "failed": result.failed,
        "ambiguous": result.ambiguous,
        "reconciled": result.reconciled,
        "throttled_replies": stats["throttled"],
        "duplicates": stats["duplicates"],
        "platform_accepted": stats["accepted"],
        "reports_stored": status.delivered + status.undelivered,
        "duplicate_reports": sink.duplicates,
        "delivered": status.delivered,
        "undelivered": status.undelivered,
        "per_node": {n: c.get("accepted", 0) for n, c in stats["per_node"].items()},
        "seconds": round(result.seconds, 1),
        "rate": round(result.accepted / max(result.seconds, 1e-9), 1),
        # How late the simulator's loop ran at worst: the error in its arrival stamps, which
        # the margin must cover (DEMO_MARGIN).
        "simulator_loop_lag_ms": stats.get("loop_lag", {}).get("max_ms"),
        "margin": margin,
    }
    _table(console, summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    chart = _chart(out / "rate-per-node.png", stats["per_node_second"], down_at, down_for)
    written = [p for p in (out / "summary.json", chart, shot) if p is not None]
    console.print("wrote " + ", ".join(str(p) for p in written))
    console.print(f"see the journal again: m5c dashboard --journal {db}")
    return summary


#: Replies the demo's handsets send once the campaign is out (shown by the dashboard).
_REPLIES = ("收到，谢谢", "TD", "<b>什么时候到？</b>")


class _CountingSink:
    """The journal as the receiver's sink, counting reports pushed again (already stored)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.duplicates = 0

    async def store_push(self, batch: PushBatch[Any], *, peer: str | None = None) -> object:
        counts = await self.journal.store_push(batch, peer=peer)
        self.duplicates += counts.duplicates
        return counts


async def _run_with_progress(
    console: Console,
    sim: SpawnedSimulator,
    client: AsyncClient,
    journal: Journal,
    campaign: Campaign,
    config: EngineConfig,
    total: int,
    down_at: float,
    down_for: float,
) -> Any:
    hooks = ProgressHooks()

    async def chaos() -> None:
        await anyio.sleep(down_at)
        console.print(f"[yellow]t={down_at:.0f}s: taking the Qingdao node down[/]")
        await sim.set_faults("qingdao", down=True)
        await anyio.sleep(down_for)
        console.print(f"[green]t={down_at + down_for:.0f}s: Qingdao is back[/]")
        await sim.set_faults("qingdao", down=False)

    async def work() -> Any:
        _, result = await run_campaign(client, journal, campaign, config, hooks=[hooks])
        return result

    return await with_progress(console, hooks, client, total, work, beside=chaos)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


async def _screenshot(url: str, path: Path, delivered: int, console: Console) -> Path | None:
    """The dashboard in headless Chromium once it shows ``delivered``; None (said in one line)
    when there is no Chromium or it fails. Playwright drives it when installed (the dev extra),
    else Chromium's own ``--screenshot``."""
    chromium = shutil.which("chromium") or shutil.which(CHROMIUM)
    if chromium is None:
        console.print("no chromium found: the dashboard screenshot is skipped")
        return None
    try:
        with anyio.fail_after(60):
            try:
                from playwright.async_api import async_playwright
            except ImportError:
                await _cli_screenshot(chromium, url, path)
                return path
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                    await page.goto(url)
                    await page.wait_for_function(
                        "() => document.getElementById('delivered').textContent"
                        f" === '{delivered:,}'",
                        timeout=30_000,
                    )
                    await page.screenshot(path=str(path), full_page=True)
                finally:
                    await browser.close()
    except Exception as exc:
        console.print(f"dashboard screenshot failed ({type(exc).__name__}: {exc}); skipped")
        return None
    return path


async def _cli_screenshot(chromium: str, url: str, path: Path) -> None:
    await anyio.run_process(
        [
            chromium,
            *CHROMIUM_ARGS,
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "--virtual-time-budget=5000",
            f"--screenshot={path}",
            url,
        ],
        check=True,
    )


def _table(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="m5c demo: summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in (
        "numbers", "accepted", "delivered", "undelivered", "pending", "failed", "ambiguous",
        "reconciled", "throttled_replies", "duplicates", "reports_stored", "duplicate_reports",
        "seconds", "rate", "margin", "simulator_loop_lag_ms",
    ):  # fmt: skip
        table.add_row(key.replace("_", " "), str(summary[key]))
    for node, count in sorted(summary["per_node"].items()):
        table.add_row(f"accepted via {node}", str(count))
    console.print(table)


def _chart(
    path: Path, per_node_second: dict[str, dict[str, int]], down_at: float, down_for: float
) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(9, 4))
    seconds = [int(k) for series in per_node_second.values() for k in series]
    xs = list(range(min(seconds, default=0), max(seconds, default=0) + 1))
    for node, series in sorted(per_node_second.items()):
        # A second without traffic on a node is a zero, not a gap to draw across.
        ax.plot(xs, [series.get(str(x), 0) for x in xs], label=node, marker=".")
    ax.axvspan(down_at, down_at + down_for, color="grey", alpha=0.2, label="Qingdao down")
    ax.axhline(600, color="red", linestyle="--", linewidth=0.8, label="cap 600 msg/s")
    ax.set_xlabel("seconds since the simulator started")
    ax.set_ylabel("messages accepted per second")
    ax.set_title("m5c demo: accepted messages per second, per node")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
