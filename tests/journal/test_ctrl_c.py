"""Ctrl-C in any journal state stops the command within 2 s and leaves the journal consistent:
while a campaign sends (then resume finishes with no duplicate), and while the journal's write
lock is held by another process (``status`` waiting on it)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

from tests.journal._procs import (
    m5c,
    numbers_file,
    resumed,
    sending_campaign,
    simulator,
    wait_for,
)

EXIT_INTERRUPTED = 130


def test_ctrl_c_while_sending_stops_within_two_seconds_consistent(tmp_path: Path) -> None:
    """SIGINT mid-campaign: exit 130 within 2 s, lease released, file sound, nothing in flight
    that resume cannot settle; resume sends the rest, each number once."""
    total = 3000
    numbers = numbers_file(tmp_path, total)
    journal = tmp_path / "ctrl-c.db"
    with simulator() as sim:
        proc = sending_campaign(sim, journal, numbers, "ctrl-c", accepted_over=300)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
        assert proc.returncode == EXIT_INTERRUPTED, err
        assert took < 2.0, took
        assert "Traceback" not in err
        conn = sqlite3.connect(journal)
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM owners").fetchone()[0] == 0
        conn.close()
        out, _ = resumed(sim, journal)
        ledger = sim.ledger()
        assert sim.stats()["duplicates"] == 0
    assert len(ledger) == len(set(ledger)) == total
    assert json.loads(out.strip().splitlines()[-1])["pending"] == 0


def test_ctrl_c_with_the_platform_hung_stops_within_two_seconds(tmp_path: Path) -> None:
    """The platform stops answering mid-campaign (its process frozen: connections open, not a
    byte back, read timeout 10 s): Ctrl-C still exits 130 within 2 s; what was in flight is
    left ambiguous, not pending; once the platform runs again, resume settles it against the
    records: each number once."""
    total = 3000
    numbers = numbers_file(tmp_path, total)
    journal = tmp_path / "hung.db"
    with simulator() as sim:
        proc = sending_campaign(sim, journal, numbers, "hung", accepted_over=100)
        os.kill(sim.pid, signal.SIGSTOP)
        try:
            wait_for(
                lambda: _unread_requests(sim.port, sim.port + 1) >= 2,
                timeout=30,
                what="requests sent to the frozen platform, unread",
            )
            proc.send_signal(signal.SIGINT)
            started = time.monotonic()
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - started
        finally:
            os.kill(sim.pid, signal.SIGCONT)
        assert proc.returncode == EXIT_INTERRUPTED, err
        assert took < 2.0, took
        assert "Traceback" not in err
        conn = sqlite3.connect(journal)
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        states = dict(conn.execute("SELECT state, COUNT(*) FROM packets GROUP BY state"))
        conn.close()
        assert states.get("ambiguous", 0) > 0, states
        assert "in_flight" not in states, states
        out, _ = resumed(sim, journal)
        ledger = sim.ledger()
        assert sim.stats()["duplicates"] == 0
    assert len(ledger) == len(set(ledger)) == total
    assert json.loads(out.strip().splitlines()[-1])["pending"] == 0


def _unread_requests(*ports: int) -> int:
    """Established loopback connections to ``ports`` holding bytes their server has not read
    (``/proc/net/tcp``: a request on the wire that nobody answers)."""
    unread = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        rx_queue = int(fields[4].split(":")[1], 16)
        if local_port in ports and fields[3] == "01" and rx_queue > 0:
            unread += 1
    return unread


def _has_open(pid: int, path: Path) -> bool:
    """True once process ``pid`` holds ``path`` open (it then waits for the lock)."""
    folder = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(folder / fd) == str(path) for fd in os.listdir(folder))
    except OSError:
        return False


def test_ctrl_c_while_the_journal_is_locked_by_another_process(tmp_path: Path) -> None:
    """Another process holds the write lock: status waits for it (up to the busy timeout), and
    Ctrl-C meanwhile ends it within 2 s; once the lock is gone, status answers."""
    journal = tmp_path / "locked.db"
    numbers = numbers_file(tmp_path, 10)
    with simulator() as sim:
        run = [
            "campaign", "run", "--content", "x", "--numbers", str(numbers),
            "--journal", str(journal), "--json",
        ]  # fmt: skip
        first = m5c(run, sim.env)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        holder = sqlite3.connect(journal, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held
        try:
            status = m5c(["campaign", "status", "--journal", str(journal), "--json"], sim.env)
            wait_for(lambda: _has_open(status.pid, journal), timeout=30, what="status to open it")
            status.send_signal(signal.SIGINT)
            started = time.monotonic()
            _, err = status.communicate(timeout=30)
            took = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert status.returncode == EXIT_INTERRUPTED, err
        assert took < 2.0, took
        again = m5c(["campaign", "status", "--journal", str(journal), "--json"], sim.env)
        out, err = again.communicate(timeout=30)
        assert again.returncode == 0, err
        assert json.loads(out)["accepted"] == 10
