"""A journaled campaign at the notification cap: does the journal keep up?

Single-number packets at 600 msg/s with every packet committed ``in_flight`` before its request
and its outcome written after. Target (issue 6): the journal is never the bottleneck: the
steady rate stays at the cap with zero throttle replies.

    .venv/bin/python benchmarks/bench_journal.py --messages 12000 [--synchronous NORMAL]
    .venv/bin/python benchmarks/bench_journal.py --messages 12000 --no-journal   # baseline
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import ACCOUNT, cpu_seconds, simulator, stats, write

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.journal import Journal, run_campaign


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=12_000)
    parser.add_argument(
        "--synchronous", choices=["FULL", "NORMAL"], default="FULL", help="the journal's setting"
    )
    parser.add_argument(
        "--no-journal", action="store_true", help="the same campaign without a journal (baseline)"
    )
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with simulator(["--no-reports"]) as urls, tempfile.TemporaryDirectory() as folder:

        async def run() -> None:
            async with (
                AsyncClient(
                    username=ACCOUNT.username,
                    password=ACCOUNT.password,
                    apikey=ACCOUNT.apikey,
                    nodes=urls,
                ) as client,
                Journal(Path(folder) / "journal.db", synchronous=args.synchronous) as journal,
            ):
                numbers = [f"138{i:08d}" for i in range(args.messages)]
                campaign = Campaign(numbers=numbers, content="x")
                t0, c0 = time.monotonic(), cpu_seconds()
                if args.no_journal:
                    result = await SendEngine(client, EngineConfig(packet_size=1)).run_campaign(
                        campaign
                    )
                else:
                    _, result = await run_campaign(
                        client, journal, campaign, EngineConfig(packet_size=1)
                    )
                wall = time.monotonic() - t0
                figures.update(
                    accepted=result.accepted,
                    seconds=round(wall, 1),
                    engine_cpu_pct_of_one_core=round(100 * (cpu_seconds() - c0) / wall, 1),
                    commits=journal.store.commits,
                )

        anyio.run(run, backend_options={"use_uvloop": True})
        s = stats(urls[0])
    steady = [v for _, v in sorted(s["per_second"].items(), key=lambda kv: int(kv[0]))][1:-1]
    rate = sum(steady) / max(len(steady), 1)
    write(
        "journal",
        {
            "benchmark": "journaled campaign at the notification cap, single-number packets",
            "messages": args.messages,
            "synchronous": None if args.no_journal else args.synchronous,
            **figures,
            "steady_rate_msg_per_s": round(rate, 1),
            "throttled_replies": s["throttled"],
            "duplicates": s["duplicates"],
        },
    )
    return 0 if rate >= 0.99 * 600 and s["throttled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
