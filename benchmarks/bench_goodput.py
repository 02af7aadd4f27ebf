"""Goodput at the caps, under each of the simulator's limiters, measured at the receiver.

Target (issue 16): for each profile, packet size and limiter, goodput >= 99% of the cap, zero
throttle replies, zero duplicates, and no one-second window above the cap. The simulator runs in
its own process and counts by arrival, with the packet reading of docs/protocol.md ("Rates"): a
packet of n messages counts as n messages at the cap's pace from its arrival. Goodput is the
messages accepted over the receiver's span: from the first message's time to the last one's
(plus one interval), both under that reading, so a sender's start-up and gaps count against it.

    .venv/bin/python benchmarks/bench_goodput.py --profile notification --packet-size 1 \\
        --limiter sliding --seconds 60
    .venv/bin/python benchmarks/bench_goodput.py --all --seconds 60     # every combination
    .venv/bin/python benchmarks/bench_goodput.py --all --packets 1 --margin 0.008   # a tradeoff
    .venv/bin/python benchmarks/bench_goodput.py --packet-size 1 --observe   # metrics + traces on
    .venv/bin/python benchmarks/bench_goodput.py --packet-size 1 --observe metrics   # one of them

``--observe`` runs the engine with Prometheus metrics (``EngineMetrics``, its registry rendered
once a second as a scraper would) and OpenTelemetry tracing (``TracingHooks`` into the SDK with a
batch span processor and an exporter that drops what it is given), so the CPU figure includes
what observability costs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import anyio
import httpx
from _common import ACCOUNT, cpu_seconds, simulator, stats, write

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.protocol import PROFILES, BusinessType, Limiter

#: (profile, packet size): personalized packets hold one message (§3.6).
COMBINATIONS = [
    ("notification", 1),
    ("notification", 10_000),
    ("personalized", 1),
    ("marketing", 1),
    ("marketing", 10_000),
]


def _loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def _receiver_series(ledger: list[dict[str, Any]], rate: float) -> list[float]:
    """Every accepted message's time under the packet reading, from the ledger's arrivals."""
    times = []
    for entry in ledger:
        n = len(entry["mobiles"])
        times.extend(entry["at"] + i / int(rate) for i in range(n))
    return sorted(times)


def _observers(profile: str, which: str) -> tuple[list[Any], Any, Any]:
    """Metrics and/or tracing hooks, a scrape of the registry, and what shuts tracing down."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from prometheus_client import CollectorRegistry, generate_latest

    from m5c_async.observability import Metrics, TracingHooks

    class Dropping(SpanExporter):
        """Takes every span and keeps none (a collector's cost is not the engine's)."""

        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Any) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    registry = CollectorRegistry()
    provider = TracerProvider()
    exporter = Dropping()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    hooks: list[Any] = []
    if which in ("all", "metrics"):
        hooks.append(Metrics(registry).engine_hooks(profile))
    if which in ("all", "tracing"):
        hooks.append(TracingHooks(provider))

    def scrape() -> int:
        return len(generate_latest(registry))

    def close() -> int:
        provider.shutdown()
        return exporter.spans

    return hooks, scrape, close


