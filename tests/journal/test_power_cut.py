"""Acknowledged means on disk: a power cut right after an acknowledgement loses nothing.

The model (``sync_image.c``, compiled here and loaded with LD_PRELOAD into a child process): the
"disk" holds each journal file as it was at its last successful fsync/fdatasync and nothing
written after, the textbook worst case of a power cut (data in the page cache is gone). The
child acknowledges a stored report (``ACK``, as the webhook answers ``success``) and an
in-flight mark (``SENT``, as the request leaves) only after the journal returned; it is
SIGKILLed mid-stream, and the images are opened as SQLite would find them after the cut.

With ``synchronous=FULL`` (the default) every acknowledged write is in the images. The same run
with ``NORMAL`` (what the journal used before) loses acknowledged writes: the check can fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.journal._procs import CHAOS, chaos_row

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sync_image.c`` built into a shared object."""
    out = tmp_path_factory.mktemp("shim") / "sync_image.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(HERE / "sync_image.c"), "-ldl"],
        check=True,
    )
    return out


def _cut(shim: Path, folder: Path, synchronous: str, acks: int) -> tuple[set[str], set[int], Path]:
    """Run the child until ``acks`` reports are acknowledged, SIGKILL it, and build the images;
    returns (acknowledged msgids, packets acknowledged as sent, the image of the journal)."""
    journal = folder / "j.db"
    env = {**os.environ, "LD_PRELOAD": str(shim), "M5C_SYNC_WATCH": str(journal)}
    acked: set[str] = set()
    sent: set[int] = set()
    with subprocess.Popen(
        [sys.executable, "-m", "tests.journal._ack_child", str(journal), synchronous],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        deadline = time.monotonic() + 120
        try:
            for line in child.stdout:
                word, _, value = line.strip().partition(" ")
                if word == "ACK":
                    acked.add(value)
                elif word == "SENT":
                    sent.add(int(value))
                if len(acked) >= acks:
                    break
                assert time.monotonic() < deadline, "the child acknowledged too slowly"
            child.send_signal(signal.SIGKILL)  # the power cut
            rest, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    for line in rest.splitlines():  # written (acknowledged) before the kill
        word, _, value = line.partition(" ")
        if word == "ACK":
            acked.add(value)
        elif word == "SENT":
            sent.add(int(value))
    image = folder / "image"
    image.mkdir()
    for name in ("j.db", "j.db-wal"):
        synced = folder / f"{name}.synced"
        if synced.exists():
            shutil.copyfile(synced, image / name)
    return acked, sent, image / "j.db"


def _on_disk(image: Path) -> tuple[set[str], set[int]]:
    conn = sqlite3.connect(image)
    try:
        try:
            msgids = {m for (m,) in conn.execute("SELECT msgid FROM report_log")}
            marked = {
                int(p)
                for (p,) in conn.execute(
                    "SELECT id FROM packets WHERE state IN ('in_flight', 'accepted')"
                )
            }
        except sqlite3.OperationalError:  # not even the schema reached the disk
            return set(), set()
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        return msgids, marked
    finally:
        conn.close()


def test_full_keeps_every_acknowledged_write_through_a_power_cut(
    shim: Path, tmp_path: Path
) -> None:
    """synchronous=FULL: every ACK and every SENT before the cut is in the synced images."""
    acks = 1000 if CHAOS else 300
    begun = time.monotonic()
    acked, sent, image = _cut(shim, tmp_path, "FULL", acks=acks)
    msgids, marked = _on_disk(image)
    chaos_row(
        "power cut (acknowledged)",
        messages=len(acked) + len(sent),
        accepted=len(acked & msgids) + len(sent & marked),
        pending=0,
        duplicates=len(sent - marked),  # a lost in-flight mark: resent without reconciling
        lost=len(acked - msgids),
        seconds=time.monotonic() - begun,
    )
    assert len(acked) >= acks and len(sent) >= acks - 1
    assert acked <= msgids, f"{len(acked - msgids)} acknowledged reports lost"
    assert sent <= marked, f"{len(sent - marked)} in-flight marks lost (resent unreconciled)"
    syncs = (tmp_path / "j.db.syncs").read_text().splitlines()
    print(
        f"power cut (FULL): {len(acked)} reports + {len(sent)} marks acknowledged, all kept;"
        f" {len(syncs)} syncs"
    )


def test_normal_loses_acknowledged_writes_in_the_same_cut(shim: Path, tmp_path: Path) -> None:
    """The model is not a formality: with NORMAL (no sync at commit) acknowledged writes vanish."""
    acked, sent, image = _cut(shim, tmp_path, "NORMAL", acks=300)
    msgids, marked = _on_disk(image)
    assert acked - msgids, "NORMAL kept everything: the power-cut model proves nothing"
    assert sent - marked
