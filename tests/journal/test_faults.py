"""Errors surface: a journal whose file fails (disk full, read-only, corrupt) raises a named
``JournalError`` in every waiting caller, a campaign stops cleanly with its exit code, the webhook
answers ``retry`` and recovers by itself; files are created 0600.

Disk full is real: a small tmpfs mounted for the test and filled (``_procs.small_disk``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
import pytest

from m5c_async import JournalCorruptError, JournalError, JournalWriteError
from m5c_async.engine import Campaign
from m5c_async.journal import Journal
from m5c_async.protocol import DeliveryReport
from m5c_async.simulator import free_port
from tests import doc_pushes
from tests.journal._procs import (
    CHAOS,
    chaos_row,
    count,
    m5c,
    numbers_file,
    resumed,
    sending_campaign,
    simulator,
    small_disk,
    wait_for,
)

EXIT_JOURNAL_WRITE, EXIT_JOURNAL_CORRUPT = 7, 8
TOKEN = "journal-faults-token-0123456789"


def _reports(start: int, n: int) -> list[DeliveryReport]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        DeliveryReport(msgid=f"{start + i:014d}", mobile="13800000000", status="DELIVRD", at=at)
        for i in range(n)
    ]


async def test_disk_full_fails_every_waiting_caller_then_writes_resume(tmp_path: Path) -> None:
    """Ten callers wait on a full disk: each gets JournalWriteError('disk full') within a second;
    the writer survives, and once space is freed the same journal writes again."""
    with small_disk(tmp_path / "fs") as disk:
        async with Journal(disk.path / "j.db") as journal:
            assert await journal.store_reports(_reports(0, 10)) == 10
            disk.fill()
            outcomes: list[BaseException | int] = []

            async def store(i: int) -> None:
                try:
                    outcomes.append(await journal.store_reports(_reports(1000 * (i + 1), 500)))
                except JournalError as exc:
                    outcomes.append(exc)

            with anyio.fail_after(1.0):
                async with anyio.create_task_group() as tg:
                    for i in range(10):
                        tg.start_soon(store, i)
            assert len(outcomes) == 10
            assert all(isinstance(o, JournalWriteError) for o in outcomes), outcomes
            first = outcomes[0]
            assert isinstance(first, JournalWriteError)
            assert first.cause == "disk full" and "disk full" in first.message
            disk.free()
            assert await journal.store_reports(_reports(90_000, 500)) == 500
            assert journal.store.error is None
        conn = sqlite3.connect(disk.path / "j.db")
        assert conn.execute("SELECT COUNT(*) FROM report_log").fetchone()[0] == 510
        conn.close()


async def test_files_are_created_0600(tmp_path: Path) -> None:
    """The journal and its -wal and -shm files: owner only, whatever the umask."""
    old = os.umask(0)
    try:
        async with Journal(tmp_path / "private.db") as journal:
            await journal.store_reports(_reports(0, 1))
            modes = {
                name: stat.S_IMODE(os.stat(tmp_path / name).st_mode)
                for name in os.listdir(tmp_path)
                if name.startswith("private.db")
            }
    finally:
        os.umask(old)
    assert set(modes) == {"private.db", "private.db-wal", "private.db-shm"}
    assert set(modes.values()) == {0o600}, modes


def _offline_env() -> dict[str, str]:
    """Credentials that parse, and a node nobody listens on: nothing here reaches a platform."""
    env = dict(os.environ)
    env.update(
        M5C_USERNAME="mlrt",
        M5C_PASSWORD="offline-pw",
        M5C_APIKEY="0123456789abcdef0123456789abcdef",
        M5C_BASE_URL="http://127.0.0.1:9",
    )
    return env


def _corrupt(path: Path) -> None:
    """Overwrite two pages in the middle of a journal with garbage."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(os.urandom(8192))


async def _journal_with_rows(path: Path) -> None:
    async with Journal(path) as journal:
        cid = await journal.create(Campaign(numbers=[], content="x"), profile="notification")
        numbers = [f"139{i:08d}" for i in range(20_000)]
        await journal.import_source(cid, Campaign(numbers=numbers, content="x"))


def test_a_corrupt_or_foreign_file_is_refused_at_open(tmp_path: Path) -> None:
    """quick_check at open: status and resume say `journal corrupt` in one line, exit 8, and
    never hang; a file that is not SQLite at all is refused the same way."""
    journal = tmp_path / "bad.db"
    anyio.run(_journal_with_rows, journal)
    _corrupt(journal)
    foreign = tmp_path / "notes.db"
    foreign.write_text("these are my notes, not a journal\n" * 200)
    for path in (journal, foreign):
        for action in ("status", "resume", "list"):
            proc = m5c(["campaign", action, "--journal", str(path)], _offline_env())
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == EXIT_JOURNAL_CORRUPT, (action, err)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("m5c: journal corrupt: "), err

    async def opened() -> None:
        with pytest.raises(JournalCorruptError):
            async with Journal(journal):
                pass

    anyio.run(opened)


