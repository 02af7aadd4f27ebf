"""A child process for the power-cut test: it acknowledges journal writes on stdout, one line
each, only after the journal returned (``ACK <msgid>`` for a stored report, ``SENT <packet>``
for an in-flight mark, as a request would leave right after it), until it is killed.

    python -m tests.journal._ack_child JOURNAL SYNCHRONOUS
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import anyio

from m5c_async.engine import Campaign
from m5c_async.journal import Journal
from m5c_async.protocol import DeliveryReport

AT = datetime(2026, 1, 1, tzinfo=UTC)


async def main(path: Path, synchronous: str) -> None:
    async with Journal(path, synchronous=synchronous) as journal:
        numbers = [f"139{i:08d}" for i in range(5000)]
        cid = await journal.create(Campaign(numbers=[], content="x"), profile="notification")
        await journal.import_source(cid, Campaign(numbers=numbers, content="x"))
        print("READY", flush=True)
        i = 0
        async for packet in journal.packets(cid, 1):
            i += 1
            msgid = f"{i:014d}"
            report = DeliveryReport(msgid=msgid, mobile="13800000000", status="DELIVRD", at=AT)
            await journal.store_reports([report], via="push")
            print(f"ACK {msgid}", flush=True)
            await journal.mark_in_flight(packet)
            print(f"SENT {packet.id}", flush=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), sys.argv[2])
