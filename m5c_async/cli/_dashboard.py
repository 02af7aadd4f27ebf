"""``m5c dashboard --journal FILE.db``: serve the live, read-only page of a journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_dashboard_command", "dashboard"]


def add_dashboard_command(sub: Any) -> None:
    """Add ``dashboard`` to the ``m5c`` parser."""
    p = sub.add_parser("dashboard", help="a live web page of a campaign journal (read-only)")
    p.add_argument("--journal", type=Path, required=True, help="the journal to show")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    p.add_argument("--port", type=int, default=8950)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between page updates")


async def dashboard(args: argparse.Namespace) -> int:
    """``m5c dashboard``: refuses a missing journal (``JournalNotFoundError``) before serving."""
    import uvicorn

    from ..dashboard import LOOPBACK_HOSTS, DashboardApp, JournalReader, dashboard_config

    if not 0.1 <= args.interval <= 3600:
        from ._inbound import UsageError

        raise UsageError("--interval must be between 0.1 and 3600 seconds")
    reader = JournalReader(args.journal)
    loopback = args.host in LOOPBACK_HOSTS
    app = DashboardApp(reader, interval=args.interval, allowed_hosts=_hosts(args.host))
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"m5c dashboard ready: http://{host}:{args.port}/ (journal {args.journal}, read-only)",
        file=sys.stderr,
        flush=True,
    )
    if not loopback:
        print(
            "m5c dashboard: not on loopback; the page has no login, and shows replies",
            file=sys.stderr,
            flush=True,
        )
    await uvicorn.Server(dashboard_config(app, host=args.host, port=args.port)).serve()
    return 0


def _hosts(host: str) -> frozenset[str] | None:
    """The Host names the page answers to (DNS rebinding): any when bound to every address."""
    import ipaddress

    from ..dashboard import LOOPBACK_HOSTS

    try:
        if ipaddress.ip_address(host).is_unspecified:
            return None
    except ValueError:
        pass
    return LOOPBACK_HOSTS | {host.lower()}
