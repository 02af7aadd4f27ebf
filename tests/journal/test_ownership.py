"""One owner per campaign: a second process is refused, a dead owner is taken over after
reconciling, and ``campaign run`` twice on the same journal and numbers is refused.

Real processes (``python -m m5c_async``), a real SQLite file and a simulator process; the
simulator's ledger is the judge of duplicates.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from m5c_async import CampaignBusyError, JournalError
from m5c_async.engine import Campaign, Packet
from m5c_async.journal import Journal
from tests.conftest import FakeClock
from tests.journal._procs import chaos_row, count, m5c, numbers_file, simulator, wait_for

EXIT_BUSY = 6
EXIT_USAGE = 2
TOTAL = 6000


def _run_args(numbers: Path, journal: Path, *extra: str) -> list[str]:
    return [
        "campaign", "run", "--profile", "notification", "--content", "two owners",
        "--numbers", str(numbers), "--journal", str(journal), "--packet-size", "5",
        "--rate", "600", "--json", *extra,
    ]  # fmt: skip


def test_a_second_process_is_refused_while_the_owner_runs(tmp_path: Path) -> None:
    """run 6,000 numbers; resume (and run again) from other processes: both refused, naming the
    owner; the owner finishes; the simulator saw every number exactly once."""
    numbers = numbers_file(tmp_path, TOTAL)
    journal = tmp_path / "two.db"
    started = time.monotonic()
    with simulator() as sim:
        owner = m5c(_run_args(numbers, journal), sim.env)
        try:
            wait_for(
                lambda: (
                    count(journal, "SELECT COUNT(*) FROM messages WHERE state = 'accepted'") > 300
                ),
                timeout=60,
                what="the owner to be sending",
            )
            second = m5c(["campaign", "resume", "--journal", str(journal), "--json"], sim.env)
            out, err = second.communicate(timeout=60)
            assert second.returncode == EXIT_BUSY, err
            lines = err.strip().splitlines()
            assert len(lines) == 1, err
            assert f"pid {owner.pid}" in lines[0] and socket.gethostname() in lines[0]
            assert "Traceback" not in err
            again = m5c(_run_args(numbers, journal), sim.env)
            _, err = again.communicate(timeout=60)
            assert again.returncode == EXIT_BUSY, err
            assert owner.poll() is None, "the owner must still be running"
            out, err = owner.communicate(timeout=120)
        finally:
            if owner.poll() is None:
                owner.kill()
        assert owner.returncode == 0, err
        ledger = sim.ledger()
        doubled = sim.stats()["duplicates"]
    chaos_row(
        "two processes, one journal",
        messages=TOTAL,
        accepted=len(set(ledger)),
        pending=count(journal, "SELECT COUNT(*) FROM messages WHERE state = 'pending'"),
        duplicates=len(ledger) - len(set(ledger)) + doubled,
        lost=TOTAL - len(set(ledger)),
        seconds=time.monotonic() - started,
    )
    assert doubled == 0
    assert len(ledger) == len(set(ledger)) == TOTAL
    assert json.loads(out.strip().splitlines()[-1])["accepted"] == TOTAL


def test_a_dead_owner_is_taken_over_after_reconciling(tmp_path: Path) -> None:
    """The owner is SIGKILLed mid-campaign: its lease row stays, its pid is gone, so resume
    takes over at once, reconciles the in-flight rows, and sends the rest exactly once."""
    numbers = numbers_file(tmp_path, 3000)
    journal = tmp_path / "dead.db"
    with simulator() as sim:
        owner = m5c(_run_args(numbers, journal), sim.env)
        wait_for(
            lambda: count(journal, "SELECT COUNT(*) FROM messages WHERE state = 'accepted'") > 300,
            timeout=60,
            what="the owner to be sending",
        )
        owner.send_signal(signal.SIGKILL)
        owner.communicate(timeout=30)
        assert count(journal, "SELECT COUNT(*) FROM owners") == 1  # left behind by the dead
        resume = m5c(
            ["campaign", "resume", "--journal", str(journal), "--json", "--recorded-late", "3"],
            sim.env,
        )
        _, err = resume.communicate(timeout=120)
        assert resume.returncode == 0, err
        assert "took over" in err and f"pid {owner.pid}" in err
        ledger = sim.ledger()
        assert sim.stats()["duplicates"] == 0
    assert len(ledger) == len(set(ledger)) == 3000
    assert count(journal, "SELECT COUNT(*) FROM owners") == 0  # released on a clean end
    assert count(journal, "SELECT COUNT(*) FROM messages WHERE state = 'accepted'") == 3000


def test_run_twice_is_refused_and_points_to_resume(tmp_path: Path) -> None:
    """The same numbers and content on the same journal: refused unless --new; list shows both."""
    numbers = numbers_file(tmp_path, 40)
    journal = tmp_path / "twice.db"
    with simulator() as sim:
        first = m5c(_run_args(numbers, journal), sim.env)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        again = m5c(_run_args(numbers, journal), sim.env)
        _, err = again.communicate(timeout=60)
        assert again.returncode == EXIT_USAGE
        assert len(err.strip().splitlines()) == 1 and "campaign resume --campaign 1" in err
        assert len(sim.ledger()) == 40
        new = m5c(_run_args(numbers, journal, "--new"), sim.env)
        _, err = new.communicate(timeout=60)
        assert new.returncode == 0, err
        assert len(sim.ledger()) == 80
        listing = m5c(["campaign", "list", "--journal", str(journal), "--json"], sim.env)
        out, err = listing.communicate(timeout=60)
        assert listing.returncode == 0, err
        rows = [json.loads(line) for line in out.splitlines()]
        assert [(r["id"], r["accepted"], r["owner"]) for r in rows] == [
            (1, 40, None),
            (2, 40, None),
        ]
        status = m5c(
            ["campaign", "status", "--journal", str(journal), "--campaign", "1", "--json"], sim.env
        )
        out, err = status.communicate(timeout=60)
        assert json.loads(out)["campaign"] == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("--content", "something else"), ("--profile", "marketing"), ("--rate", "1")],
)
def test_resume_refuses_options_that_contradict_the_campaign(
    tmp_path: Path, option: str, value: str
) -> None:
    """resume --content/--profile/--rate other than the stored ones: one line, exit 2."""
    numbers = numbers_file(tmp_path, 10)
    journal = tmp_path / "c.db"
    with simulator() as sim:
        first = m5c(_run_args(numbers, journal), sim.env)
        first.communicate(timeout=60)
        assert first.returncode == 0
        resume = m5c(["campaign", "resume", "--journal", str(journal), option, value], sim.env)
        _, err = resume.communicate(timeout=60)
        assert resume.returncode == EXIT_USAGE
        assert len(err.strip().splitlines()) == 1 and option in err, err
        same = m5c(
            ["campaign", "resume", "--journal", str(journal), "--profile", "notification"],
            sim.env,
        )
        _, err = same.communicate(timeout=60)
        assert same.returncode == 0, err


def test_resume_numbers_is_the_same_file_or_the_same_numbers(tmp_path: Path) -> None:
    """resume --numbers: a copy of the campaign's file (moved, another host) is the same
    numbers; a file with other numbers is refused (exit 2, one line)."""
    numbers = numbers_file(tmp_path, 10)
    journal = tmp_path / "c.db"
    copy = tmp_path / "elsewhere" / "copy.txt"
    copy.parent.mkdir()
    copy.write_bytes(numbers.read_bytes())
    other = tmp_path / "other.txt"
    other.write_bytes(numbers.read_bytes() + b"13900000000\n")
    with simulator() as sim:
        first = m5c(_run_args(numbers, journal), sim.env)
        first.communicate(timeout=60)
        assert first.returncode == 0
        refused = m5c(
            ["campaign", "resume", "--journal", str(journal), "--numbers", str(other)], sim.env
        )
        _, err = refused.communicate(timeout=60)
        assert refused.returncode == EXIT_USAGE
        assert len(err.strip().splitlines()) == 1 and "--numbers" in err, err
        same = m5c(
            ["campaign", "resume", "--journal", str(journal), "--numbers", str(copy)], sim.env
        )
        _, err = same.communicate(timeout=60)
        assert same.returncode == 0, err


async def test_lease_rules_with_an_injected_clock(tmp_path: Path) -> None:
    """A fresh lease of another host is busy; a stale one is taken over; a lost lease fences
    the in-flight mark, so nothing more leaves."""
    clock = FakeClock()
    path = tmp_path / "lease.db"
    async with Journal(path, clock=clock, lease=30.0) as journal:
        cid = await journal.create(Campaign(numbers=["13800000000"], content="x"), profile="p")
        await journal.import_source(cid, Campaign(numbers=["13800000000"], content="x"))

        def foreign(heartbeat: float) -> None:
            import sqlite3

            conn = sqlite3.connect(path)
            conn.execute(
                "INSERT OR REPLACE INTO owners (campaign, token, pid, host, started, heartbeat)"
                " VALUES (?, 'theirs', 4242, 'elsewhere', ?, ?)",
                (cid, heartbeat, heartbeat),
            )
            conn.commit()
            conn.close()

        foreign(clock())
        with pytest.raises(CampaignBusyError) as busy:
            await journal.acquire(cid)
        assert isinstance(busy.value, JournalError)
        assert busy.value.pid == 4242 and busy.value.host == "elsewhere"
        assert "pid 4242 on elsewhere" in busy.value.message
        clock.advance(31)
        lease = await journal.acquire(cid)
        assert lease.previous is not None and lease.previous.pid == 4242
        packet = next(iter([p async for p in journal.packets(cid, 1)]))
        assert isinstance(packet, Packet)
        foreign(clock())  # someone took it while we stalled
        with pytest.raises(CampaignBusyError):
            await journal.mark_in_flight(packet)
        assert (
            await journal.store.run(
                lambda c: c.execute(
                    "SELECT state FROM packets WHERE id = ?", (packet.id,)
                ).fetchone()[0]
            )
            == "queued"
        )
    assert os.stat(path).st_size > 0
