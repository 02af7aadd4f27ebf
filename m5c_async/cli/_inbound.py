"""``m5c webhook serve``, ``m5c quarantine list|reparse`` and the pulls' store-before-show.

Rules:

1. ``webhook serve`` needs ``--token`` (or ``M5C_WEBHOOK_TOKEN``) unless ``--insecure``; bound to
   anything but loopback it accepts only the four nodes of §2.2 unless ``--allow-ip`` or
   ``--no-allow-list`` says otherwise; ``X-Forwarded-For`` counts only from ``--trusted-proxy``.
   With ``--journal`` everything (records and quarantine) is stored there before ``success``;
   without it, records and quarantined parts are printed as lines.
2. ``reports`` and ``replies`` consume what they pull: it is written to ``--journal`` or appended
   to ``--out`` (JSON lines, fsynced) before anything is printed. Both are opened before the
   pull (one that cannot open consumes nothing); a store failing after the pull prints what was
   pulled as JSON lines and fails. ``replies --debug`` consumes nothing and needs neither.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import orjson

from .._exceptions import JournalError, M5CError
from .._text import printable
from ..protocol import PushBatch, PushFormat

__all__ = ["add_pull_options", "add_receive_commands", "pull_and_show", "quarantine", "webhook"]

EXIT_USAGE = 2
#: A pull stored and printed what parsed, and quarantined (kept) records that did not.
EXIT_QUARANTINED = 9


class UsageError(Exception):
    """A command line that cannot run; the message says why."""


def add_receive_commands(sub: Any) -> None:
    """Add ``webhook`` and ``quarantine`` to the ``m5c`` parser."""
    from ..journal import QUARANTINE_LIMIT

    p = sub.add_parser("webhook", help="receive pushed reports and replies")
    p.add_argument("action", choices=["serve"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--push-format", choices=[f.value for f in PushFormat])
    p.add_argument("--journal", type=Path, help="store records and quarantine in this journal")
    p.add_argument("--token", help="secret path segment (or M5C_WEBHOOK_TOKEN), 16+ characters")
    p.add_argument("--insecure", action="store_true", help="run without a token (logs a warning)")
    p.add_argument("--allow-ip", action="append", default=[], help="allowed source, repeatable")
    p.add_argument("--no-allow-list", action="store_true", help="accept any source address")
    p.add_argument("--trusted-proxy", action="append", default=[], help="believe its XFF")
    p.add_argument("--max-records", type=int, help="records read per push; the rest quarantined")
    p.add_argument("--max-body", type=int, default=4 * 1024 * 1024, help="bytes per request")
    p.add_argument("--body-timeout", type=float, default=10.0, help="seconds to read a body")
    p.add_argument("--header-timeout", type=float, default=10.0, help="seconds to send headers")
    p.add_argument("--json", action="store_true", help="one JSON object per record")
    p.add_argument(
        "--quarantine-limit",
        type=int,
        default=QUARANTINE_LIMIT // 2**20,
        metavar="MIB",
        help="with --journal: MiB the quarantine may take in the file; beyond it a push's"
        " unreadable part is answered retry (0: no limit; default %(default)s)",
    )
    p.add_argument(
        "--no-metrics",
        action="store_true",
        help="no /<token>/metrics route and no counting (on when prometheus-client is installed)",
    )
    from ._metrics import add_metrics_options

    add_metrics_options(p)

    p = sub.add_parser(
        "quarantine", help="list, re-parse or drop pushed data that could not be read"
    )
    p.add_argument("action", choices=["list", "reparse", "drop"])
    p.add_argument("--journal", type=Path, required=True)
    p.add_argument("--all", action="store_true", help="include entries already re-parsed")
    p.add_argument(
        "--id", type=int, action="append", default=[], help="drop: this entry (repeatable)"
    )
    p.add_argument("--resolved", action="store_true", help="drop: every re-parsed entry")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true", help="one JSON object per entry")


def add_pull_options(p: argparse.ArgumentParser) -> None:
    """``--journal`` / ``--out`` for a consuming pull."""
    p.add_argument("--journal", type=Path, help="store what is pulled here before printing it")
    p.add_argument("--out", type=Path, help="append what is pulled here (JSON lines) first")


def _line(value: Any) -> str:
    from ._main import _plain

    return orjson.dumps(_plain(value)).decode() + "\n"


async def pull_and_show(args: argparse.Namespace, sms: Any, show: Any) -> int:
    """Pull reports or replies, store them (journal or file), then print them.

    The journal is opened and the file checked *before* the pull, so a store that cannot open
    consumes nothing on the platform. If storing fails after the pull (the journal locked by
    another process, a full disk), what was pulled is printed as JSON lines on stdout, so it is
    not lost, and the command fails. The pull is read record by record: a record that does not
    parse is stored as quarantined (journal) or written as a ``quarantine`` line (file) with its
    raw text, and the command exits with EXIT_QUARANTINED after printing the rest.
    """
    consuming = not (args.command == "replies" and getattr(args, "debug", False))
    if consuming and args.journal is None and args.out is None:
        raise UsageError(
            f"{args.command} consumes what it pulls: give --journal FILE.db or --out FILE.jsonl"
        )
    failure: JournalError | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            journal = None if args.journal is None else await _open_journal(stack, args.journal)
            if args.out is not None:
                _append(args.out, [])
            batch: PushBatch[Any] = await (
                sms.pull_reports() if args.command == "reports" else sms.pull_replies(args.debug)
            )
            try:
                await _store_pulled(args, journal, batch)
            except (M5CError, sqlite3.Error, OSError) as exc:
                _rescue(batch)
                message = getattr(exc, "message", None) or str(exc)
                failure = JournalError(
                    f"the pulled {args.command} were not stored ({message}); they are gone from"
                    " the platform, so they were printed above as JSON lines"
                )
    except (M5CError, sqlite3.Error, OSError):
        if failure is None:
            raise
        # Closing the journal failed the same way: the failure to report is the one above.
    if failure is not None:
        raise failure
    show(list(batch.records))
    for q in batch.quarantined:
        sys.stderr.write(
            f"quarantined a pulled {q.kind} record ({q.reason}): kept in "
            f"{args.journal or args.out}\n"
        )
    return EXIT_QUARANTINED if batch.quarantined else 0


async def _store_pulled(args: argparse.Namespace, journal: Any, batch: PushBatch[Any]) -> None:
    if journal is not None and batch.received:
        await journal.store_push(batch, via="pull")
    if args.out is not None and batch.received:
        lines = [{"kind": args.command[:-1], **_as_dict(r)} for r in batch.records]
        lines += [{**_as_dict(q), "kind": "quarantine"} for q in batch.quarantined]
        _append(args.out, lines)


def _rescue(batch: PushBatch[Any]) -> None:
    """What was pulled and could not be stored, as JSON lines on stdout (not lost)."""
    rows = [_as_dict(r) for r in batch.records]
    rows += [{**_as_dict(q), "kind": "quarantine"} for q in batch.quarantined]
    sys.stdout.write("".join(_line(r) for r in rows))
    sys.stdout.flush()


async def _open_journal(stack: contextlib.AsyncExitStack, path: Path) -> Any:
    from ..journal import Journal

    try:
        return await stack.enter_async_context(Journal(path))
    except (M5CError, sqlite3.Error, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise JournalError(
            f"cannot open the journal {path} ({message}); nothing was pulled"
        ) from exc


def _as_dict(value: Any) -> dict[str, Any]:
    from ._main import _plain

    plain = _plain(value)
    assert isinstance(plain, dict)
    return plain | {"pulled_at": time.time()}


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _PrintSink:
    """Without a journal: each record and each quarantined part as a line on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._order = anyio.Lock()

    async def store_push(self, batch: PushBatch[Any], *, peer: str | None = None) -> None:
        from ._main import _plain

        lines = [{"kind": batch.kind.value, **_plain(r)} for r in batch.records]
        lines += [
            {**_plain(q), "kind": "quarantine", "of": batch.kind.value, "peer": peer}
            for q in batch.quarantined
        ]
        texts = [
            (orjson.dumps(line).decode() if self.as_json else f"{line['kind']}: {line}") + "\n"
            for line in lines
        ]
        # Written from a worker thread: a reader that stops reading stdout (a full pipe) blocks
        # that thread, not the event loop, so the receiver keeps answering (500 ``retry`` once
        # ``store_timeout`` passes) and the lines go out when the reader resumes.
        async with self._order:
            await anyio.to_thread.run_sync(_write_out, "".join(texts), abandon_on_cancel=True)


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _allowed(args: argparse.Namespace) -> list[str] | bool | None:
    if args.no_allow_list and args.allow_ip:
        raise UsageError("--allow-ip and --no-allow-list contradict each other: give one")
    if args.no_allow_list:
        return None
    if args.allow_ip:
        return list(args.allow_ip)
    return None if _loopback(args.host) else True


