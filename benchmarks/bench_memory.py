"""Memory: 5,000,000 numbers streamed from a file, de-duplication on, in two fresh processes.

1. ``intake``: the engine's ``Intake`` reads the file and de-duplicates every number exactly
   (``NumberSet``); nothing is sent. This is the part whose memory grows with the campaign.
2. ``campaign``: the whole engine sends the same file to the simulator (marketing, packets of
   10,000, caps raised) with ``dedupe=True``.

Numbers are spread over the whole mainland range (``13…``-``19…``, the layout a real list has,
the worst case for the compact set's containers), every 50th line repeats an earlier number, so
the intake must find ``numbers / 50`` duplicates. A 10,000-number run of each gives the process's
floor. Target (issue 12): peak RSS ≤ 100 MB for 5,000,000 numbers with de-duplication on.

    .venv/bin/python benchmarks/bench_memory.py --numbers 5000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _common import ACCOUNT, peak_rss_mb, simulator, stats, write

TARGET_MB = 100.0
REPEAT_EVERY = 50
#: Coprime with the 7,000,000,000 numbers of 13000000000..19999999999: i -> number is one-to-one.
STRIDE = 1_000_000_007


def _number(i: int) -> str:
    return str(13_000_000_000 + (i * STRIDE) % 7_000_000_000)


def _numbers_file(folder: Path, count: int, offset: int) -> tuple[Path, int]:
    """``count`` distinct numbers, and a repeat of an earlier one after every 50th line."""
    path = folder / f"numbers-{count}.txt"
    repeats = 0
    with path.open("w") as handle:
        for i in range(count):
            handle.write(_number(offset + i) + "\n")
            if i % REPEAT_EVERY == REPEAT_EVERY - 1:
                handle.write(_number(offset + i - REPEAT_EVERY // 2) + "\n")
                repeats += 1
    return path, repeats


def _child_intake(path: Path) -> dict[str, Any]:
    from contextlib import aclosing

    from m5c_async.engine import Campaign, Intake

    async def run() -> dict[str, Any]:
        intake = Intake(dedupe=True, packet_size=10_000)
        duplicates = 0
        campaign = Campaign(numbers=path, content="【示例】春季促销，回复TD退订")
        async with aclosing(intake.batches(campaign)) as batches:
            async for batch in batches:
                duplicates += sum(r.reason.value == "duplicate" for r in batch.rejected)
        return {"accepted": intake.accepted, "duplicates": duplicates}

    t0 = time.monotonic()
    out = anyio.run(run)
    return {**out, "seconds": time.monotonic() - t0}


def _child_campaign(path: Path, base: str) -> dict[str, Any]:
    from m5c_async import AsyncClient
    from m5c_async.engine import Campaign, EngineConfig, SendEngine

    async def run() -> dict[str, Any]:
        async with AsyncClient(
            username=ACCOUNT.username,
            password=ACCOUNT.password,
            apikey=ACCOUNT.apikey,
            nodes=[base],
            profile="marketing",
            max_connections=100,
        ) as client:
            config = EngineConfig(profile="marketing", rate=1e9, packet_size=10_000, dedupe=True)
            result = await SendEngine(client, config, hooks=[]).run_campaign(
                Campaign(numbers=path, content="【示例】春季促销，回复TD退订")
            )
            return {"accepted": result.accepted, "duplicates": result.rejected}

    t0 = time.monotonic()
    out = anyio.run(run, backend_options={"use_uvloop": True})
    return {**out, "seconds": time.monotonic() - t0}


def _fresh(kind: str, path: Path, base: str = "") -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, str(path), base]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, path, base = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
        out = _child_intake(path) if kind == "intake" else _child_campaign(path, base)
        out["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(out))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=5_000_000)
    parser.add_argument("--skip-campaign", action="store_true", help="measure the intake only")
    args = parser.parse_args()
    lifted = [
        "--account", f"{ACCOUNT.username}:{ACCOUNT.password}:{ACCOUNT.apikey}:marketing",
        "--rate", "1000000000", "--packet-size", "5000000", "--no-reports",
    ]  # fmt: skip
    runs: dict[str, Any] = {}
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        small, small_repeats = _numbers_file(Path(folder), 10_000, offset=3_000_000_000)
        big, big_repeats = _numbers_file(Path(folder), args.numbers, offset=0)
        kinds = ["intake"] if args.skip_campaign else ["intake", "campaign"]
        with simulator(lifted) as urls:
            for kind in kinds:
                for label, path, count, repeats in (
                    ("small", small, 10_000, small_repeats),
                    ("big", big, args.numbers, big_repeats),
                ):
                    out = _fresh(kind, path, urls[0])
                    exact = out["accepted"] == count and out["duplicates"] == repeats
                    ok = ok and exact
                    runs.setdefault(kind, {})[label] = {
                        "numbers": count,
                        "lines": count + repeats,
                        **{k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()},
                        "exact": exact,
                    }
                ok = ok and runs[kind]["big"]["peak_rss_mb"] <= TARGET_MB
            platform = stats(urls[0])
    write(
        "memory",
        {
            "benchmark": "peak RSS, 5,000,000 numbers streamed, de-duplication on",
            "numbers_layout": "spread over 13..19 x 10^9, a repeat after every 50th line",
            **runs,
            "platform_accepted": platform["accepted"],
            "platform_duplicates": platform["duplicates"],
            "target": f"big peak <= {TARGET_MB:.0f} MB with dedupe, every duplicate found",
            "met": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
