"""Group commits at the cap: in-flight marks share a commit, outcomes wait for the next one.

At 600 single-number packets a second each packet's mark and outcome would otherwise cost a
commit (an fsync) of its own. These tests check the sharing by counting commits and reading the
file from a second connection, never by timing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from m5c_async import JournalWriteError
from m5c_async.engine import Campaign, OutcomeKind, Packet, PacketOutcome
from m5c_async.journal import Journal


def _states(path: Path) -> dict[str, int]:
    """Message states as committed, read by an independent connection."""
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())


async def _packets(journal: Journal, numbers: list[str], size: int = 1) -> list[Packet]:
    cid = await journal.create(Campaign(numbers=numbers, content="x"), profile="notification")
    await journal.import_source(cid, Campaign(numbers=numbers, content="x"))
    return [p async for p in journal.packets(cid, size)]


async def _hold_second(journal: Journal, packets: list[Packet]) -> asyncio.Task[None]:
    """Commit the first packet's mark, then start the second's: it waits (``mark_interval``)."""
    await journal.mark_in_flight(packets[0])
    held = asyncio.create_task(journal.mark_in_flight(packets[1]))
    await asyncio.sleep(0)
    return held


def _numbers(n: int, start: int = 0) -> list[str]:
    return [f"138{i:08d}" for i in range(start, start + n)]


async def test_marks_made_together_share_one_commit(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db", mark_interval=30.0) as journal:
        packets = await _packets(journal, _numbers(20))
        before = journal.store.commits
        await asyncio.gather(*(journal.mark_in_flight(p) for p in packets))
        assert journal.store.commits == before + 1
        assert _states(tmp_path / "j.db") == {"in_flight": 20}


async def test_a_mark_soon_after_a_commit_waits_and_shares_the_next(tmp_path: Path) -> None:
    """Within ``mark_interval`` of a commit, marks wait for the next; a full one sends it."""
    async with Journal(tmp_path / "j.db", mark_interval=30.0) as journal:
        small = await _packets(journal, _numbers(2))
        big = await _packets(journal, _numbers(10_000, start=100), size=10_000)
        await journal.mark_in_flight(small[0])  # the first after a quiet spell: at once
        before = journal.store.commits
        waiting = asyncio.create_task(journal.mark_in_flight(small[1]))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()  # held for the interval (30 s), not committed alone
        assert _states(tmp_path / "j.db")["in_flight"] == 1
        # 10,000 messages waiting make the commit go at once, for both.
        await asyncio.wait_for(journal.mark_in_flight(big[0]), 10)
        await asyncio.wait_for(waiting, 10)
        assert journal.store.commits == before + 1
        assert _states(tmp_path / "j.db") == {"in_flight": 10_002}


async def test_every_mark_of_a_failed_commit_raises_and_halts(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db") as journal:
        packets = await _packets(journal, _numbers(3))
        await journal.store.close()  # every write now fails
        results = await asyncio.gather(
            *(journal.mark_in_flight(p) for p in packets), return_exceptions=True
        )
        assert all(isinstance(r, JournalWriteError) for r in results), results
        assert isinstance(journal.halted, JournalWriteError)
        with pytest.raises(JournalWriteError):
            await journal.mark_in_flight(packets[0])


async def test_a_cancelled_waiter_leaves_the_shared_commit_to_the_others(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db", mark_interval=30.0) as journal:
        packets = await _packets(journal, _numbers(3))
        await journal.mark_in_flight(packets[0])
        first = asyncio.create_task(journal.mark_in_flight(packets[1]))
        second = asyncio.create_task(journal.mark_in_flight(packets[2]))
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert not second.done()
        await journal.store.run(lambda conn: None)  # unrelated writes do not release it
        assert not second.done()
        # The held commit still goes at its time (30 s): shorten the wait by sending a full one.
        big = await _packets(journal, _numbers(10_000, start=100), size=10_000)
        await asyncio.wait_for(journal.mark_in_flight(big[0]), 10)
        await asyncio.wait_for(second, 10)
        assert _states(tmp_path / "j.db")["in_flight"] == 10_003


def _accept(packet: Packet) -> PacketOutcome:
    return PacketOutcome(
        kind=OutcomeKind.ACCEPTED,
        packet_id=packet.id,
        numbers=packet.numbers,
        msgid=f"{packet.id:014d}",
        node="qingdao",
    )


async def test_outcomes_wait_for_the_next_awaited_commit(tmp_path: Path) -> None:
    """Nobody waits for an outcome: it shares the next awaited commit (or ``write_defer``)."""
    path = tmp_path / "j.db"
    async with Journal(path, write_defer=30.0) as journal:
        packets = await _packets(journal, _numbers(4))
        await asyncio.gather(*(journal.mark_in_flight(p) for p in packets))
        before = journal.store.commits
        for packet in packets[:3]:
            journal.record(_accept(packet))
        await asyncio.sleep(0.2)
        assert journal.store.commits == before  # deferred: nothing committed yet
        assert _states(path) == {"in_flight": 4}
        await journal.mark_in_flight(packets[3])  # an awaited write: they share its commit
        assert journal.store.commits == before + 1
        assert _states(path) == {"accepted": 3, "in_flight": 1}
        journal.record(_accept(packets[3]))
    # Closing commits what is still deferred.
    assert _states(path) == {"accepted": 4}
    with sqlite3.connect(path) as conn:
        ended = conn.execute("SELECT state, COUNT(*) FROM packets GROUP BY state").fetchall()
    assert ended == [("accepted", 4)]


async def test_a_packet_ends_with_the_outcome_that_settles_its_last_message(
    tmp_path: Path,
) -> None:
    """Outcomes written together: the packet takes the state of the last one, in order."""
    path = tmp_path / "j.db"
    async with Journal(path, write_defer=30.0) as journal:
        (packet,) = await _packets(journal, _numbers(3), size=3)
        await journal.mark_in_flight(packet)
        journal.record(
            PacketOutcome(
                kind=OutcomeKind.FAILED,
                packet_id=packet.id,
                numbers=packet.numbers[:1],
                node="qingdao",
            )
        )
        journal.record(
            PacketOutcome(
                kind=OutcomeKind.ACCEPTED,
                packet_id=packet.id,
                numbers=packet.numbers[1:],
                msgid="00000000000001",
                node="qingdao",
            )
        )
    assert _states(path) == {"accepted": 2, "failed": 1}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT state, msgid FROM packets").fetchall() == [
            ("accepted", "00000000000001")
        ]


async def test_a_mark_waits_no_longer_than_its_bound(tmp_path: Path) -> None:
    """``within`` (a journaled campaign's bound from its concurrency and rate) caps the wait."""
    async with Journal(tmp_path / "j.db", mark_interval=30.0) as journal:
        packets = await _packets(journal, _numbers(3))
        held = await _hold_second(journal, packets)
        assert not held.done()
        # A mark that may not wait sends the commit at once, for the one already held too.
        await asyncio.wait_for(journal.mark_in_flight(packets[2], within=0.0), 10)
        await asyncio.wait_for(held, 10)
        assert _states(tmp_path / "j.db") == {"in_flight": 3}


def _pending(packet: Packet) -> PacketOutcome:
    return PacketOutcome(kind=OutcomeKind.PENDING, packet_id=packet.id, numbers=packet.numbers)


def _packet_states(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM packets GROUP BY state").fetchall())


async def test_a_cancelled_mark_put_back_to_pending_is_not_marked_in_flight_later(
    tmp_path: Path,
) -> None:
    """Cancelled while its mark waits (nothing left): its PENDING outcome stands.

    The held commit of marks goes after the outcome was recorded; it must not mark the packet
    ``in_flight`` again (a packet in flight with no message, asked about at every resume).
    """
    path = tmp_path / "j.db"
    async with Journal(path, mark_interval=30.0) as journal:
        packets = await _packets(journal, _numbers(3))
        held = await _hold_second(journal, packets)
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        journal.record(_pending(packets[1]))  # cancelled before leaving: back to pending
        await journal.store.run(lambda conn: None)  # the outcome is committed
        assert _packet_states(path) == {"in_flight": 1, "pending": 1, "queued": 1}
        # The held commit goes (a mark that may not wait), for the cancelled packet's mark too.
        await asyncio.wait_for(journal.mark_in_flight(packets[2], within=0.0), 10)
        assert _states(path) == {"in_flight": 2, "pending": 1}
        assert _packet_states(path) == {"in_flight": 2, "pending": 1}


async def test_outcomes_that_fail_to_commit_after_the_last_mark_stop_the_run(
    tmp_path: Path,
) -> None:
    """The last outcomes are deferred past the last mark: if their commit fails (here the file
    is locked by another process from the moment the platform accepted), the run raises the
    named error, as for any outcome that did not reach the file; it does not report success
    over messages the journal still has in flight."""
    from m5c_async import AsyncClient, JournalError
    from m5c_async.engine import EngineConfig, Hooks
    from m5c_async.journal import run_campaign
    from m5c_async.simulator import AccountConfig, run_simulator
    from tests.conftest import APIKEY, PASSWORD

    path = tmp_path / "j.db"
    locker: list[sqlite3.Connection] = []

    class LockOnOutcome(Hooks):
        def on_outcome(self, outcome: PacketOutcome) -> None:
            if not locker:  # another process takes the file's write lock
                conn = sqlite3.connect(path, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                locker.append(conn)

    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    journal = Journal(path)
    journal.store.busy_timeout = 0.2
    async with (
        journal,
        run_simulator([account], nodes=1) as sim,
        AsyncClient(username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls) as c,
    ):
        numbers = _numbers(20)
        try:
            with pytest.raises(JournalError):
                await run_campaign(
                    c,
                    journal,
                    Campaign(numbers=numbers, content="x"),
                    EngineConfig(packet_size=20),
                    hooks=[LockOnOutcome()],
                )
        finally:
            for conn in locker:
                conn.rollback()
                conn.close()
    assert _states(path) == {"in_flight": 20}  # what resume reconciles


async def test_closing_the_journal_commits_the_marks_still_waiting(tmp_path: Path) -> None:
    """A mark waiting to share a commit when the journal closes is committed at the close (its
    caller may send), not failed later as "closed" once the interval is up."""
    path = tmp_path / "j.db"
    async with Journal(path, mark_interval=30.0) as journal:
        packets = await _packets(journal, _numbers(2))
        held = await _hold_second(journal, packets)
        assert not held.done()
    await asyncio.wait_for(held, 2)  # neither the 30 s interval nor an error
    assert _states(path) == {"in_flight": 2}


async def test_a_takeover_fails_every_mark_of_the_held_commit(tmp_path: Path) -> None:
    """The campaign taken over by another process while marks wait: every waiter of the shared
    commit raises CampaignBusyError, none of them is marked (nothing may leave)."""
    from m5c_async import CampaignBusyError

    path = tmp_path / "j.db"
    async with Journal(path, mark_interval=30.0) as journal:
        numbers = _numbers(4)
        cid = await journal.create(
            Campaign(numbers=numbers, content="x"), profile="notification", own=True
        )
        await journal.import_source(cid, Campaign(numbers=numbers, content="x"))
        packets = [p async for p in journal.packets(cid, 1)]
        await journal.mark_in_flight(packets[0])
        held = [asyncio.create_task(journal.mark_in_flight(p)) for p in packets[1:3]]
        await asyncio.sleep(0)
        # Another process, a lease later, finds this owner silent and takes the campaign.
        async with Journal(path, clock=lambda: 1e10) as other:
            await other.acquire(cid)
        last = asyncio.create_task(journal.mark_in_flight(packets[3], within=0.0))
        results = await asyncio.wait_for(asyncio.gather(*held, last, return_exceptions=True), 10)
        assert all(isinstance(r, CampaignBusyError) for r in results), results
        assert isinstance(journal.halted, CampaignBusyError)
    with sqlite3.connect(path) as conn:
        states = conn.execute("SELECT id, state FROM packets ORDER BY id").fetchall()
    assert [s for _, s in states] == ["in_flight", "queued", "queued", "queued"]


async def test_outcomes_are_written_again_once_the_file_takes_writes(tmp_path: Path) -> None:
    """A group that could not even begin (the file locked by another process) fails; once the
    lock is gone, outcomes recorded after it reach the file again (the store's rule 4: writes
    resume by themselves), and the one whose write never ran is not dropped either."""
    path = tmp_path / "j.db"
    journal = Journal(path, write_defer=30.0)
    journal.store.busy_timeout = 0.2
    async with journal:
        packets = await _packets(journal, _numbers(2))
        await asyncio.gather(*(journal.mark_in_flight(p) for p in packets))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        journal.record(_accept(packets[0]))
        with pytest.raises(JournalWriteError):
            await journal.store.run(lambda conn: None)
        other.rollback()
        other.close()
        journal.record(_accept(packets[1]))
        await journal.store.run(lambda conn: None)
        assert _states(path) == {"accepted": 2}


async def test_marking_again_a_packet_marked_in_flight_commits_at_once(tmp_path: Path) -> None:
    """The engine marks again a packet held long at the gate, after its booking: that mark
    must not wait for company (the request would leave up to ``mark_interval`` after its
    booking, bunching requests the gate spaced)."""
    async with Journal(tmp_path / "j.db", mark_interval=30.0) as journal:
        packets = await _packets(journal, _numbers(2))
        await journal.mark_in_flight(packets[0])
        await asyncio.wait_for(journal.mark_in_flight(packets[0]), 5)
        held = asyncio.create_task(journal.mark_in_flight(packets[1]))
        await asyncio.sleep(0)
        assert not held.done()  # a first mark still shares the next commit
        journal.record(_accept(packets[0]))
        await asyncio.wait_for(journal.mark_in_flight(packets[1], within=0.0), 5)
        await held


async def test_flush_writes_outcomes_whose_write_never_ran(tmp_path: Path) -> None:
    """The last outcomes' write was in a group refused at BEGIN (the file locked): the run's
    final flush writes them once the file takes writes (and still reports the failure)."""
    path = tmp_path / "j.db"
    journal = Journal(path, write_defer=30.0)
    journal.store.busy_timeout = 0.2
    async with journal:
        packets = await _packets(journal, _numbers(1))
        await journal.mark_in_flight(packets[0])
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        journal.record(_accept(packets[0]))
        with pytest.raises(JournalWriteError):
            await journal.store.run(lambda conn: None)
        other.rollback()
        other.close()
        await journal.flush()  # not owned: nothing to report beyond the write itself
        assert _states(path) == {"accepted": 1}
