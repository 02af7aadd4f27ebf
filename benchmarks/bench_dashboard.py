"""What one dashboard snapshot costs, by campaign size.

Builds a journal per size with the journal's own API (a campaign imported, packets of 20 accepted
at 600 msg/s on two nodes, one request in 50 throttled, a report per message 1-3 s later), then
times ``JournalReader.snapshot`` (wall and CPU, mean of ``--runs``). A snapshot is taken at most
once per half interval whatever the number of viewers, so this is the dashboard's whole load on
the journal.

    .venv/bin/python benchmarks/bench_dashboard.py --messages 20000 200000
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import write

from m5c_async.dashboard import JournalReader
from m5c_async.engine import Campaign
from m5c_async.journal import Journal

PACKET = 20
RATE = 600.0


async def build(path: Path, messages: int) -> int:
    """A finished campaign of ``messages`` (module docstring); returns its id."""
    async with Journal(path, clock=lambda: 1_700_000_000.0) as journal:
        campaign = Campaign(numbers=(f"138{i:08d}" for i in range(messages)), content="x")
        cid = await journal.create(campaign, profile="notification")
        await journal.import_source(cid, campaign)

        def accept(conn: sqlite3.Connection) -> None:
            start = 1_700_000_000.0
            numbers = [r[0] for r in conn.execute("SELECT mobile FROM messages ORDER BY mobile")]
            packets, marks, reports, refused = [], [], [], []
            for k in range(0, len(numbers), PACKET):
                pid = k // PACKET + 1
                at = start + k / RATE
                node = f"http://node-{pid % 2}"
                packets.append((pid, cid, PACKET, at - 0.05, at, str(pid), node))
                if pid % 50 == 0:
                    refused.append((cid, pid, at - 0.1, node, "send", 1, PACKET, "throttled"))
                for j, mobile in enumerate(numbers[k : k + PACKET]):
                    marks.append((pid, str(pid), node, mobile))
                    status = "DELIVRD" if (k + j) % 30 else "UNDELIV"
                    received = at + 1 + (k + j) % 200 / 100
                    reports.append((str(pid), mobile, status, None, received))
            conn.executemany(
                "INSERT INTO packets (id, campaign, state, size, sent_at, ended_at, msgid, node)"
                " VALUES (?, ?, 'accepted', ?, ?, ?, ?, ?)",
                packets,
            )
            conn.executemany(
                "UPDATE messages SET state = 'accepted', packet = ?, msgid = ?, node = ?"
                " WHERE campaign = 1 AND mobile = ?",
                marks,
            )
            conn.executemany(
                "INSERT INTO reports (msgid, mobile, status, at, received) VALUES (?, ?, ?, ?, ?)",
                reports,
            )
            conn.executemany(
                "INSERT INTO request_log (campaign, packet, at, node, endpoint, attempt, size,"
                " verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                refused,
            )

        await journal.store.run(accept)
    return cid


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for messages in args.messages:
            path = Path(folder) / f"j{messages}.db"
            cid = anyio.run(build, path, messages)
            reader = JournalReader(path)
            snap = reader.snapshot(cid)
            assert snap is not None
            assert snap["funnel"]["accepted"] == messages
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.runs):
                reader.snapshot(cid)
            rows.append(
                {
                    "messages": messages,
                    "snapshot_ms_wall": round((time.perf_counter() - wall) / args.runs * 1000, 1),
                    "snapshot_ms_cpu": round((time.process_time() - cpu) / args.runs * 1000, 1),
                    "journal_mb": round(path.stat().st_size / 1e6, 1),
                }
            )
    write(
        "dashboard",
        {
            "benchmark": "one dashboard snapshot of a finished campaign, by size",
            "runs": args.runs,
            "snapshots": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
