"""Chaos: Redis dies in the middle of a journaled campaign, and the operator presses Ctrl-C.

Real processes: a redis-server, the simulator, ``m5c campaign run --journal --redis``. Redis is
killed while the campaign sends; after a few seconds of outage the command gets SIGINT; Redis
comes back and ``m5c campaign resume --redis`` finishes the campaign. The row joins the fault
matrix's table (``benchmarks/results/fault_matrix.json`` under ``make chaos``): lost 0,
duplicates 0, and every number accepted once in the end.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

from tests.cli_processes import Command, m5c_env, sim_sent, sim_stats, simulator
from tests.redis_server import RedisServer
from tests.reliability.test_fault_matrix import FULL, Row, _store

SIZE = 3000 if FULL else 600


def test_redis_outage_with_ctrl_c(tmp_path: Path) -> None:
    """Killed Redis, Ctrl-C within 2 s with nothing left in flight, resume: every number once."""
    started = time.monotonic()
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("".join(f"132{i:08d}\n" for i in range(SIZE)))
    journal = tmp_path / "campaign.db"
    common = ["--journal", str(journal), "--json"]
    with RedisServer() as server, simulator("--rate", "600", "--no-reports") as base:
        env = m5c_env(base, M5C_REDIS_URL=server.url)
        run = Command(
            ["campaign", "run", "--profile", "notification", "--content", "chaos redis",
             "--numbers", str(numbers), "--packet-size", "1", "--rate", "300", *common],
            env,
        )  # fmt: skip
        try:
            run.wait_for(
                lambda: int(sim_stats(base)["accepted"]) >= SIZE // 6,  # type: ignore[call-overload]
                60,
                "sending",
            )
            server.stop()
            down = time.monotonic()
            run.wait_for(lambda: any("unreachable" in line for line in run.stderr), 15, "warned")
            run.wait_for(lambda: time.monotonic() - down > 3.0, 10, "outage under way")
            run.proc.send_signal(signal.SIGINT)
            pressed = time.monotonic()
            interrupted = run.finish(timeout=30)
            took = time.monotonic() - pressed
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
        at_interrupt = len(sim_sent(base))
        server.start()  # Redis is back
        resume = Command(["campaign", "resume", *common, "--recorded-late", "3"], env)
        resumed = resume.finish(timeout=120)
        result = json.loads(resume.stdout.strip().splitlines()[-1])
        sent = Counter(sim_sent(base))
    lost = SIZE - len(sent) - int(result["pending"])
    row = Row(
        scenario="redis outage + Ctrl-C",
        messages=SIZE,
        accepted=len(sent),
        pending=int(result["pending"]),
        duplicates=sum(n - 1 for n in sent.values()),
        lost=lost,
        reports_stored=0,
        report_duplicates=0,
        seconds=time.monotonic() - started,
    )
    _store(row)
    redis_lines = [line for line in run.stderr if "redis" in line.lower()]
    assert took < 2.0, f"Ctrl-C took {took:.1f} s"
    assert interrupted == 130
    assert len(redis_lines) == 1, redis_lines
    assert 0 < at_interrupt < SIZE
    assert resumed == 0, resume.stderr
    assert row.duplicates == 0
    assert row.lost == 0
    assert row.accepted == SIZE
