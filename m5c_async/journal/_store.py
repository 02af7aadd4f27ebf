"""The journal's SQLite file: schema, and one writer thread that commits in groups.

Rules:

1. One connection, owned by one thread; every operation runs there, in submission order, so a
   packet's ``in_flight`` mark is always committed before its outcome.
2. Operations that arrive together share one transaction (group commit): at the caps hundreds of
   marks a second cost a few commits, and an awaited operation returns only once committed.
3. WAL mode, ``synchronous=FULL``: every commit fsyncs the WAL before it returns, so what an
   awaited operation acknowledged (a push answered ``success``, an in-flight mark before its
   request) survives an OS crash or a power cut, not only the process being killed.
4. The writer never dies and never leaves a caller waiting. A storage error (disk full,
   read-only, I/O error, a lock held too long, corruption) rolls the whole group back and fails
   every operation of the group with a ``JournalWriteError`` naming the cause (or
   ``JournalCorruptError``); the next group tries again, so writes resume by themselves once
   the cause is gone. An operation's own exception (a constraint, a refusal) fails that
   operation alone. Unawaited writes that failed are counted (``lost``) so the journal can stop
   a campaign whose outcomes no longer reach the file.
5. Opened with ``PRAGMA quick_check``: a corrupt file (or not SQLite at all) is refused at once
   with ``JournalCorruptError``. A file created here is created 0600 (the -wal and -shm files
   take its mode): numbers and replies are nobody else's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from .._exceptions import JournalCorruptError, JournalError, JournalWriteError
from .._observers import JournalObserver, notify

__all__ = ["QUARANTINE_ROW_BYTES", "SCHEMA", "Store", "journal_error"]

log = logging.getLogger("m5c_async.journal")
T = TypeVar("T")

#: Bytes a quarantine entry costs the file beside its raw text and reason: its key and push
#: digest (64 characters each), kind, peer, times, and its two index entries (about 300 measured).
QUARANTINE_ROW_BYTES: Final = 320


def _cost(row: str) -> str:
    """SQL: what the quarantine row ``row`` (``NEW.``, ``OLD.``, or the table's) costs the file."""
    raw, reason = f"LENGTH(CAST({row}raw AS BLOB))", f"LENGTH(CAST({row}reason AS BLOB))"
    return f"({raw} + {reason} + {QUARANTINE_ROW_BYTES})"


_SCHEMA: Final = """
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
-- What the quarantine costs the file in bytes: each entry's raw text and reason (UTF-8) and
-- QUARANTINE_ROW_BYTES for the rest of its row and its index entries (a junk part of one character
-- still costs the file some 300 bytes). Kept by triggers (whichever process writes), so a push's
-- check against the limit reads one row. Filled from the rows once (QUARANTINE_FILL).
CREATE TABLE IF NOT EXISTS quarantine_bytes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    bytes INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS quarantine_bytes_in AFTER INSERT ON quarantine BEGIN
    UPDATE quarantine_bytes SET bytes = bytes + @cost(NEW) WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS quarantine_bytes_out AFTER DELETE ON quarantine BEGIN
    UPDATE quarantine_bytes SET bytes = bytes - @cost(OLD) WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS quarantine_bytes_raw AFTER UPDATE OF raw, reason ON quarantine BEGIN
    UPDATE quarantine_bytes SET bytes = bytes - @cost(OLD) + @cost(NEW) WHERE id = 1;
END;
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
SCHEMA: Final = _SCHEMA.replace("@cost(NEW)", _cost("NEW.")).replace("@cost(OLD)", _cost("OLD."))
#: Run after ``SCHEMA`` when ``quarantine_bytes`` has no row yet (a new file, or one from before
#: the table), not every time: an INSERT takes the write lock even when it inserts nothing, and a
#: journal on a read-only filesystem must still open for reading. After the triggers exist: each
#: statement is its own transaction, and a row another process writes in between is then counted
#: either by the fill or by a trigger, never missed (a trigger before the fill finds no row to
#: update). Two processes filling at once: the second inserts nothing.
QUARANTINE_FILL: Final = """
INSERT INTO quarantine_bytes (id, bytes)
    SELECT 1, (SELECT COALESCE(SUM(@cost(quarantine)), 0) FROM quarantine)
    WHERE NOT EXISTS (SELECT 1 FROM quarantine_bytes)
""".replace("@cost(quarantine)", _cost(""))

_STOP: Final = object()
#: In place of a future: the heartbeat's operation (rule 4 does not count it as lost).
_BEAT: Final = object()

#: Primary SQLite result codes that say the file or the disk failed (not the operation).
_CAUSES: Final = {
    3: "permission denied",  # SQLITE_PERM
    5: "locked by another process",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
    7: "out of memory",  # SQLITE_NOMEM
    8: "read-only",  # SQLITE_READONLY
    10: "I/O error",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "disk full",  # SQLITE_FULL
    14: "cannot open",  # SQLITE_CANTOPEN
    26: "not a database",  # SQLITE_NOTADB
}
_CORRUPT: Final = frozenset({11, 26})


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def journal_error(exc: sqlite3.Error, path: Path) -> JournalError | None:
    """The named error for a storage failure, or None when ``exc`` is the operation's own."""
    code = _code(exc)
    if code is None or code not in _CAUSES:
        return None
    cause = _CAUSES[code]
    if code in _CORRUPT:
        return JournalCorruptError(
            f"{path} is {'not a SQLite journal' if code == 26 else 'corrupt'} ({exc}); restore"
            " it from a copy or start a new journal"
        )
    return JournalWriteError(f"{cause}: {path} ({exc})", cause=cause)


class Store:
    """The SQLite file behind a thread; ``await store.run(fn)`` runs ``fn(conn)`` committed.

    Example:
        >>> # store = Store(Path("campaign.db")); await store.start()
        >>> # rows = await store.run(lambda c: c.execute("SELECT 1").fetchall())
    """

    def __init__(
        self,
        path: Path,
        *,
        observer: JournalObserver | None = None,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        defer: float = 0.0,
    ) -> None:
        self.path = Path(path)
        #: Told of each group commit, from the writer thread (metrics).
        self.observer = observer
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        #: Seconds a group of unawaited writes only (``submit``) waits for more before it
        #: commits: nobody waits for them, so they can share the next awaited commit's fsync.
        self.defer = defer
        self._urgent = threading.Event()
        #: Seconds ``close`` waits for the writer (Ctrl-C must end a command within 2 s).
        self.close_timeout = 1.5
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: Transactions committed.
        self.commits = 0
        #: Groups that failed to commit (rule 4).
        self.failures = 0
        #: Unawaited operations that failed (their writes are not in the file).
        self.lost = 0
        #: The latest storage error (None once a group commits again).
        self.error: JournalError | None = None
        self._beat: Callable[[sqlite3.Connection], None] | None = None
        self._beat_every = 0.0
        self._last_beat = 0.0

    async def start(self) -> None:
        """Open (creating when missing, 0600) the file and start the writer thread.

        Raises:
            JournalCorruptError: the file is corrupt or not a SQLite journal.
            JournalWriteError: it cannot be opened or written (permissions, read-only, full).
        """
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._serve, args=(loop, ready), name="m5c-journal", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._thread = None
            raise

    def _open(self) -> sqlite3.Connection:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise JournalWriteError(
                f"cannot create {self.path}: {exc.strerror}", cause="cannot open"
            ) from exc
        else:
            os.close(fd)
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=True, timeout=self.busy_timeout
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            problems = [" ".join(str(r[0]).split()) for r in conn.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise JournalCorruptError(
                    f"{self.path} is corrupt (PRAGMA quick_check: {'; '.join(problems)});"
                    " restore it from a copy or start a new journal"
                )
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
            if conn.execute("SELECT 1 FROM quarantine_bytes").fetchone() is None:
                conn.execute(QUARANTINE_FILL)
        except BaseException:
            conn.close()
            raise
        return conn

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._open()
        except sqlite3.Error as exc:
            error = journal_error(exc, self.path) or JournalWriteError(
                f"cannot open {self.path}: {exc}", cause="cannot open"
            )
            _post(loop, _fail, ready, error)
            return
        except JournalError as exc:
            _post(loop, _fail, ready, exc)
            return
        _post(loop, _done, ready, None)
        try:
            while True:
                batch = self._take()
                if batch is None:
                    break
                began = time.perf_counter()
                results = self._commit(conn, batch)
                if self.observer is not None:
                    errors = [type(value).__name__ for _, ok, value in results if not ok]
                    notify(
                        self.observer.on_journal_commit,
                        time.perf_counter() - began,
                        len(batch),
                        errors,
                    )
                _post(loop, _resolve, results)
        finally:
            conn.close()

    def heartbeat(
        self, every: float | None, fn: Callable[[sqlite3.Connection], None] | None
    ) -> None:
        """Run ``fn`` in a group at least every ``every`` seconds (None: stop); its failures
        are not counted as lost writes."""
        self._beat_every = every or 0.0
        self._beat = fn if every else None

    def _take(self) -> list[tuple[Callable[[sqlite3.Connection], Any], Any]] | None:
        beat = self._beat
        if beat is None:
            first = self._queue.get()
        else:
            wait = max(0.0, self._last_beat + self._beat_every - time.monotonic())
            try:
                first = self._queue.get(timeout=wait) if wait > 0 else _BEAT
            except queue.Empty:
                first = _BEAT
        if first is _STOP:
            return None
        batch = []
        if beat is not None and time.monotonic() >= self._last_beat + self._beat_every:
            self._last_beat = time.monotonic()
            batch.append((beat, _BEAT))
        if first is not _BEAT:
            batch.append(first)
        self._urgent.clear()  # before draining: a ``run`` from now on is seen either way
        awaited = self._drain(batch)
        if self.defer > 0 and not awaited and any(f is None for _, f in batch):
            # Nobody waits: sleep until somebody does (``run``, ``close``) or ``defer`` is up,
            # without waking for each further unawaited write (600 wake-ups a second at the cap).
            self._urgent.wait(self.defer)
            self._drain(batch)
        return batch

    def _drain(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]) -> bool:
        """Add what is queued to ``batch``; True when it must commit now: anybody in it waits
        for its commit, or the store is closing."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                return True
            batch.append(item)
        return any(f is not None and f is not _BEAT for _, f in batch)

    def _commit(
        self, conn: sqlite3.Connection, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]
    ) -> list[tuple[asyncio.Future[Any] | None, bool, Any]]:
        """One group in one transaction (rule 4); returns each operation's result."""
        results: list[tuple[asyncio.Future[Any] | None, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = fn(conn)
                except sqlite3.Error as exc:
                    if journal_error(exc, self.path) is not None:
                        raise  # the file failed, not the operation: the group fails
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append(self._own_failure(future, exc))
                    continue
                except Exception as exc:  # the operation's own failure
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append(self._own_failure(future, exc))
                    continue
                conn.execute("RELEASE op")
                if future is not _BEAT:
                    results.append((future, True, value))
            conn.execute("COMMIT")
        except Exception as exc:  # a storage failure: the whole group is rolled back
            error = (
                journal_error(exc, self.path) if isinstance(exc, sqlite3.Error) else None
            ) or JournalWriteError(
                f"write failed: {self.path} ({type(exc).__name__}: {exc})", cause="unexpected"
            )
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the transaction is gone already; the file is as of the last commit
            if self.error is None:  # callers get the error itself; this line is for the record
                log.info("journal writes failing: %s", error.message)
            self.error = error
            self.failures += 1
            self.lost += sum(1 for _, future in batch if future is None)
            return [(future, False, error) for _, future in batch if future is not _BEAT]
        self.commits += 1
        if self.error is not None:
            log.info("journal writes succeed again (%d groups failed)", self.failures)
            self.error = None
        return results

    def _own_failure(
        self, future: Any, exc: Exception
    ) -> tuple[asyncio.Future[Any] | None, bool, Any]:
        if future is _BEAT:
            log.debug("heartbeat failed: %s", exc)
            return (None, False, exc)
        if future is None:
            self.lost += 1
            log.error("journal write failed: %s", exc)
        return (future, False, exc)

    def _alive(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            raise JournalWriteError(f"{self.path} is closed", cause="closed")

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the writer thread; return once its transaction is committed.

        Raises:
            JournalWriteError: the group it was in could not be committed (rule 4).
            JournalCorruptError: the file turned out corrupt.
        """
        self._alive()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((fn, future))
        self._urgent.set()
        return await future

    def submit(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        """Queue ``fn`` without waiting; it commits after everything submitted before it."""
        if self._thread is None or not self._thread.is_alive():
            self.lost += 1
            return
        self._queue.put((fn, None))

    async def close(self) -> None:
        """Commit what is queued and stop the thread, waiting at most ``close_timeout`` s.

        A thread still busy then (a hung disk) is left behind: it is a daemon, and whatever it
        had not committed is rolled back by SQLite at the next open.
        """
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        self._queue.put(_STOP)
        self._urgent.set()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def join() -> None:
            thread.join(self.close_timeout)
            _post(loop, _done, done, None)

        threading.Thread(target=join, name="m5c-journal-close", daemon=True).start()
        await done


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
        loop.call_soon_threadsafe(fn, *args)


def _resolve(results: list[tuple[asyncio.Future[Any] | None, bool, Any]]) -> None:
    for future, ok, value in results:
        if future is not None and not future.done():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


def _done(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
