"""Real processes for the journal's tests: a simulator process and ``m5c`` command lines.

Every wait here has a deadline; a helper that waits for a condition polls it (never a bare sleep
as synchronisation).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from m5c_async.simulator import free_port

ACCOUNT = ("mlrt", "journal-test-pw", "0123456789abcdef0123456789abcdef")


class Simulator:
    """A simulator process with two nodes; ``env`` is what a ``m5c`` process needs to reach it."""

    def __init__(self, port: int, pid: int) -> None:
        self.port = port
        self.pid = pid
        self.env = dict(os.environ)
        self.env.update(
            M5C_USERNAME=ACCOUNT[0],
            M5C_PASSWORD=ACCOUNT[1],
            M5C_APIKEY=ACCOUNT[2],
            M5C_BASE_URL=f"http://127.0.0.1:{port},http://127.0.0.1:{port + 1}",
        )

    def ledger(self) -> list[str]:
        """Every number the simulator accepted, once per acceptance."""
        entries = httpx.get(f"http://127.0.0.1:{self.port}/_sim/ledger", timeout=10).json()
        return [m for entry in entries for m in entry["mobiles"]]

    def stats(self) -> dict[str, Any]:
        """The simulator's counters (``duplicates`` among them)."""
        result: dict[str, Any] = httpx.get(
            f"http://127.0.0.1:{self.port}/_sim/stats", timeout=10
        ).json()
        return result


@contextmanager
def simulator(rate: int = 600) -> Iterator[Simulator]:
    """Serve the simulator in its own process until the block ends.

    Two consecutive free ports can be taken by someone else's outgoing connection between the
    probe and the bind (a machine shared with other test runs): a failed start is tried again on
    other ports, five times at most.
    """
    spec = ":".join(ACCOUNT)
    for _ in range(5):
        port = free_port(count=2)
        command = [
            sys.executable, "-m", "m5c_async.simulator", "--port", str(port), "--nodes", "2",
            "--account", spec, "--rate", str(rate), "--no-reports",
        ]  # fmt: skip
        sim = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert sim.stdout is not None
        if "ready" in sim.stdout.readline():
            break
        sim.wait(timeout=10)
        sim.stdout.close()
    else:
        raise AssertionError("the simulator did not start on five port pairs")
    with sim:
        try:
            yield Simulator(port, sim.pid)
        finally:
            sim.terminate()
            sim.wait(timeout=10)


def m5c(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``python -m m5c_async ARGS`` with pipes for its output."""
    return subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def sending_campaign(
    sim: Simulator, journal: Path, numbers: Path, content: str, *, accepted_over: int
) -> subprocess.Popen[str]:
    """``m5c campaign run`` of ``numbers`` into ``journal`` (packets of 5 at 600 msg/s),
    returned once more than ``accepted_over`` messages are accepted in the journal."""
    run = [
        "campaign", "run", "--content", content, "--numbers", str(numbers),
        "--journal", str(journal), "--packet-size", "5", "--rate", "600", "--json",
    ]  # fmt: skip
    proc = m5c(run, sim.env)
    wait_for(
        lambda: (
            count(journal, "SELECT COUNT(*) FROM messages WHERE state = 'accepted'") > accepted_over
        ),
        timeout=60,
        what="the campaign to be sending",
    )
    return proc


def resumed(sim: Simulator, journal: Path) -> tuple[str, str]:
    """``m5c campaign resume`` to its end (it must succeed); its output and error text."""
    # The simulator records a send as it accepts it: resume need not wait the default 30 s.
    resume = m5c(
        ["campaign", "resume", "--journal", str(journal), "--json", "--recorded-late", "3"],
        sim.env,
    )
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err
    return out, err


def count(journal: Path, sql: str) -> int:
    """One number read from the journal by a separate connection (0 when not there yet)."""
    if not journal.exists():
        return 0
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # created, schema not yet committed
        return 0
    finally:
        conn.close()


def numbers_file(folder: Path, total: int, prefix: str = "139") -> Path:
    """A file of ``total`` distinct mainland numbers, one a line."""
    path = folder / "numbers.txt"
    path.write_text("".join(f"{prefix}{i:08d}\n" for i in range(total)))
    return path


class SmallDisk:
    """A small tmpfs mounted for one test: ``fill()`` takes every free byte, ``free()`` gives
    them back. Needs CAP_SYS_ADMIN (root, as on CI and in this container)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        """Write zeros until the filesystem refuses with ENOSPC (big writes, then small ones)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        refused: list[int] = []
        try:
            for size in (1 << 16, 512, 1):
                while True:
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError as exc:
                        refused.append(exc.errno or 0)
                        break
        finally:
            os.close(fd)
        assert refused == [28, 28, 28], refused  # ENOSPC each time

    def free(self) -> None:
        """Give the space back."""
        self.filler.unlink(missing_ok=True)


@contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[SmallDisk]:
    """Mount a tmpfs of ``size`` at ``folder`` for the block (umounted afterwards)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    try:
        yield SmallDisk(folder)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


#: ``make chaos`` (M5C_CHAOS=1): larger scenarios, and their rows stored in the fault table.
CHAOS = os.environ.get("M5C_CHAOS") == "1"
TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "fault_matrix.json"


def chaos_row(
    scenario: str,
    *,
    messages: int,
    accepted: int,
    pending: int,
    duplicates: int,
    lost: int,
    seconds: float,
) -> None:
    """Print a row of the fault table (``tests/reliability/test_fault_matrix.py``'s columns);
    under ``make chaos`` store it in ``benchmarks/results/fault_matrix.json`` too."""
    row = {
        "scenario": scenario,
        "messages": messages,
        "accepted": accepted,
        "pending": pending,
        "duplicates": duplicates,
        "lost": lost,
        "reports_stored": 0,
        "report_duplicates": 0,
        "seconds": seconds,
    }
    if CHAOS:
        rows = json.loads(TABLE.read_text()) if TABLE.exists() else {}
        rows[scenario] = row | {"full": True}
        TABLE.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    print(
        f"\n{scenario:24} messages {messages:5} accepted {accepted:5} pending {pending:4}"
        f" duplicates {duplicates} lost {lost} {seconds:.1f}s"
    )
