"""A packet held at the pacer's gate long after its in-flight mark: resume must still find it.

The mark is committed before the gate (the gate's booking is the moment the request leaves),
and resume looks for an unended packet's records in the window of its mark (``sent_at``,
``CLOCK_SKEW`` and ``RECORDED_LATE`` around it). A gate that holds a packet longer than that
(big packets queued behind each other at the cap: 10,000 messages are 16.7 s of a 600/s
budget; a Redis outage waited through; a throttled rate) must not leave its request outside the
window resume searches, or a crash right after the request sends its messages twice.

The gate's wait is simulated with injected clocks (the journal's Unix clock and the engine's
monotonic one jump 60 s while the packet is at the gate); the platform is the simulator.
"""

from __future__ import annotations

import time
from pathlib import Path

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, LocalPacer, SendEngine
from m5c_async.journal import Journal
from m5c_async.simulator import AccountConfig, run_simulator
from tests.conftest import APIKEY, PASSWORD

HELD = 60.0  # seconds at the gate: past CLOCK_SKEW + RECORDED_LATE (40 s)


class Shift:
    """Both clocks run ``HELD`` s behind until the gate lets the packet go."""

    def __init__(self) -> None:
        self.behind = HELD

    def unix(self) -> float:
        return time.time() - self.behind

    def mono(self) -> float:
        return time.monotonic() - self.behind


class HeldGate(LocalPacer):
    """The local pacer, whose gate holds the first packet ``HELD`` s (on the clocks)."""

    def __init__(self, shift: Shift) -> None:
        super().__init__(600.0)
        self.shift = shift

    async def acquire(self, n: int) -> None:
        await super().acquire(n)
        self.shift.behind = 0.0


async def test_a_packet_held_at_the_gate_past_its_window_is_found_by_resume(
    tmp_path: Path,
) -> None:
    shift = Shift()
    numbers = [f"138{i:08d}" for i in range(5)]
    campaign = Campaign(numbers=numbers, content="held at the gate")
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    async with (
        run_simulator([account], nodes=1) as sim,
        AsyncClient(username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls) as c,
        Journal(tmp_path / "j.db", clock=shift.unix) as journal,
    ):
        cid = await journal.create(campaign, profile="notification", own=True)
        await journal.import_source(cid, campaign)
        engine = SendEngine(
            c, EngineConfig(packet_size=5), pacer=HeldGate(shift), hooks=[], clock=shift.mono
        )
        # No JournalHooks: the outcome never reaches the journal, as when the process is
        # killed right after the request (or within ``write_defer`` of its answer).
        result = await engine.run_packets(
            journal.packets(cid, 5), before_send=journal.mark_in_flight
        )
        assert result.accepted == 5
        assert len(sim.platform.ledger) == 1
        # Resume: the platform's records are asked in the packet's window.
        found, returned = await journal.recover(cid, c)
    assert (found, returned) == (5, 0)  # returned to pending would send all 5 a second time


async def test_every_mark_is_at_or_before_its_request_and_within_the_window(
    tmp_path: Path,
) -> None:
    """At the cap with marks sharing commits: each packet's ``sent_at`` is never after the
    platform received its request, and the request is inside the window resume would search
    (the platform's own clock is the host's here: the in-process simulator)."""
    import sqlite3

    from m5c_async.journal import run_campaign
    from m5c_async.protocol import CLOCK_SKEW

    numbers = [f"139{i:08d}" for i in range(600)]
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    path = tmp_path / "j.db"
    async with (
        run_simulator([account], nodes=1) as sim,
        AsyncClient(username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls) as c,
        Journal(path) as journal,
    ):
        _, result = await run_campaign(
            c,
            journal,
            Campaign(numbers=numbers, content="x"),
            EngineConfig(packet_size=2, rate=600, concurrency=50),
        )
        received = {m: e.at for e in sim.platform.ledger for m in e.mobiles}
    assert result.accepted == 600
    with sqlite3.connect(path) as conn:
        marks = dict(
            conn.execute(
                "SELECT m.mobile, p.sent_at FROM messages m JOIN packets p ON p.id = m.packet"
            ).fetchall()
        )
    late = {m: received[m] - at for m, at in marks.items() if not at <= received[m]}
    assert late == {}
    assert max(received[m] - at for m, at in marks.items()) < CLOCK_SKEW