async def webhook(args: argparse.Namespace) -> int:
    """``m5c webhook serve``."""
    import uvicorn

    from ..protocol import MAX_RECORDS_PER_PUSH
    from ..webhook import WebhookReceiver, receiver_config

    token = args.token or args.settings.webhook_token
    if token is None and not args.insecure:
        raise UsageError("webhook serve needs --token (or M5C_WEBHOOK_TOKEN), or --insecure")

    async def serve(sink: Any, metrics: Any) -> None:
        receiver = WebhookReceiver(
            sink=sink,
            token=token,
            insecure=args.insecure,
            allowed_ips=_allowed(args),
            trusted_proxies=args.trusted_proxy,
            push_format=args.push_format,
            max_body=args.max_body,
            max_records=args.max_records or MAX_RECORDS_PER_PUSH,
            body_timeout=args.body_timeout,
            metrics=metrics if metrics is not None else False,
        )
        config = receiver_config(
            receiver, host=args.host, port=args.port, header_timeout=args.header_timeout
        )
        prefix = "/<token>" if token else ""
        routes = "/reports, /replies and /metrics" if receiver.metrics else "/reports and /replies"
        host = f"[{args.host}]" if ":" in args.host else args.host
        server = uvicorn.Server(config)
        stopped = anyio.Event()

        async def run() -> None:
            try:
                await server.serve()
            except SystemExit:
                pass  # uvicorn exits when it cannot bind; it logged why; said below
            finally:
                stopped.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            # Ready only once listening: a port already taken never prints it.
            while not server.started and not stopped.is_set():
                await anyio.sleep(0.02)
            if server.started:
                print(
                    f"m5c webhook ready: http://{host}:{args.port}{prefix}{routes}"
                    f" (allow-list: {'on' if receiver.allowed is not None else 'off'})",
                    file=sys.stderr,
                    flush=True,
                )
        if not server.started:
            raise OSError(f"webhook serve could not listen on {host}:{args.port}")

    from ._metrics import default_metrics, serving_metrics

    with serving_metrics(args) as served:
        metrics = served or (None if args.no_metrics else default_metrics())
        if args.journal is not None:
            from ..journal import Journal

            if args.quarantine_limit < 0:
                raise UsageError("--quarantine-limit must be 0 (no limit) or more MiB")
            limit = args.quarantine_limit * 2**20 or None
            async with Journal(args.journal, observer=metrics, quarantine_limit=limit) as journal:
                await serve(journal, metrics)
        else:
            await serve(_PrintSink(args.json), metrics)
    return 0


