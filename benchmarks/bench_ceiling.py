"""Request ceiling for single-number sends (the verification-code case), caps lifted.

In one run, against the same simulator process, the same connection limit and the same
messages: the engine, a bare httpx loop and a bare aiohttp loop. Target (issue 5): the engine
reaches ≥ 2,778 requests/s (the platform's 10 million an hour) and ≥ 0.8× the bare aiohttp loop.

    .venv/bin/python benchmarks/bench_ceiling.py --messages 30000 --connections 100
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
from _common import ACCOUNT, chart, cpu_seconds, simulator, stats, write

from m5c_async import AsyncClient, Credentials
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.protocol import build_send

CONTENT = "您的验证码是：123456【示例】"


def _bodies(start: int, count: int) -> list[bytes]:
    creds = Credentials.create(
        username=ACCOUNT.username, password=ACCOUNT.password, apikey=ACCOUNT.apikey
    )
    return [
        build_send(creds, [f"13{i:09d}"], CONTENT).body or b"" for i in range(start, start + count)
    ]


async def _bare(
    post: Callable[[bytes], Awaitable[str]], bodies: list[bytes], connections: int
) -> None:
    queue = iter(bodies)

    async def worker() -> None:
        for body in queue:
            text = await post(body)
            if not text.startswith("success:"):
                raise RuntimeError(text)

    async with anyio.create_task_group() as tg:
        for _ in range(connections):
            tg.start_soon(worker)


async def run_httpx(url: str, bodies: list[bytes], connections: int) -> None:
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(limits=limits) as client:

        async def post(body: bytes) -> str:
            return (await client.post(url, content=body, headers=headers)).text

        await _bare(post, bodies, connections)


async def run_aiohttp(url: str, bodies: list[bytes], connections: int) -> None:
    import aiohttp

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: bytes) -> str:
            async with session.post(url, data=body, headers=headers) as response:
                return await response.text()

        await _bare(post, bodies, connections)


async def run_engine(base: str, start: int, count: int, connections: int) -> None:
    async with AsyncClient(
        username=ACCOUNT.username,
        password=ACCOUNT.password,
        apikey=ACCOUNT.apikey,
        nodes=[base],
        max_connections=connections,
    ) as client:
        config = EngineConfig(rate=1e9, concurrency=connections, packet_size=1, queue_size=256)
        engine = SendEngine(client, config, hooks=[])
        result = await engine.run_campaign(
            Campaign(numbers=(f"13{i:09d}" for i in range(start, start + count)), content=CONTENT)
        )
        if result.accepted != count:
            raise RuntimeError(f"engine accepted {result.accepted} of {count}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--connections", type=int, default=100)
    args = parser.parse_args()
    n, c = args.messages, args.connections
    lifted = ["--rate", "1000000000", "--concurrency", "1000000", "--no-reports"]
    figures: dict[str, dict[str, float]] = {}
    with simulator(lifted) as urls:
        base = urls[0]
        url = base + "/api/send/index.php"
        runs: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("warm-up", lambda: run_aiohttp(url, _bodies(0, 3000), c)),
            ("engine", lambda: run_engine(base, 10_000_000, n, c)),
            ("aiohttp", lambda: run_aiohttp(url, _bodies(20_000_000, n), c)),
            ("httpx", lambda: run_httpx(url, _bodies(30_000_000, min(n, 10_000)), c)),
        ]
        for name, make in runs:
            count = 3000 if name == "warm-up" else (min(n, 10_000) if name == "httpx" else n)
            cpu0, t0 = cpu_seconds(), time.monotonic()
            anyio.run(make, backend_options={"use_uvloop": True})
            wall = time.monotonic() - t0
            if name != "warm-up":
                figures[name] = {
                    "requests": count,
                    "requests_per_second": round(count / wall),
                    "client_cpu_ms_per_request": round(1000 * (cpu_seconds() - cpu0) / count, 3),
                }
        per_second = stats(base)["per_second"]
    engine, aio = (
        figures["engine"]["requests_per_second"],
        figures["aiohttp"]["requests_per_second"],
    )
    write(
        "ceiling",
        {
            "benchmark": "request ceiling, single-number sends, caps lifted",
            "connections": c,
            "results": figures,
            "engine_vs_aiohttp": round(engine / aio, 3),
            "target": "engine >= 2778 req/s and >= 0.8x aiohttp",
        },
    )
    chart(
        "ceiling",
        {"warm-up, engine, aiohttp, httpx (in turn)": per_second},
        "request ceiling: single-number sends, caps lifted",
        None,
    )
    return 0 if engine >= 2778 and engine >= 0.8 * aio else 1


if __name__ == "__main__":
    sys.exit(main())
