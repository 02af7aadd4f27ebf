"""``python -m m5c_async.simulator`` (and ``m5c sim``): serve the simulated platform."""

from __future__ import annotations

import argparse
import gc
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from .._exceptions import InvalidParameterError
from ..protocol import Limiter, PushFormat
from ._accounts import DEMO_ACCOUNT, AccountConfig, load_accounts, parse_account_spec
from ._faults import load_scenario, scenario_options
from ._lag import LoopLag
from ._platform import Platform, PlatformSettings
from ._serve import SimulatorServer

__all__ = ["add_arguments", "main", "serve_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, shared with ``m5c sim``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8800, help="first node's port (default 8800; 0: any free block)"
    )
    parser.add_argument("--nodes", type=int, default=4, choices=range(1, 5), help="1 to 4 nodes")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="USERNAME:PASSWORD:APIKEY[:PROFILE]",
        help="an account (repeatable); PROFILE is notification, personalized or marketing",
    )
    parser.add_argument("--accounts", type=Path, help="a TOML file of [[accounts]] tables")
    parser.add_argument("--report-push-url", help="push delivery reports of the accounts here")
    parser.add_argument("--reply-push-url", help="push replies of the accounts here")
    parser.add_argument(
        "--push-format", choices=[f.value for f in PushFormat], default=PushFormat.STRING.value
    )
    parser.add_argument("--rate", type=float, help="override every account's messages/s")
    parser.add_argument("--concurrency", type=int, help="override every account's in-flight cap")
    parser.add_argument("--packet-size", type=int, help="override every account's packet cap")
    parser.add_argument("--no-reports", action="store_true", help="generate no delivery reports")
    parser.add_argument(
        "--report-delay",
        type=float,
        nargs=2,
        default=(0.5, 3.0),
        metavar=("MIN", "MAX"),
        help="seconds from acceptance to report",
    )
    parser.add_argument(
        "--limiter",
        choices=[k.value for k in Limiter],
        help="how rates are counted: sliding (any one-second window; the default), fixed"
        " (calendar seconds) or gcra (one second of debt, see --tolerance)",
    )
    parser.add_argument("--tolerance", type=float, help="the GCRA's seconds of debt (default 1)")
    parser.add_argument(
        "--format-from",
        choices=["either", "query", "body"],
        help="where a POST's format= is read (default either)",
    )
    parser.add_argument(
        "--soap-password",
        choices=["either", "md5", "plain"],
        help="what SOAP's password part carries (default either)",
    )
    parser.add_argument("--scenario", type=Path, help="a JSON or TOML timeline of faults")
    parser.add_argument("--down", action="append", default=[], help="start with this node down")
    parser.add_argument("--json", action="store_true", help="the readiness line as JSON")
    parser.add_argument(
        "--until-stdin-closes",
        action="store_true",
        help="stop when standard input reaches its end: a parent that holds the other end of a"
        " pipe takes the simulator with it however it ends (even SIGKILL)",
    )
    parser.add_argument(
        "--measure-lag",
        action="store_true",
        help="report how late the simulator's event loop runs (loop_lag in /_sim/stats): the"
        " error in its arrival stamps",
    )


def _accounts(args: argparse.Namespace) -> list[AccountConfig]:
    accounts = [parse_account_spec(spec) for spec in args.account]
    if args.accounts:
        accounts += load_accounts(args.accounts)
    if not accounts:
        accounts = [DEMO_ACCOUNT]
        demo = {
            "username": DEMO_ACCOUNT.username,
            "password": DEMO_ACCOUNT.password,
            "apikey": DEMO_ACCOUNT.apikey,
        }
        if getattr(args, "json", False):
            print(json.dumps({"event": "demo-account", **demo}), flush=True)
        else:
            shown = " ".join(f"{k}={v}" for k, v in demo.items())
            print(f"no account given; serving the demo account: {shown}", flush=True)
    overrides = {
        "rate": args.rate,
        "concurrency": args.concurrency,
        "packet_size": args.packet_size,
        "report_push_url": args.report_push_url,
        "reply_push_url": args.reply_push_url,
    }
    out = []
    for account in accounts:
        changes = {k: v for k, v in overrides.items() if v is not None}
        if args.report_push_url or args.reply_push_url:
            changes["push_format"] = PushFormat(args.push_format)
        fields = {f: getattr(account, f) for f in account.__dataclass_fields__}
        fields.update(changes)
        out.append(AccountConfig(**fields))
    return out


