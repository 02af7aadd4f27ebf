"""The proof: kill the campaign process with SIGKILL at random moments, resume it, and check
the simulator's ledger: every number accepted exactly once.

``M5C_KILLS`` sets how many kills (3 in ``make test``, 20 in ``make chaos``); the seed is printed
so a failing run can be replayed with ``M5C_KILL_SEED``.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ACCOUNT = ("mlrt", "kill-test-pw", "0123456789abcdef0123456789abcdef")


def _recorded(journal: Path) -> bool:
    """True when the journal holds a committed campaign (what the CLI's resume needs)."""
    if not journal.exists():
        return False
    conn = sqlite3.connect(journal)
    try:
        return conn.execute("SELECT COUNT(*) FROM campaigns").fetchone()[0] > 0
    except sqlite3.OperationalError:  # created, schema not yet committed
        return False
    finally:
        conn.close()


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _simulator(spec: str) -> tuple[subprocess.Popen[str], int]:
    """Start the two-node simulator on a block of ports it picks and holds (``--port 0``: no
    port taken between a probe and the bind by suites running beside this one); its first
    port, read from its ready line within a deadline."""
    command = [
        sys.executable, "-m", "m5c_async.simulator", "--port", "0", "--nodes", "2",
        "--account", spec, "--rate", "600", "--no-reports",
    ]  # fmt: skip
    sim = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(sim.stdout, selectors.EVENT_READ)
        line = sim.stdout.readline() if selector.select(timeout=60) else ""
    if "ready" not in line:
        sim.kill()
        sim.wait(timeout=10)
        sim.stdout.close()
        raise AssertionError(f"the simulator did not start: {line!r}")
    return sim, int(line.split("=http://127.0.0.1:", 1)[1].split()[0])


def test_sigkill_and_resume_send_every_number_exactly_once(tmp_path: Path) -> None:
    """Several SIGKILLs at random moments, then resume to the end: no loss, no duplicate."""
    kills = int(os.environ.get("M5C_KILLS", "3"))
    seed = int(os.environ.get("M5C_KILL_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"kill-and-resume: {kills} kills, seed {seed}")
    total = max(1500, 400 * kills)  # enough sending to be under way at every kill
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("".join(f"139{i:08d}\n" for i in range(total)))
    journal = tmp_path / "campaign.db"
    sim, port = _simulator(":".join(ACCOUNT))
    with sim:
        try:
            env = dict(os.environ)
            env.update(
                M5C_USERNAME=ACCOUNT[0],
                M5C_PASSWORD=ACCOUNT[1],
                M5C_APIKEY=ACCOUNT[2],
                M5C_BASE_URL=f"http://127.0.0.1:{port},http://127.0.0.1:{port + 1}",
            )
            run = [
                "campaign", "run", "--profile", "notification", "--content", "kill test",
                "--numbers", str(numbers), "--journal", str(journal), "--packet-size", "5",
                "--rate", "600", "--json",
            ]  # fmt: skip
            # The simulator records a send as it accepts it: resume need not wait 30 s.
            resume = [
                "campaign", "resume", "--journal", str(journal), "--json", "--recorded-late", "3",
            ]  # fmt: skip
            for _ in range(kills):
                # Each start reads the journal as the kill left it: a kill that landed before
                # the campaign row was committed leaves nothing to resume, so it runs again.
                proc = _cli(resume if _recorded(journal) else run, env)
                time.sleep(rng.uniform(0.4, 1.6))
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=30)
            final = _cli(resume if _recorded(journal) else run, env)
            out, err = final.communicate(timeout=120)
            assert final.returncode == 0, err
            result = json.loads(out.strip().splitlines()[-1])
            stats = httpx.get(f"http://127.0.0.1:{port}/_sim/stats").json()
            ledger = httpx.get(f"http://127.0.0.1:{port}/_sim/ledger").json()
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    sent = [m for entry in ledger for m in entry["mobiles"]]
    assert stats["duplicates"] == 0, f"seed {seed}"
    assert len(sent) == len(set(sent)) == total, f"seed {seed}"
    assert result["pending"] == 0
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "m5c_async",
            "campaign",
            "status",
            "--journal",
            str(journal),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = json.loads(status.stdout)
    assert counts["accepted"] == total
    assert counts["pending"] == 0
    assert counts["in_flight"] == 0