def test_a_read_only_filesystem_is_named(tmp_path: Path) -> None:
    """A journal on a filesystem remounted read-only: status still reads it; resume (which must
    write) says `read-only` in one line, exit 7."""
    env = _offline_env()
    with small_disk(tmp_path / "fs") as disk:
        path = disk.path / "ro.db"
        anyio.run(_journal_with_rows, path)
        subprocess.run(["mount", "-o", "remount,ro", str(disk.path)], check=True)
        try:
            status = m5c(["campaign", "status", "--journal", str(path), "--json"], env)
            out, _ = status.communicate(timeout=30)
            resume = m5c(["campaign", "resume", "--journal", str(path), "--json"], env)
            _, err = resume.communicate(timeout=30)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(disk.path)], check=True)
    assert status.returncode == 0 and '"pending":20000' in out
    assert resume.returncode == EXIT_JOURNAL_WRITE, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("m5c: journal write failed: read-only"), err


def test_webhook_answers_retry_on_a_full_disk_and_recovers_by_itself(tmp_path: Path) -> None:
    """A real `m5c webhook serve --journal` on a small tmpfs: success, then 500 retry while the
    disk is full, then success again once space is freed, without a restart."""
    query = doc_pushes.REPORT_JSON_URL.split("?", 1)[1]
    port = free_port()
    with small_disk(tmp_path / "fs") as disk:
        journal = disk.path / "hook.db"
        args = ["webhook", "serve", "--port", str(port), "--journal", str(journal)]
        proc = m5c([*args, "--token", TOKEN], dict(os.environ))
        try:
            assert proc.stderr is not None
            assert "ready" in proc.stderr.readline()
            url = f"http://127.0.0.1:{port}/{TOKEN}/reports?{query}"

            def answer() -> httpx.Response:
                return httpx.get(url, timeout=10)

            wait_for(lambda: _answers(answer), timeout=30, what="the webhook to listen")
            assert answer().text == "success"
            disk.fill()
            # Each retry is a new push (new receive time) of reports already stored: the
            # history holds them once, so it is the quarantine-free report_log that must grow.
            refused = _distinct_push(url, 1)
            assert (refused.status_code, refused.text) == (500, "retry")
            started = time.monotonic()
            assert _distinct_push(url, 2).status_code == 500
            assert time.monotonic() - started < 1.0
            disk.free()
            again = _distinct_push(url, 1)
            assert (again.status_code, again.text) == (200, "success")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=10)
        assert count(journal, "SELECT COUNT(*) FROM report_log WHERE msgid = '99000000000001'") == 1


def _answers(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except httpx.TransportError:
        return False
    return True


def _distinct_push(url: str, n: int) -> httpx.Response:
    """A JSON report push of ``n`` reports not stored before (msgids 99000000000001...)."""
    base = url.split("?", 1)[0]
    records = ",".join(
        f'{{"msgid":"{99000000000000 + i}","mobile":"13811299999","status":"DELIVRD",'
        f'"receivetime":"1462879547"}}'
        for i in range(1, n + 1)
    )
    return httpx.post(base, data={"data": f'{{"results":[{records}]}}'}, timeout=10)


def test_a_campaign_stops_cleanly_on_a_full_disk_and_resumes_after(tmp_path: Path) -> None:
    """`campaign run` with its journal on a small tmpfs; the disk fills while it sends: it exits
    7 with one `disk full` line within seconds, nothing leaves after that, every number the
    simulator accepted is in the journal as accepted or in flight; space freed, `resume`
    finishes with no duplicate."""
    total = 6000 if CHAOS else 3000
    numbers = numbers_file(tmp_path, total)
    begun = time.monotonic()
    with small_disk(tmp_path / "fs", size="8m") as disk, simulator() as sim:
        journal = disk.path / "full.db"
        proc = sending_campaign(sim, journal, numbers, "disk full", accepted_over=200)
        disk.fill()
        filled = time.monotonic()
        _, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - filled
        assert proc.returncode == EXIT_JOURNAL_WRITE, err
        assert err.strip().splitlines()[-1].startswith("m5c: journal write failed: disk full")
        assert "Traceback" not in err
        assert stopped < 5, stopped
        sent = sim.ledger()
        disk.free()
        conn = sqlite3.connect(journal)
        marked = {
            m
            for (m,) in conn.execute(
                "SELECT mobile FROM messages WHERE state IN ('accepted', 'in_flight')"
            )
        }
        conn.close()
        assert set(sent) <= marked, "a number left without its in-flight mark on disk"
        assert len(sent) < total
        resumed(sim, journal)
        ledger = sim.ledger()
        doubled = sim.stats()["duplicates"]
    chaos_row(
        "journal disk full",
        messages=total,
        accepted=len(set(ledger)),
        pending=total - len(set(ledger)),
        duplicates=len(ledger) - len(set(ledger)) + doubled,
        lost=total - len(set(ledger)),
        seconds=time.monotonic() - begun,
    )
    assert doubled == 0
    assert len(ledger) == len(set(ledger)) == total