def quiet_gc() -> None:
    """No automatic full collections in the simulator's process.

    A full collection over a ledger of tens of thousands of entries stops the event loop for
    30-50 ms; the requests that arrive meanwhile are then stamped together, and one-second
    windows by arrival show a burst the sender never sent. Young generations are still
    collected; what the process holds at start-up is frozen out of every collection.
    """
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000_000)


async def serve_from_args(args: argparse.Namespace) -> None:
    """Serve until interrupted, printing a readiness line when every node listens.

    Raises:
        InvalidParameterError: ``--until-stdin-closes`` without a pipe, socket or terminal on stdin.
    """
    if getattr(args, "until_stdin_closes", False):
        _check_stdin()  # before any port is bound
    options = scenario_options(args.scenario) if args.scenario else {}
    if args.limiter is not None:
        options["limiter"] = args.limiter
    for name in ("tolerance", "format_from", "soap_password"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    settings = PlatformSettings(
        reports=not args.no_reports, report_delay=tuple(args.report_delay), **options
    )
    platform = Platform(_accounts(args), settings=settings)
    if args.measure_lag:
        platform.loop_lag = LoopLag()
    scenario = load_scenario(args.scenario) if args.scenario else ()
    server = SimulatorServer(
        platform, host=args.host, port=args.port, nodes=args.nodes, scenario=scenario
    )
    for node in args.down:
        server.faults[node].down = True
    async with server.running():
        quiet_gc()
        pairs = list(zip(server.node_names, server.base_urls, strict=True))
        if getattr(args, "json", False):
            ready = {"event": "ready", "nodes": dict(pairs), "limiter": settings.limiter.value}
            print(json.dumps(ready), flush=True)
        else:
            print(
                f"m5c simulator ready: {' '.join(f'{n}={u}' for n, u in pairs)}"
                f" limiter={settings.limiter.value}",
                flush=True,
            )
        if getattr(args, "until_stdin_closes", False):
            await _stdin_closed()
        else:
            await anyio.sleep_forever()


def _check_stdin() -> None:
    """Standard input can be waited on: a pipe, a socket or a terminal. A regular file or
    ``/dev/null`` cannot be polled (the loop refuses it) and is at its end already."""
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        mode = 0
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (fd >= 0 and os.isatty(fd))):
        raise InvalidParameterError(
            "--until-stdin-closes needs a pipe on standard input (whose other end a parent"
            " holds), a socket or a terminal"
        )


async def _stdin_closed() -> None:
    """Return when standard input reaches its end (what arrives before is discarded)."""
    fd = sys.stdin.fileno()
    while True:
        await anyio.wait_readable(fd)
        if not os.read(fd, 65536):
            return


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m m5c_async.simulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m m5c_async.simulator", description="Serve a simulated 5c SMS platform."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        if args.until_stdin_closes:
            _check_stdin()  # before uvloop starts: with fd 0 closed, it aborts at its close
        anyio.run(serve_from_args, args, backend_options=_backend_options())
    except KeyboardInterrupt:
        return 0
    except (ValueError, OSError) as exc:
        print(f"m5c simulator: {exc}", file=sys.stderr)
        return 2
    return 0


def _backend_options() -> dict[str, bool]:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is part of the sim extra
        return {}
    return {"use_uvloop": True}
