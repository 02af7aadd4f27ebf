"""``m5c campaign run --redis`` as an operator meets it: Redis killed mid-campaign and Ctrl-C,
and a wrong Redis password. Real processes: the simulator, redis-server and the command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.cli_processes import Command, m5c_env, sim_sent, sim_stats, simulator
from tests.redis_server import RedisServer

RIGHT = "redis-right-Pw-7731"
WRONG = "redis-wrong-Pw-4410"


def _status(journal: Path) -> dict[str, int]:
    command = [sys.executable, "-m", "m5c_async", "campaign", "status", "--json"]
    done = subprocess.run(
        [*command, "--journal", str(journal)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    status: dict[str, int] = json.loads(done.stdout)
    return status


@pytest.mark.parametrize("outage", ["killed", "paused"])
def test_ctrl_c_during_a_redis_outage(outage: str, tmp_path: Path) -> None:
    """Redis killed (or frozen: SIGSTOP) mid-campaign: Ctrl-C stops the command within 2 s
    with exit 130, one line said Redis was unreachable (not one per attempt), and the journal
    holds no packet marked in flight: every number is accepted (on the simulator's ledger
    once) or pending."""
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("".join(f"139{i:08d}\n" for i in range(3000)))
    journal = tmp_path / "campaign.db"
    with RedisServer() as server, simulator("--rate", "200", "--no-reports") as base:
        run = Command(
            ["campaign", "run", "--profile", "notification", "--content", "outage test",
             "--numbers", str(numbers), "--journal", str(journal), "--packet-size", "1",
             "--rate", "200", "--redis", server.url, "--json"],
            m5c_env(base),
        )  # fmt: skip
        try:
            run.wait_for(lambda: int(sim_stats(base)["accepted"]) >= 100, 60, "sending")  # type: ignore[call-overload]
            server.stop() if outage == "killed" else server.pause()
            down = time.monotonic()
            run.wait_for(lambda: any("unreachable" in line for line in run.stderr), 15, "warned")
            # the outage goes on for a while (hundreds of retries) before the operator presses
            run.wait_for(lambda: time.monotonic() - down > 2.0, 10, "outage under way")
            run.proc.send_signal(signal.SIGINT)
            pressed = time.monotonic()
            code = run.finish(timeout=30)
            took = time.monotonic() - pressed
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
        sent = Counter(sim_sent(base))
    status = _status(journal)
    redis_lines = [line for line in run.stderr if "redis" in line.lower()]
    seen = {
        "stopped within 2 s": took < 2.0,
        "exit code": code,
        "redis lines": len(redis_lines),
        "tracebacks": sum("Traceback" in line for line in run.stderr),
        "duplicates": sum(n - 1 for n in sent.values()),
        "marked in flight": status["in_flight"],
        "accepted but not on the ledger": status["accepted"] - len(sent),
        "neither accepted nor pending": 3000 - status["accepted"] - status["pending"],
    }
    assert seen == {
        "stopped within 2 s": True,
        "exit code": 130,
        "redis lines": 1,
        "tracebacks": 0,
        "duplicates": 0,
        "marked in flight": 0,
        "accepted but not on the ledger": 0,
        "neither accepted nor pending": 0,
    }, (f"Ctrl-C took {took:.1f} s", redis_lines[:3])


def test_wrong_redis_password_is_one_line_and_exit_10(tmp_path: Path) -> None:
    """A wrong password (from M5C_REDIS_URL) fails at once, before the journal is made: exit
    10, one line naming the server, and the password in no output."""
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("13900000001\n13900000002\n")
    journal = tmp_path / "campaign.db"
    with RedisServer(password=RIGHT) as server, simulator("--no-reports") as base:
        run = Command(
            ["campaign", "run", "--content", "x", "--numbers", str(numbers), "--journal",
             str(journal), "--json"],
            m5c_env(base, M5C_REDIS_URL=server.url_with(WRONG)),
        )  # fmt: skip
        code = run.finish(timeout=60)
        sent = sim_sent(base)
    assert code == 10
    assert len(run.stderr) == 1, run.stderr
    assert run.stderr[0].startswith(f"m5c: redis 127.0.0.1:{server.port}/0 refused")
    everything = run.stdout + "\n".join(run.stderr)
    assert WRONG not in everything
    assert RIGHT not in everything
    assert sent == []
    assert not journal.exists()
