"""The journal's SQLite file: schema, and one writer thread that commits in groups.

Rules:

1. One connection, owned by one thread; every operation runs there, in submission order, so a
   packet's ``in_flight`` mark is always committed before its outcome.
2. Operations that arrive together share one transaction (group commit): at the caps hundreds of
   marks a second cost a few commits, and an awaited operation returns only once committed.
3. WAL mode, ``synchronous=NORMAL``: a committed transaction survives the process being killed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from .._observers import JournalObserver, notify

__all__ = ["SCHEMA", "Store"]

log = logging.getLogger("m5c_async.journal")
T = TypeVar("T")

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    content TEXT,
    profile TEXT NOT NULL,
    source TEXT,
    settings TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    imported INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    campaign INTEGER NOT NULL,
    mobile TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',
    packet INTEGER,
    msgid TEXT,
    node TEXT,
    reason TEXT,
    PRIMARY KEY (campaign, mobile, content)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_state ON messages (campaign, state);
CREATE INDEX IF NOT EXISTS messages_packet ON messages (packet);
CREATE INDEX IF NOT EXISTS messages_msgid ON messages (msgid, mobile);
CREATE TABLE IF NOT EXISTS rejected (
    campaign INTEGER NOT NULL,
    number TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS packets (
    id INTEGER PRIMARY KEY,
    campaign INTEGER NOT NULL,
    state TEXT NOT NULL,
    size INTEGER NOT NULL,
    sent_at REAL,
    ended_at REAL,
    msgid TEXT,
    node TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS packets_state ON packets (campaign, state);
CREATE TABLE IF NOT EXISTS reports (
    msgid TEXT NOT NULL,
    mobile TEXT NOT NULL,
    status TEXT NOT NULL,
    at REAL,
    received REAL NOT NULL,
    PRIMARY KEY (msgid, mobile)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replies (
    reply_id TEXT NOT NULL,
    mobile TEXT NOT NULL,
    ext TEXT,
    content TEXT NOT NULL,
    at REAL,
    received REAL NOT NULL,
    PRIMARY KEY (reply_id, mobile, content)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS report_log (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    msgid TEXT NOT NULL,
    mobile TEXT NOT NULL,
    status TEXT NOT NULL,
    at INTEGER,
    received REAL NOT NULL,
    via TEXT NOT NULL,
    peer TEXT
);
CREATE INDEX IF NOT EXISTS report_log_msgid ON report_log (msgid, mobile);
CREATE TABLE IF NOT EXISTS reply_log (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    ext TEXT,
    reply_id TEXT,
    mobile TEXT NOT NULL,
    content TEXT NOT NULL,
    raw_content TEXT NOT NULL,
    at INTEGER,
    received REAL NOT NULL,
    via TEXT NOT NULL,
    peer TEXT,
    push TEXT
);
CREATE INDEX IF NOT EXISTS reply_log_key ON reply_log (key, received);
CREATE INDEX IF NOT EXISTS reply_log_mobile ON reply_log (mobile);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    format TEXT,
    records INTEGER NOT NULL,
    raw TEXT NOT NULL,
    reason TEXT NOT NULL,
    received REAL NOT NULL,
    peer TEXT,
    via TEXT NOT NULL,
    push TEXT,
    resolved REAL
);
CREATE INDEX IF NOT EXISTS quarantine_key ON quarantine (key, received);
CREATE INDEX IF NOT EXISTS quarantine_held ON quarantine (resolved, id);
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY,
    campaign INTEGER NOT NULL,
    packet INTEGER NOT NULL,
    at REAL NOT NULL,
    node TEXT,
    endpoint TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    size INTEGER NOT NULL,
    verdict TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_campaign ON request_log (campaign, at);
CREATE TABLE IF NOT EXISTS owners (
    campaign INTEGER PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    proc TEXT,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL
);
"""

_STOP: Final = object()


class Store:
    """The SQLite file behind a thread; ``await store.run(fn)`` runs ``fn(conn)`` committed.

    Example:
        >>> # store = Store(Path("campaign.db")); await store.start()
        >>> # rows = await store.run(lambda c: c.execute("SELECT 1").fetchall())
    """

    def __init__(self, path: Path, *, observer: JournalObserver | None = None) -> None:
        self.path = Path(path)
        #: Told of each group commit, from the writer thread (metrics).
        self.observer = observer
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.commits = 0

    async def start(self) -> None:
        """Open (creating when missing) the file and start the writer thread."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._serve, args=(loop, ready), name="m5c-journal", daemon=True
        )
        self._thread.start()
        await ready

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            loop.call_soon_threadsafe(_fail, ready, exc)
            return
        loop.call_soon_threadsafe(_done, ready, None)
        while True:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            results: list[tuple[asyncio.Future[Any] | None, bool, Any]] = []
            began = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            for fn, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((future, False, exc))
                    if future is None:
                        log.error("journal write failed: %s", exc)
                    continue
                conn.execute("RELEASE op")
                results.append((future, True, value))
            conn.execute("COMMIT")
            self.commits += 1
            if self.observer is not None:
                errors = [type(value).__name__ for _, ok, value in results if not ok]
                notify(
                    self.observer.on_journal_commit,
                    time.perf_counter() - began,
                    len(batch),
                    errors,
                )
            for future, ok, value in results:
                if future is not None:
                    loop.call_soon_threadsafe(_done if ok else _fail, future, value)
        conn.close()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the writer thread; return once its transaction is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((fn, future))
        return await future

    def submit(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        """Queue ``fn`` without waiting; it commits after everything submitted before it."""
        self._queue.put((fn, None))

    async def close(self) -> None:
        """Commit what is queued and stop the thread."""
        if self._thread is None:
            return
        await self.run(lambda conn: None)
        self._queue.put(_STOP)
        thread, self._thread = self._thread, None
        await asyncio.get_running_loop().run_in_executor(None, thread.join)


def _done(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
