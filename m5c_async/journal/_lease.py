"""One owner per campaign: a lease row per campaign, taken before anything is sent.

Rules:

1. A process that runs or resumes a campaign first takes its row in ``owners`` (its token, pid,
   host, the start time of its process, when it took it, its heartbeat). The row is taken inside
   the journal's write transaction, so two processes can never both take it.
2. A row held by another token stands unless its owner is dead: its heartbeat is older than the
   lease (``lease`` seconds), or it is on this host and its process is gone (no such pid, or a pid
   reused by a process that started at another time). A standing row refuses with
   ``CampaignBusyError`` naming the owner; a dead owner's row is replaced and the new owner
   reconciles the dead one's in-flight packets before it sends anything.
3. The owner renews its heartbeat with every packet it takes and every in-flight mark (in the
   same transaction), and every ``lease / 4`` seconds while idle. Taking a packet and marking it
   in flight check the row still holds the owner's token (fencing): an owner that lost its row
   while stalled sends nothing more. Since every mark renews the heartbeat, a row taken over by
   expiry is at least ``lease`` seconds past the old owner's last request: longer than a request
   can last (connect + write + read timeouts), so none of its requests is still on the way
   when the new owner asks the platform's records.
4. The row is deleted when the owner ends, cleanly or by an exception (a SIGKILL leaves it:
   rule 2 then applies).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from .._exceptions import CampaignBusyError

__all__ = [
    "LEASE",
    "Lease",
    "Owner",
    "busy_error",
    "fence",
    "owner_of",
    "release",
    "standing",
    "take",
]

#: Seconds without a heartbeat after which an owner counts as dead (rule 3 explains the floor).
LEASE: Final = 30.0


HOST: Final = socket.gethostname()


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """Who holds (or held) a campaign."""

    pid: int
    host: str
    started: float
    heartbeat: float
    proc: str | None = None

    def describe(self) -> str:
        """``pid 123 on host (since 2026-11-25T07:50:01Z)``."""
        since = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"pid {self.pid} on {self.host} (since {since})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A campaign held by this journal: ``previous`` is the dead owner it replaced, if any."""

    campaign: int
    token: str
    previous: Owner | None = None


def process_start(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (``/proc``), None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def _alive_here(owner: Owner) -> bool:
    """False when the owner's process, on this host, surely no longer runs."""
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, someone else's
    if owner.proc is not None:
        now = process_start(owner.pid)
        if now is not None and now != owner.proc:
            return False  # the pid was reused by another process
    return True


def _read(conn: sqlite3.Connection, campaign: int) -> tuple[str, Owner] | None:
    row = conn.execute(
        "SELECT token, pid, host, proc, started, heartbeat FROM owners WHERE campaign = ?",
        (campaign,),
    ).fetchone()
    if row is None:
        return None
    token, pid, host, proc, started, heartbeat = row
    return str(token), Owner(
        pid=int(pid), host=str(host), proc=proc, started=float(started), heartbeat=float(heartbeat)
    )


def busy_error(campaign: int, owner: Owner, now: float, where: str) -> CampaignBusyError:
    ago = max(0.0, now - owner.heartbeat)
    return CampaignBusyError(
        f"campaign {campaign} in {where} is being run by {owner.describe()}, last seen"
        f" {ago:.0f} s ago",
        campaign=campaign,
        pid=owner.pid,
        host=owner.host,
        started=owner.started,
        heartbeat=owner.heartbeat,
    )


def standing(owner: Owner, *, now: float, lease: float) -> bool:
    """True while the owner counts as alive (rule 2)."""
    if owner.heartbeat < now - lease:
        return False
    return not (owner.host == HOST and not _alive_here(owner))


def take(
    conn: sqlite3.Connection, campaign: int, token: str, *, now: float, lease: float, where: str
) -> Lease:
    """Take (or renew) the campaign's row in the caller's transaction (rules 1 and 2).

    Raises:
        CampaignBusyError: another owner stands.
    """
    held = _read(conn, campaign)
    previous: Owner | None = None
    if held is not None:
        their_token, owner = held
        if their_token == token:
            conn.execute("UPDATE owners SET heartbeat = ? WHERE campaign = ?", (now, campaign))
            return Lease(campaign=campaign, token=token)
        if standing(owner, now=now, lease=lease):
            raise busy_error(campaign, owner, now, where)
        previous = owner
    pid = os.getpid()
    conn.execute(
        "INSERT OR REPLACE INTO owners (campaign, token, pid, host, proc, started, heartbeat)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (campaign, token, pid, HOST, process_start(pid), now, now),
    )
    return Lease(campaign=campaign, token=token, previous=previous)


def fence(conn: sqlite3.Connection, campaign: int, token: str, *, now: float, where: str) -> None:
    """Renew the heartbeat, or raise when the row no longer holds ``token`` (rule 3).

    Raises:
        CampaignBusyError: the row was taken over (or deleted) while this owner stalled.
    """
    updated = conn.execute(
        "UPDATE owners SET heartbeat = ? WHERE campaign = ? AND token = ?",
        (now, campaign, token),
    ).rowcount
    if updated:
        return
    held = _read(conn, campaign)
    if held is None:
        raise CampaignBusyError(
            f"campaign {campaign} in {where}: this process no longer holds it (released)",
            campaign=campaign,
            pid=0,
            host="",
            started=0.0,
            heartbeat=0.0,
        )
    raise busy_error(campaign, held[1], now, where)


def release(conn: sqlite3.Connection, campaign: int, token: str) -> None:
    """Delete the row if it is still ours (rule 4)."""
    conn.execute("DELETE FROM owners WHERE campaign = ? AND token = ?", (campaign, token))


def owner_of(conn: sqlite3.Connection, campaign: int, *, now: float, lease: float) -> Owner | None:
    """The campaign's standing owner, or None (no row, or a dead owner's)."""
    held = _read(conn, campaign)
    if held is None or not standing(held[1], now=now, lease=lease):
        return None
    return held[1]