def run_one(
    profile_name: str,
    packet: int,
    limiter: str,
    seconds: float,
    margin: float,
    observe: str | None = None,
) -> dict[str, Any]:
    """One campaign against a fresh simulator; returns the result row."""
    profile = PROFILES[BusinessType(profile_name)]
    total = max(int(profile.rate * seconds), 2 * packet)
    total = -(-total // packet) * packet if packet > 1 else total
    spec = f"{ACCOUNT.username}:{ACCOUNT.password}:{ACCOUNT.apikey}:{profile_name}"
    load_before = _loadavg()
    with simulator(["--account", spec, "--no-reports", "--limiter", limiter]) as urls:
        hooks, scrape, close = _observers(profile_name, observe) if observe else ([], None, None)
        scrapes = [0]

        async def scraper() -> None:
            while True:
                await anyio.sleep(1.0)
                scrape()
                scrapes[0] += 1

        async def run() -> tuple[Any, float, float, int]:
            async with AsyncClient(
                username=ACCOUNT.username,
                password=ACCOUNT.password,
                apikey=ACCOUNT.apikey,
                nodes=urls,
                max_connections=profile.concurrency,
            ) as client:
                config = EngineConfig(profile=profile.kind, packet_size=packet, margin=margin)
                engine = SendEngine(client, config, hooks=hooks)
                if profile.kind is BusinessType.PERSONALIZED:
                    campaign = Campaign(
                        messages=(
                            (f"138{i:08d}", f"您好，第{i}位客户【示例】") for i in range(total)
                        )
                    )
                else:
                    campaign = Campaign(
                        numbers=(f"138{i:08d}" for i in range(total)), content="通知【示例】"
                    )
                cpu0, t0 = cpu_seconds(), time.monotonic()
                async with anyio.create_task_group() as tg:
                    if scrape is not None:
                        tg.start_soon(scraper)
                    result = await engine.run_campaign(campaign)
                    tg.cancel_scope.cancel()
                # Spans still queued are exported inside the measured time.
                spans = close() if close is not None else 0
                return result, cpu_seconds() - cpu0, time.monotonic() - t0, spans

        result, cpu, wall, spans = anyio.run(run, backend_options={"use_uvloop": True})
        s = stats(urls[0])
        ledger = httpx.get(urls[0] + "/_sim/ledger", timeout=60).json()
    account = s["accounts"][ACCOUNT.username]
    times = _receiver_series(ledger, profile.rate)
    span = times[-1] - times[0] + 1 / profile.rate if times else 0.0
    goodput = len(times) / span if span else 0.0
    first_second = sum(1 for t in times if t < times[0] + 1.0) if times else 0
    return {
        "profile": profile_name,
        "packet_size": packet,
        "limiter": limiter,
        "margin": margin,
        "cap_msg_per_s": profile.rate,
        "messages": total,
        "accepted_by_platform": s["accepted"],
        "throttled_replies": s["throttled"],
        "duplicates": s["duplicates"],
        "max_window": account["max_window"],
        "first_second": first_second,
        "goodput_msg_per_s": round(goodput, 2),
        "goodput_pct_of_cap": round(100 * goodput / profile.rate, 2),
        "engine_cpu_pct_of_one_core": round(100 * cpu / wall, 1),
        # The same CPU per message, at the cap's rate: what a run that kept up would use (on a
        # loaded machine the engine may fall behind the cap, and the first figure with it).
        "engine_cpu_us_per_message": round(1e6 * cpu / total, 1),
        "engine_cpu_pct_at_cap": round(100 * cpu / total * profile.rate, 1),
        "seconds": round(wall, 1),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "engine_accepted": result.accepted,
        "observe": observe or "off",
        "spans_exported": spans,
        "scrapes": scrapes[0],
    }


def _ok(row: dict[str, Any]) -> bool:
    return (
        row["throttled_replies"] == 0
        and row["duplicates"] == 0
        and row["accepted_by_platform"] == row["messages"]
        and row["max_window"] <= row["cap_msg_per_s"]
        and row["goodput_pct_of_cap"] >= 99.0
    )


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| profile | packet | limiter | margin | goodput msg/s | % of cap | max window"
        " | first second | throttles | load avg (before → after) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['profile']} ({r['cap_msg_per_s']:g}/s) | {r['packet_size']:,} | {r['limiter']}"
            f" | {r.get('margin', 0.01):g} | {r['goodput_msg_per_s']}"
            f" | {r['goodput_pct_of_cap']}% | {r['max_window']}"
            f" | {r['first_second']} | {r['throttled_replies']}"
            f" | {r['loadavg_before']} → {r['loadavg_after']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--profile", choices=[b.value for b in BusinessType], default="notification"
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--packet-size", type=int, default=1)
    parser.add_argument("--limiter", choices=[k.value for k in Limiter], default="sliding")
    parser.add_argument("--all", action="store_true", help="every profile, packet and limiter")
    parser.add_argument("--margin", type=float, default=EngineConfig().margin)
    parser.add_argument("--packets", type=int, nargs="*", help="with --all: only these sizes")
    parser.add_argument(
        "--observe",
        nargs="?",
        const="all",
        choices=["all", "metrics", "tracing"],
        help="with metrics and tracing on, or one of them (module docstring)",
    )
    args = parser.parse_args()
    if args.all:
        runs = [
            (p, n, k.value)
            for p, n in COMBINATIONS
            for k in Limiter
            if not args.packets or n in args.packets
        ]
    else:
        runs = [(args.profile, args.packet_size, args.limiter)]
    rows = []
    for profile, packet, limiter in runs:
        row = run_one(profile, packet, limiter, args.seconds, args.margin, args.observe)
        rows.append(row)
        print(_table([row]).splitlines()[-1], flush=True)
        print(
            f"  engine CPU {row['engine_cpu_pct_of_one_core']}% of a core over {row['seconds']} s:"
            f" {row['engine_cpu_us_per_message']} us a message, {row['engine_cpu_pct_at_cap']}%"
            f" of a core at {row['cap_msg_per_s']:g}/s (observe: {row['observe']})",
            flush=True,
        )
    name = (
        "goodput_all" if args.all else f"goodput_{args.profile}_{args.packet_size}_{args.limiter}"
    )
    if args.margin != EngineConfig().margin:
        name += f"_margin{args.margin:g}"
    if args.observe:
        name += "_observed" if args.observe == "all" else f"_{args.observe}"
    write(
        name, {"benchmark": "goodput at the cap, per limiter", "cpus": os.cpu_count(), "runs": rows}
    )
    print(_table(rows))
    return 0 if all(_ok(r) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