async def quarantine(args: argparse.Namespace) -> int:
    """``m5c quarantine list|reparse|drop``."""
    from ..journal import Journal

    if not args.journal.exists():
        raise UsageError(f"no journal at {args.journal}")
    if (args.id or args.resolved) and args.action != "drop":
        raise UsageError("--id and --resolved go with drop")
    if args.action == "drop" and not (args.id or args.resolved):
        raise UsageError("drop needs --id N (repeatable) or --resolved")
    async with Journal(args.journal) as journal:
        if args.action == "drop":
            gone = await journal.drop_quarantine(args.id, resolved=args.resolved)
            size = await journal.quarantine_size()
            if args.json:
                sys.stdout.write(_line({"dropped": gone, "size": size}))
            else:
                print(f"dropped {gone} entries; the quarantine takes {size} bytes")
            return 0
        if args.action == "reparse":
            counts = await journal.reparse_quarantine()
            if args.json:
                sys.stdout.write(_line(counts))
            else:
                print(
                    f"resolved {counts.resolved} entries, stored {counts.stored} records,"
                    f" still held {counts.still_held}"
                )
            return 0
        entries = await journal.quarantined(include_resolved=args.all, limit=args.limit)
        size = await journal.quarantine_size()
    if args.json:
        sys.stdout.write("".join(_line(e) for e in entries))
        return 0
    if not entries:
        print("quarantine empty")
    for e in entries:
        when = datetime.fromtimestamp(e.received, UTC).isoformat(timespec="seconds")
        state = "held" if e.resolved is None else "resolved"
        print(
            printable(
                f"#{e.id} {e.kind} {e.format or '-'} records={e.records} {state} via {e.via}"
                f" from {e.peer or '-'} at {when}: {e.reason}"
            )
        )
        raw = e.raw if len(e.raw) <= 400 else e.raw[:400] + f"... ({len(e.raw)} characters)"
        print("    " + printable(raw).replace("\n", "\n    "))
    if entries:
        print(f"the quarantine takes {size} bytes of the journal (--quarantine-limit bounds it)")
    return 0
