"""Memory: a 5,000,000-number marketing campaign streamed from a file, simulator caps raised.

Target (issue 5): the engine process's peak RSS ≤ 150 MB and within 1.5× of a 10,000-number
campaign. Each campaign runs in a fresh process so its peak is its own.

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

import anyio
from _common import ACCOUNT, chart, peak_rss_mb, simulator, stats, write


def _child(base: str, path: Path, packet_size: int, dedupe: bool) -> None:
    from m5c_async import AsyncClient
    from m5c_async.engine import Campaign, EngineConfig, SendEngine

    async def run() -> dict[str, float]:
        async with AsyncClient(
            username=ACCOUNT.username,
            password=ACCOUNT.password,
            apikey=ACCOUNT.apikey,
            nodes=[base],
            profile="marketing",
            max_connections=100,
        ) as client:
            config = EngineConfig(
                profile="marketing", rate=1e9, packet_size=packet_size, dedupe=dedupe
            )
            t0 = time.monotonic()
            result = await SendEngine(client, config, hooks=[]).run_campaign(
                Campaign(numbers=path, content="【示例】春季促销，回复TD退订")
            )
            return {"accepted": result.accepted, "seconds": time.monotonic() - t0}

    out = anyio.run(run, backend_options={"use_uvloop": True})
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def _campaign(base: str, path: Path, packet_size: int, dedupe: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", base, str(path), str(packet_size)]
    if dedupe:
        command.append("--dedupe")
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _numbers_file(folder: Path, count: int, offset: int) -> Path:
    path = folder / f"numbers-{count}.txt"
    with path.open("w") as handle:
        for i in range(offset, offset + count):
            handle.write(f"1{3 + i % 7}{i:09d}\n")
    return path


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), "--dedupe" in sys.argv)
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=5_000_000)
    parser.add_argument("--packet-size", type=int, default=10_000)
    parser.add_argument("--dedupe", action="store_true", help="exact in-memory de-duplication")
    args = parser.parse_args()
    lifted = [
        "--account", f"{ACCOUNT.username}:{ACCOUNT.password}:{ACCOUNT.apikey}:marketing",
        "--rate", "1000000000", "--packet-size", "5000000", "--no-reports",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        small_file = _numbers_file(Path(folder), 10_000, offset=900_000_000)
        big_file = _numbers_file(Path(folder), args.numbers, offset=0)
        with simulator(lifted) as urls:
            small = _campaign(urls[0], small_file, args.packet_size, args.dedupe)
            big = _campaign(urls[0], big_file, args.packet_size, args.dedupe)
            platform = stats(urls[0])
    ratio = big["peak_rss_mb"] / small["peak_rss_mb"]
    write(
        "memory" + ("_dedupe" if args.dedupe else ""),
        {
            "benchmark": "memory of a streamed marketing campaign",
            "packet_size": args.packet_size,
            "dedupe": args.dedupe,
            "small": {"numbers": 10_000, **{k: round(v, 1) for k, v in small.items()}},
            "big": {"numbers": args.numbers, **{k: round(v, 1) for k, v in big.items()}},
            "peak_ratio_big_to_small": round(ratio, 2),
            "platform_accepted": platform["accepted"],
            "platform_duplicates": platform["duplicates"],
            "target": "big peak <= 150 MB and <= 1.5x small",
        },
    )
    chart(
        "memory" + ("_dedupe" if args.dedupe else ""),
        {"accepted (10,000 then the big campaign)": platform["per_second"]},
        "memory benchmark: messages accepted per second",
        None,
    )
    return 0 if big["peak_rss_mb"] <= 150 and ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
