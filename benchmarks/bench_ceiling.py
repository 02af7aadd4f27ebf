"""Request ceiling for single-number sends (the verification-code case), caps lifted, and the
engine's CPU at the notification cap (600 single-number messages a second).

In one run, against the same simulator process (its own process), the same connection limit and
the same kind of messages, one after the other:

1. the engine (``SendEngine`` -> ``AsyncClient`` -> ``FastWire``), a bare aiohttp loop and a bare
   httpx loop, direct; client CPU per request for each (this process's CPU over the requests);
2. with ``--proxy``: the engine and the bare aiohttp loop again, both through a tinyproxy
   (Debian's, its own process) on loopback;
3. with ``--cpu-seconds S``: the engine paced at 600 msg/s (the notification profile, its 300
   connections) for S seconds; this process's CPU as a percentage of one core.

Targets (issue 13): the engine >= 2,778 requests/s (the platform's 10 million an hour) and
>= 1.0x the bare aiohttp loop; <= 20% of one core at 600 msg/s.

    .venv/bin/python benchmarks/bench_ceiling.py --messages 30000 --connections 100 \
        --proxy --cpu-seconds 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import anyio
from _common import ACCOUNT, ROOT, chart, cpu_seconds, simulator, stats, write

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
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def post(body: bytes) -> str:
            return (await client.post(url, content=body, headers=headers)).text

        await _bare(post, bodies, connections)


async def run_aiohttp(
    url: str, bodies: list[bytes], connections: int, proxy: str | None = None
) -> None:
    import aiohttp

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    # tinyproxy ends every connection after its reply (without saying so): through it, aiohttp
    # reusing a connection races that close, so each request gets a fresh one, as FastWire
    # does once it has seen the proxy do it.
    connector = aiohttp.TCPConnector(limit=connections, force_close=proxy is not None)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def post(body: bytes) -> str:
            async with session.post(url, data=body, headers=headers, proxy=proxy) as response:
                return await response.text()

        await _bare(post, bodies, connections)


def _client(base: str, connections: int, proxy: str | None) -> AsyncClient:
    return AsyncClient(
        username=ACCOUNT.username,
        password=ACCOUNT.password,
        apikey=ACCOUNT.apikey,
        nodes=[base],
        max_connections=connections,
        proxy=proxy,
        trust_env=False,
    )


async def run_engine(
    base: str, start: int, count: int, connections: int, proxy: str | None = None
) -> None:
    async with _client(base, connections, proxy) as client:
        config = EngineConfig(rate=1e9, concurrency=connections, packet_size=1, queue_size=256)
        engine = SendEngine(client, config, hooks=[])
        result = await engine.run_campaign(
            Campaign(numbers=(f"13{i:09d}" for i in range(start, start + count)), content=CONTENT)
        )
        if result.accepted != count:
            raise RuntimeError(f"engine accepted {result.accepted} of {count}")


def cpu_at_cap(base: str, seconds: float) -> dict[str, float]:
    """The engine at the notification cap (600/s, single numbers, its 300 connections)."""
    count = int(600 * seconds)
    figures: dict[str, float] = {}

    async def run() -> None:
        async with _client(base, 300, None) as client:
            config = EngineConfig(profile="notification", packet_size=1)
            engine = SendEngine(client, config, hooks=[])
            cpu0, t0 = cpu_seconds(), time.monotonic()
            result = await engine.run_campaign(
                Campaign(numbers=(f"138{i:08d}" for i in range(count)), content=CONTENT)
            )
            wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
            if result.accepted != count:
                raise RuntimeError(f"engine accepted {result.accepted} of {count}")
            figures.update(
                messages=count,
                messages_per_second=round(count / wall, 1),
                engine_cpu_pct_of_one_core=round(100 * cpu / wall, 1),
                cpu_ms_per_message=round(1000 * cpu / count, 3),
            )

    anyio.run(run, backend_options={"use_uvloop": True})
    return figures


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--proxy", action="store_true", help="also through a local tinyproxy")
    parser.add_argument("--cpu-seconds", type=float, default=0, help="engine CPU at 600 msg/s")
    args = parser.parse_args()
    n, c = args.messages, args.connections
    lifted = ["--rate", "1000000000", "--concurrency", "1000000", "--no-reports"]
    figures: dict[str, dict[str, float]] = {}
    load_before = _loadavg()
    with ExitStack() as stack:
        base = stack.enter_context(simulator(lifted))[0]
        url = base + "/api/send/index.php"
        proxy: str | None = None
        if args.proxy:
            sys.path.insert(0, str(ROOT))
            from tests.peers import tinyproxy

            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            proxy = stack.enter_context(tinyproxy(directory)).url
        small = min(n, 10_000)
        runs: list[tuple[str, int, Callable[[], Awaitable[None]]]] = [
            ("warm-up", 3000, lambda: run_aiohttp(url, _bodies(0, 3000), c)),
            ("engine", n, lambda: run_engine(base, 10_000_000, n, c)),
            ("aiohttp", n, lambda: run_aiohttp(url, _bodies(20_000_000, n), c)),
            ("httpx", small, lambda: run_httpx(url, _bodies(30_000_000, small), c)),
        ]
        if proxy is not None:
            runs += [
                ("engine via proxy", small, lambda: run_engine(base, 40_000_000, small, c, proxy)),
                (
                    "aiohttp via proxy",
                    small,
                    lambda: run_aiohttp(url, _bodies(50_000_000, small), c, proxy),
                ),
            ]
        for name, count, make in runs:
            cpu0, t0 = cpu_seconds(), time.monotonic()
            anyio.run(make, backend_options={"use_uvloop": True})
            wall = time.monotonic() - t0
            if name != "warm-up":
                figures[name] = {
                    "requests": count,
                    "requests_per_second": round(count / wall),
                    "client_cpu_ms_per_request": round(1000 * (cpu_seconds() - cpu0) / count, 3),
                }
                print(f"{name}: {figures[name]}", flush=True)
        at_cap = cpu_at_cap(base, args.cpu_seconds) if args.cpu_seconds else None
        per_second = stats(base)["per_second"]
    engine = figures["engine"]["requests_per_second"]
    aio = figures["aiohttp"]["requests_per_second"]
    result: dict[str, object] = {
        "benchmark": "request ceiling, single-number sends, caps lifted",
        "connections": c,
        "results": figures,
        "engine_vs_aiohttp": round(engine / aio, 3),
        "target": "engine >= 2778 req/s and >= 1.0x aiohttp; <= 20% of one core at 600 msg/s",
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }
    if proxy is not None:
        result["engine_vs_aiohttp_via_proxy"] = round(
            figures["engine via proxy"]["requests_per_second"]
            / figures["aiohttp via proxy"]["requests_per_second"],
            3,
        )
    ok = engine >= 2778 and engine >= aio
    if at_cap is not None:
        result["engine_at_600_per_second"] = at_cap
        ok = ok and at_cap["engine_cpu_pct_of_one_core"] <= 20
    write("ceiling", result)
    chart(
        "ceiling",
        {"the runs above, in turn": per_second},
        "request ceiling: single-number sends, caps lifted",
        None,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
