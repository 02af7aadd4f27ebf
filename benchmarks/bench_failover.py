"""Failover: a node taken down mid-run at the notification cap.

Target (issue 5): the rate is back to ≥ 95% of the cap within 2 s of the node going down, and
zero numbers are lost or duplicated.

    .venv/bin/python benchmarks/bench_failover.py --seconds 30 --down-at 10
    .venv/bin/python benchmarks/bench_failover.py --seconds 30 --down-at 10 --down-for 8 \
        --packet-size 20    # and back, in packets of 20 (as make demo sends)
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import anyio
from _common import ACCOUNT, chart, faults, simulator, stats, write

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, SendEngine


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--down-at", type=float, default=10)
    parser.add_argument("--packet-size", type=int, default=1)
    parser.add_argument(
        "--down-for", type=float, default=0, help="seconds until the node is back (0: never)"
    )
    parser.add_argument("--margin", type=float, default=EngineConfig().margin)
    args = parser.parse_args()
    rate = 600
    total = int(rate * args.seconds)
    with simulator(["--no-reports", "--measure-lag"], nodes=4) as urls:
        marks: dict[str, float] = {}

        async def run() -> object:
            async with AsyncClient(
                username=ACCOUNT.username,
                password=ACCOUNT.password,
                apikey=ACCOUNT.apikey,
                nodes=urls,
                max_connections=300,
            ) as client:
                engine = SendEngine(
                    client, EngineConfig(packet_size=args.packet_size, margin=args.margin), hooks=[]
                )
                result: object = None

                async def campaign() -> None:
                    nonlocal result
                    marks["start"] = time.monotonic()
                    result = await engine.run_campaign(
                        Campaign(numbers=(f"138{i:08d}" for i in range(total)), content="x【y】")
                    )

                async def chaos() -> None:
                    await anyio.sleep(args.down_at)
                    marks["down"] = time.monotonic()
                    await anyio.to_thread.run_sync(
                        lambda: faults(urls[1], node="qingdao", down=True)
                    )
                    if args.down_for > 0:
                        await anyio.sleep(args.down_for)
                        marks["back"] = time.monotonic()
                        await anyio.to_thread.run_sync(
                            lambda: faults(urls[1], node="qingdao", down=False)
                        )

                async with anyio.create_task_group() as tg:
                    tg.start_soon(chaos)
                    await campaign()
                return result

        result = anyio.run(run, backend_options={"use_uvloop": True})
        s = stats(urls[1])
    per_second = {int(k): v for k, v in s["per_second"].items()}
    # The simulator counts seconds from its own start; find the second the node went down in
    # its clock by the sharp fall of Qingdao's traffic: its last second before a gap (it may
    # come back, --down-for).
    qingdao = sorted(int(k) for k in s["per_node_second"].get("qingdao", {}))
    gaps = [a for a, b in itertools.pairwise(qingdao) if b > a + 1]
    down_second = gaps[0] if gaps else max(qingdao, default=0)
    after = [per_second.get(down_second + i, 0) for i in range(1, 6)]
    recovered_within = next((i + 1 for i, v in enumerate(after) if v >= 0.95 * rate), None)
    write(
        "failover",
        {
            "benchmark": "failover: Qingdao down mid-run at 600 msg/s",
            "messages": total,
            "accepted_by_platform": s["accepted"],
            "lost": total - s["accepted"],
            "duplicates": s["duplicates"],
            "throttled_replies": s["throttled"],
            "max_window": s["accounts"][ACCOUNT.username]["max_window"],
            "simulator_loop_lag_ms": s.get("loop_lag", {}).get("max_ms"),
            "down_for": args.down_for,
            "margin": args.margin,
            "down_second": down_second,
            "rate_in_the_5_seconds_after": after,
            "seconds_until_95pct": recovered_within,
            "per_node": {n: c.get("accepted", 0) for n, c in s["per_node"].items()},
            "engine": {
                "accepted": result.accepted,  # type: ignore[attr-defined]
                "reconciled": result.reconciled,  # type: ignore[attr-defined]
                "pending": result.pending,  # type: ignore[attr-defined]
            },
        },
    )
    chart("failover", s["per_node_second"], "failover: Qingdao taken down mid-run", rate)
    ok = (
        s["accepted"] == total
        and s["duplicates"] == 0
        and recovered_within is not None
        and recovered_within <= 2
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
