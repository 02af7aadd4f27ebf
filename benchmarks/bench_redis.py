"""Four processes on one account: local pacers against the Redis-shared pacer.

Each variant runs four ``m5c campaign run`` processes at once against one simulator enforcing
the notification cap (600 msg/s) under ``--limiter`` (sliding by default: any one-second window;
``all`` runs gcra, fixed and sliding in turn), with enough numbers for ``--seconds`` at the cap
together. Target (issues 8 and 16): with the shared pacer, zero throttle replies, no one-second
window above the cap (counted by arrival at the simulator: ``max_window`` of
``/_sim/stats``) and goodput ≥ 99% of the cap, measured at the receiver as bench_goodput.py
does; with local pacers, the throttle replies are counted. One line a run is printed, then the
whole result as JSON (also stored in ``results/redis.json``).

    .venv/bin/python benchmarks/bench_redis.py --seconds 60 --limiter all --variants redis
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import ACCOUNT, chart, free_port, simulator, stats, write

PROCESSES = 4
CAP = 600
MARGIN = 0.008  # the engine's default


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _variant(
    base: list[str], folder: Path, seconds: float, redis_url: str | None, margin: float, nice: int
) -> dict[str, object]:
    per_process = int(CAP * seconds / PROCESSES)
    env = dict(os.environ)
    env.update(
        M5C_USERNAME=ACCOUNT.username,
        M5C_PASSWORD=ACCOUNT.password,
        M5C_APIKEY=ACCOUNT.apikey,
        M5C_BASE_URL=",".join(base),
    )
    procs = []
    offset = 0 if redis_url is None else 50_000_000
    for k in range(PROCESSES):
        numbers = folder / f"n{k}-{redis_url is not None}.txt"
        start = offset + k * per_process
        numbers.write_text("".join(f"13{i:09d}\n" for i in range(start, start + per_process)))
        command = [
            sys.executable, "-m", "m5c_async", "campaign", "run", "--profile", "notification",
            "--content", "共享限速【测试】", "--numbers", str(numbers), "--packet-size", "1",
            "--json",
        ]  # fmt: skip
        if redis_url:
            command += ["--redis", redis_url]
        if margin != MARGIN:
            command += ["--margin", str(margin)]
        if nice:  # a diagnostic: senders yield the cores to the simulator and Redis
            command = ["nice", "-n", str(nice), *command]
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
    t0 = time.monotonic()
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.monotonic() - t0
    return {"wall": wall, "results": results}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--limiter", choices=["gcra", "fixed", "sliding", "all"], default="sliding")
    parser.add_argument("--variants", default="local,redis", help="local, redis or both")
    parser.add_argument(
        "--margin", type=float, default=MARGIN, help="each process's --margin (the default's)"
    )
    parser.add_argument(
        "--sender-nice",
        type=int,
        default=0,
        help="run the four senders under nice -n N (diagnostic: does the receiver's scheduling"
        " bunch arrivals?)",
    )
    args = parser.parse_args()
    cap_less_margin = math.ceil(CAP * (1 - args.margin))
    limiters = ["gcra", "fixed", "sliding"] if args.limiter == "all" else [args.limiter]
    variants = [v for v in ("local", "redis") if v in args.variants.split(",")]
    server = shutil.which("redis-server")
    if not server:
        print("redis-server is required (apt-get install redis-server)", file=sys.stderr)
        return 2
    port = free_port()
    redis_proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    figures: dict[str, dict[str, object]] = {}
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as folder:
            for limiter in limiters:
                for name in variants:
                    url = f"redis://127.0.0.1:{port}/0" if name == "redis" else None
                    figures[f"{name}_{limiter}"] = run = _measure(
                        name, limiter, url, Path(folder), args.seconds, args.margin,
                        args.sender_nice,
                    )  # fmt: skip
                    lag: dict[str, Any] = run["simulator_loop_lag"]  # type: ignore[assignment]
                    print(
                        f"{name:5} pacers, {limiter:7}: max window {run['max_window']} "
                        f"(cap {CAP}, less the margin {cap_less_margin}), goodput "
                        f"{run['goodput_msg_per_s']} msg/s ({run['goodput_pct_of_cap']}% of the "
                        f"cap), {run['throttled_replies']} throttle replies, "
                        f"{run['duplicates']} duplicates, simulator loop late by up to "
                        f"{lag['max_ms']} ms ({lag['over_5ms']} ticks over 5 ms), load "
                        f"{run['loadavg_before']} -> {run['loadavg_after']}",
                        flush=True,
                    )
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
    write(
        "redis",
        {
            "benchmark": f"{PROCESSES} processes on one account",
            "cap": CAP,
            "margin": args.margin,
            "sender_nice": args.sender_nice,
            "cap_less_margin": cap_less_margin,
            "cpus": os.cpu_count(),
            **figures,
        },
    )
    ok = all(
        run["throttled_replies"] == 0
        and int(run["max_window"]) <= CAP  # type: ignore[call-overload]
        and float(run["goodput_pct_of_cap"]) >= 99  # type: ignore[arg-type]
        for key, run in figures.items()
        if key.startswith("redis")
    )
    return 0 if ok else 1


def _measure(
    name: str,
    limiter: str,
    url: str | None,
    folder: Path,
    seconds: float,
    margin: float,
    nice: int = 0,
) -> dict[str, object]:
    with simulator(["--no-reports", "--limiter", limiter, "--measure-lag"], nodes=1) as base:
        load_before = _loadavg()
        run = _variant(base, folder, seconds, url, margin, nice)
        s = stats(base[0])
        ledger = httpx.get(base[0] + "/_sim/ledger", timeout=60).json()
        times = sorted(e["at"] for e in ledger)
        span = times[-1] - times[0] + 1 / CAP if times else 0.0
        goodput = len(times) / span if span else 0.0
        per_second = [v for _, v in sorted(s["per_second"].items(), key=lambda kv: int(kv[0]))]
        steady = per_second[1:-1]
        chart(
            f"redis_{name}_{limiter}",
            {"accepted": s["per_second"]},
            f"{PROCESSES} processes, {name} pacers, {limiter}",
            CAP,
        )
        return {
            "messages": int(CAP * seconds),
            "accepted": s["accepted"],
            "throttled_replies": s["throttled"],
            "duplicates": s["duplicates"],
            "steady_rate_msg_per_s": round(sum(steady) / max(len(steady), 1), 1),
            "aggregate_pct_of_cap": round(100 * sum(steady) / max(len(steady), 1) / CAP, 2),
            "wall_seconds": round(float(run["wall"]), 1),  # type: ignore[arg-type]
            "limiter": limiter,
            "max_window": s["accounts"][ACCOUNT.username]["max_window"],
            "goodput_msg_per_s": round(goodput, 2),
            "goodput_pct_of_cap": round(100 * goodput / CAP, 2),
            "loadavg_before": load_before,
            "loadavg_after": _loadavg(),
            "simulator_loop_lag": s["loop_lag"],
        }


if __name__ == "__main__":
    sys.exit(main())
