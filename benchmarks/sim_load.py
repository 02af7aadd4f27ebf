"""How many send requests a second the simulator process sustains (issue: ≥ 4,000 on 2 cores).

Starts ``python -m m5c_async.simulator`` (one node, caps lifted, no reports) in its own process,
then drives it with a raw-asyncio-streams load generator (keep-alive, POST, one number each),
so the client is not what is measured. Prints requests/s, the simulator's CPU, and the command.

    .venv/bin/python benchmarks/sim_load.py --seconds 20 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from m5c_async import md5_hex
from m5c_async.simulator import free_port

RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def _worker(port: int, worker: int, stop: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    md5 = md5_hex("demo-password")
    n = 0
    try:
        while time.monotonic() < stop:
            n += 1
            body = urlencode(
                {
                    "username": "demo",
                    "password_md5": md5,
                    "apikey": "0123456789abcdef0123456789abcdef",
                    "mobile": f"13{worker:03d}{n:06d}",
                    "content": "%E9%AA%8C%E8%AF%81%E7%A0%81123456",
                    "encode": "UTF-8",
                }
            ).encode()
            writer.write(
                b"POST /api/send/index.php HTTP/1.1\r\nHost: sim\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reply = await reader.readexactly(length)
            if not reply.startswith(b"success:"):
                raise RuntimeError(reply.decode())
            counts[worker] += 1
    finally:
        writer.close()


async def _drive(port: int, connections: int, seconds: float) -> tuple[int, float]:
    counts = [0] * connections
    warm = time.monotonic() + 2
    await asyncio.gather(*(_worker(port, i, warm, counts) for i in range(connections)))
    counts = [0] * connections
    start = time.monotonic()
    stop = start + seconds
    await asyncio.gather(*(_worker(port, i, stop, counts) for i in range(connections)))
    return sum(counts), time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    port = free_port()
    command = [
        sys.executable, "-m", "m5c_async.simulator", "--port", str(port), "--nodes", "1",
        "--rate", "1000000000", "--concurrency", "100000", "--no-reports",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as sim:
        try:
            assert sim.stdout is not None
            while "ready" not in sim.stdout.readline():
                pass
            try:
                import uvloop

                uvloop.install()
            except ImportError:
                pass
            cpu_before = _cpu_seconds(sim.pid)
            wall_before = time.monotonic()
            total, elapsed = asyncio.run(_drive(port, args.connections, args.seconds))
            cpu = (_cpu_seconds(sim.pid) - cpu_before) / (time.monotonic() - wall_before)
        finally:
            sim.terminate()
    rate = total / elapsed
    result = {
        "benchmark": "simulator request ceiling",
        "requests": total,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(rate),
        "simulator_cpu_cores": round(cpu, 2),
        "connections": args.connections,
        "command": "benchmarks/sim_load.py " + " ".join(sys.argv[1:]),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
