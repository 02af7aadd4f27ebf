"""``m5c demo`` (``make demo``): a real campaign over loopback HTTP to the embedded simulator.

Starts the four-node simulator and a webhook receiver, sends a notification campaign at the real
600 msg/s with a live progress bar, takes the Qingdao node down mid-run to show failover, waits
for the delivery reports pushed to the receiver, then prints a summary table and writes a chart
of messages/s per node and a JSON summary to the output folder. It stops everything it started.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..client import AsyncClient
from ..engine import Campaign, EngineConfig, SendEngine
from ..protocol import DeliveryReport
from ..simulator import DEMO_ACCOUNT, AccountConfig, PlatformSettings, free_port, run_simulator
from ..simulator._serve import _EmbeddedServer
from ..webhook import WebhookReceiver

__all__ = ["run_demo"]


async def run_demo(
    out: Path,
    *,
    numbers: int = 20_000,
    packet_size: int = 20,
    down_at: float = 10.0,
    down_for: float = 8.0,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the demo campaign; return the summary it also writes to ``out/summary.json``."""
    import uvicorn

    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    stored: dict[tuple[str, str], str] = {}
    duplicate_reports = 0

    async def store(batch: list[DeliveryReport]) -> None:
        nonlocal duplicate_reports
        for report in batch:
            key = (report.msgid, report.mobile)
            if key in stored:
                duplicate_reports += 1
            stored[key] = report.status

    token = secrets.token_urlsafe(24)
    receiver = WebhookReceiver(on_reports=store, token=token)
    hook_port = free_port()
    hook = _EmbeddedServer(
        uvicorn.Config(
            receiver, host="127.0.0.1", port=hook_port, log_level="error", lifespan="off"
        )
    )
    account = AccountConfig(
        username=DEMO_ACCOUNT.username,
        password=DEMO_ACCOUNT.password,
        apikey=DEMO_ACCOUNT.apikey,
        report_push_url=f"http://127.0.0.1:{hook_port}/{token}/reports",
    )
    summary: dict[str, Any] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(hook.serve)
        while not hook.started:
            await anyio.sleep(0.01)
        async with run_simulator([account], nodes=4, settings=PlatformSettings()) as sim:
            console.print(
                f"[bold]m5c demo[/]: simulator nodes {', '.join(sim.base_urls)}; "
                f"webhook http://127.0.0.1:{hook_port}/<token>/reports"
            )
            async with AsyncClient(
                username=account.username,
                password=account.password,
                apikey=account.apikey,
                nodes=sim.base_urls,
            ) as client:
                engine = SendEngine(client, EngineConfig(packet_size=packet_size), hooks=[])
                campaign = Campaign(
                    numbers=(f"1{3 + i % 7}{i:09d}" for i in range(numbers)),
                    content="【m5c演示】您的订单已发货，回复TD退订",
                    name="demo",
                )
                result = await _run_with_progress(
                    console, sim, engine, campaign, numbers, down_at, down_for
                )
                console.print("waiting for the delivery reports pushed to the webhook…")
                with anyio.move_on_after(30):
                    while len(stored) < result.accepted:
                        await anyio.sleep(0.2)
            stats = sim.platform.snapshot()
        hook.should_exit = True
    statuses = Counter(stored.values())
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
        "reports_stored": len(stored),
        "duplicate_reports": duplicate_reports,
        "delivered": statuses.get("DELIVRD", 0),
        "undelivered": sum(v for k, v in statuses.items() if k != "DELIVRD"),
        "per_node": {n: c.get("accepted", 0) for n, c in stats["per_node"].items()},
        "seconds": round(result.seconds, 1),
        "rate": round(result.accepted / max(result.seconds, 1e-9), 1),
    }
    _table(console, summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    chart = _chart(out / "rate-per-node.png", stats["per_node_second"], down_at, down_for)
    console.print(f"wrote {out / 'summary.json'}" + (f" and {chart}" if chart else ""))
    return summary


async def _run_with_progress(
    console: Console,
    sim: Any,
    engine: SendEngine,
    campaign: Campaign,
    total: int,
    down_at: float,
    down_for: float,
) -> Any:
    progress = Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[rate]:>6.0f} msg/s"),
        TextColumn("throttled {task.fields[throttled]}"),
        TextColumn("{task.fields[health]}"),
        TimeRemainingColumn(),
        console=console,
    )
    task = progress.add_task("sending", total=total, rate=0.0, throttled=0, health="")
    result: Any = None

    async def chaos() -> None:
        await anyio.sleep(down_at)
        console.print(f"[yellow]t={down_at:.0f}s: taking the Qingdao node down[/]")
        await sim.set_faults("qingdao", down=True)
        await anyio.sleep(down_for)
        console.print(f"[green]t={down_at + down_for:.0f}s: Qingdao is back[/]")
        await sim.set_faults("qingdao", down=False)

    async def run() -> None:
        nonlocal result
        result = await engine.run_campaign(campaign)
        tg.cancel_scope.cancel()

    with progress:
        async with anyio.create_task_group() as tg:
            tg.start_soon(chaos)
            tg.start_soon(run)
            while True:
                stats = engine.stats
                health = " ".join(
                    f"{name.rsplit(':', 1)[-1]}:{state[0]}"
                    for name, state in engine.client.health().items()
                )
                progress.update(
                    task,
                    completed=stats.accepted + stats.pending + stats.failed,
                    rate=stats.rate(engine.clock()),
                    throttled=stats.throttled,
                    health=health,
                )
                await anyio.sleep(0.25)
    return result


def _table(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="m5c demo: summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in (
        "numbers", "accepted", "delivered", "undelivered", "pending", "failed", "ambiguous",
        "reconciled", "throttled_replies", "duplicates", "reports_stored", "duplicate_reports",
        "seconds", "rate",
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
