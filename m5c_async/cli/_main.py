"""The ``m5c`` command: every endpoint, campaigns, the simulator, the webhook and the demo.

Exit codes (the table in docs/cli.md): 0 success; 2 usage or invalid input (a campaign not found,
already in the journal, or options contradicting it); 3 account errors (credentials, blocked,
unauthorized IP, balance); 4 transport failures (no node reachable, ambiguous outcome); 5 other
platform errors; 6 the campaign is run by another live process; 7 the journal cannot be written
(disk full, read-only, I/O error); 8 the journal file is corrupt; 9 a pull quarantined records;
10 the shared pacer's Redis refused the credentials or stayed unreachable; 130 interrupted;
1 anything else. Errors are one line on stderr; ``--json`` prints one JSON
document on stdout (one object per line for streams).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tomllib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import orjson

from .._config import Settings
from .._exceptions import (
    AccountError,
    CampaignBusyError,
    CampaignExistsError,
    CampaignMismatchError,
    CampaignNotFoundError,
    InvalidRequestError,
    JournalCorruptError,
    JournalError,
    JournalNotFoundError,
    JournalWriteError,
    M5CError,
    ProviderError,
    SharedStoreError,
    TransportError,
)
from .._text import printable
from ..client import AsyncClient
from ..protocol import RECORDED_LATE, BatchItem, BusinessType, SendFormat
from ._dashboard import add_dashboard_command, dashboard
from ._inbound import (
    UsageError,
    add_pull_options,
    add_receive_commands,
    pull_and_show,
    quarantine,
    webhook,
)
from ._metrics import add_metrics_options, serving_metrics

__all__ = ["main"]

EXIT_USAGE, EXIT_ACCOUNT, EXIT_TRANSPORT, EXIT_PROVIDER, EXIT_OTHER = 2, 3, 4, 5, 1
EXIT_BUSY, EXIT_JOURNAL_WRITE, EXIT_JOURNAL_CORRUPT, EXIT_INTERRUPTED = 6, 7, 8, 130
EXIT_REDIS = 10
#: The first matching class gives the exit code and the message's prefix.
_EXITS: tuple[tuple[type[M5CError], int, str], ...] = (
    (InvalidRequestError, EXIT_USAGE, ""),
    (CampaignNotFoundError, EXIT_USAGE, "not found: "),
    (JournalNotFoundError, EXIT_USAGE, "not found: "),
    (CampaignExistsError, EXIT_USAGE, "campaign exists: "),
    (CampaignMismatchError, EXIT_USAGE, "contradicts the campaign: "),
    (CampaignBusyError, EXIT_BUSY, "campaign busy: "),
    (JournalCorruptError, EXIT_JOURNAL_CORRUPT, "journal corrupt: "),
    (JournalWriteError, EXIT_JOURNAL_WRITE, "journal write failed: "),
    (JournalError, EXIT_JOURNAL_WRITE, "journal error: "),
    (SharedStoreError, EXIT_REDIS, ""),
    (AccountError, EXIT_ACCOUNT, "account error: "),
    (TransportError, EXIT_TRANSPORT, "transport error: "),
    (ProviderError, EXIT_PROVIDER, "platform error: "),
    (M5CError, EXIT_OTHER, ""),
)


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("account and connection")
    g.add_argument("--username", help="or M5C_USERNAME")
    g.add_argument("--password", help="or M5C_PASSWORD")
    g.add_argument("--password-md5", help="or M5C_PASSWORD_MD5")
    g.add_argument("--apikey", help="or M5C_APIKEY")
    g.add_argument("--config", type=Path, help="a TOML file with username, password, apikey...")
    g.add_argument(
        "--base-url",
        action="append",
        default=[],
        help="node base URL, repeatable, in failover order (or M5C_BASE_URL, comma-separated)",
    )
    g.add_argument("--node", action="append", default=[], help="catalog node, repeatable")
    g.add_argument("--scheme", choices=["https", "http"], default="https")
    g.add_argument("--method", choices=["POST", "GET"], default="POST")
    g.add_argument("--encode", choices=["UTF-8", "GBK"], default="UTF-8")
    g.add_argument(
        "--proxy",
        help="http://[user:pass@]host:port for every request (https through CONNECT); "
        "without it, HTTP_PROXY / HTTPS_PROXY / NO_PROXY are honoured",
    )
    g.add_argument(
        "--no-env-proxy",
        action="store_true",
        help="ignore HTTP_PROXY / HTTPS_PROXY / NO_PROXY (and other proxy settings of the env)",
    )
    g.add_argument("--ca-file", type=Path, help="a CA bundle to verify the nodes' certificates")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m5c", description="The 5c SMS platform, API 7.0.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("send", help="send one content to numbers")
    p.add_argument("--mobile", required=True, help="numbers, comma-separated")
    p.add_argument("--content", required=True)
    p.add_argument("--format", choices=[f.value for f in SendFormat], default="form")
    p.add_argument("--at", help="ISO time with offset, e.g. 2026-12-01T09:00:00+08:00")
    p.add_argument("--ext", help="extension number, 1-10 digits")
    _add_common(p)

    p = sub.add_parser("batch", help="sms_batch.php from a CSV file with mobile,content")
    p.add_argument("file", type=Path)
    _add_common(p)

    _add_common(sub.add_parser("balance", help="remaining/total balance"))
    p = sub.add_parser("reports", help="pull reports (stored before they are shown)")
    add_pull_options(p)
    _add_common(p)
    for name, text in (("records", "send records"), ("billing", "billing blocks")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--from", dest="start", help="ISO time (default: 24 hours ago)")
        p.add_argument("--to", dest="end", help="ISO time (default: now)")
        if name == "billing":
            p.add_argument("--agent", help="a sub-account")
        _add_common(p)
    p = sub.add_parser("replies", help="pull replies (stored before they are shown)")
    p.add_argument("--debug", action="store_true", help="leave them on the platform")
    add_pull_options(p)
    _add_common(p)

    p = sub.add_parser("blacklist", help="check or remove a blacklisted number")
    p.add_argument("action", choices=["check", "remove"])
    p.add_argument("mobile")
    _add_common(p)

    p = sub.add_parser("bind-ip", help="bind the account to IP addresses")
    p.add_argument("ips", nargs="+")
    _add_common(p)

    p = sub.add_parser("campaign", help="run, resume or inspect a campaign")
    p.add_argument("action", choices=["run", "resume", "status", "list"])
    p.add_argument("--journal", type=Path, help="the campaign's SQLite journal (survives crashes)")
    p.add_argument("--campaign", type=int, help="resume/status: this campaign (default: latest)")
    p.add_argument("--new", action="store_true", help="run: a new campaign even if the same exists")
    p.add_argument(
        "--profile",
        choices=[b.value for b in BusinessType],
        help="business type (run: default notification; resume: must match the campaign's)",
    )
    p.add_argument("--content", help="one content for every number")
    p.add_argument("--numbers", type=Path, help="one number a line (or a CSV with --content unset)")
    p.add_argument("--packet-size", type=int)
    p.add_argument("--rate", type=float)
    p.add_argument(
        "--margin",
        type=_margin,
        help="share of the rate kept unused (default 0.008), so requests that reach the platform"
        " bunched stay under its cap in every one-second window",
    )
    p.add_argument("--dry-run", action="store_true", help="pre-flight only; send nothing")
    p.add_argument(
        "--recorded-late",
        type=_seconds,
        default=RECORDED_LATE,
        help="resume: seconds after a request was last known of that the platform may still"
        " record it; what was left in flight more recently is waited for"
        f" (default {RECORDED_LATE:g})",
    )
    p.add_argument(
        "--redis",
        help="redis://... to share the account's caps with other processes (or M5C_REDIS_URL,"
        " which keeps a password off the command line)",
    )
    add_metrics_options(p)
    _add_common(p)

    add_receive_commands(sub)
    add_dashboard_command(sub)

    from ..simulator import add_arguments

    p = sub.add_parser("sim", help="serve the simulated platform")
    add_arguments(p)

    p = sub.add_parser("bench", help="run a benchmark of benchmarks/ (source checkout)")
    p.add_argument(
        "name",
        choices=["goodput", "ceiling", "memory", "failover", "sim_load", "dashboard", "observe"],
    )
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own options")

    p = sub.add_parser("demo", help="the main job: a campaign against the embedded simulator")
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--numbers", type=int, default=20_000)
    p.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    return parser


def _credentials(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.config:
        config = tomllib.loads(args.config.read_text(encoding="utf-8"))

    env: Settings = args.settings

    def pick(name: str) -> Any:
        return getattr(args, name, None) or getattr(env, name) or config.get(name)

    username, apikey = pick("username"), pick("apikey")
    password, password_md5 = pick("password"), pick("password_md5")
    if not username or not apikey or not (password or password_md5):
        raise _Usage("credentials missing: give --username, --apikey and --password (or env M5C_*)")
    nodes = list(args.base_url) or list(env.base_urls)
    nodes = nodes or list(args.node) or config.get("nodes", [])
    return {
        "username": username,
        "apikey": apikey,
        "password": None if password_md5 else password,
        "password_md5": password_md5,
        "nodes": nodes or None,
        "scheme": args.scheme,
        "method": args.method,
        "encode": args.encode,
        "proxy": args.proxy or config.get("proxy"),
        "trust_env": not args.no_env_proxy,
        "verify": args.ca_file or config.get("ca_file") or True,
    }


class _Usage(Exception):
    pass


def _time(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise _Usage(f"time {text!r} needs an offset, e.g. +08:00")
    return value


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _emit(args: argparse.Namespace, value: Any, human: Callable[[], None]) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(_plain(value)).decode() + "\n")
    else:
        human()


def _print_rows(rows: Sequence[Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    plain = [_plain(r) for r in rows]
    if not plain:
        print("no record")
        return
    table = Table()
    for key in plain[0]:
        table.add_column(key)
    for row in plain:
        # Values are data, never markup: a reply holding "[/bold]" must print as it is; nor
        # terminal controls (rich strips only BEL, BS, VT, FF and CR): ESC shows as \x1b.
        table.add_row(*(escape(printable(str(v))) for v in row.values()))
    Console().print(table)


async def _endpoint(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    async with AsyncClient(**_credentials(args)) as sms:
        command = args.command
        if command == "send":
            at = _time(args.at, now) if args.at else None
            receipt = await sms.send(
                args.mobile, args.content, at=at, ext=args.ext, format=args.format
            )
            _emit(args, receipt, lambda: print(f"success:{receipt.msgid} via {receipt.node}"))
        elif command == "batch":
            receipt = await _send_batch_file(sms, args.file)
            _emit(args, receipt, lambda: print(f"success:{receipt.msgid} via {receipt.node}"))
        elif command == "balance":
            balance = await sms.balance()
            _emit(args, balance, lambda: print(f"{balance.remaining}/{balance.total}"))
        elif command in ("records", "billing"):
            start = _time(args.start, now - timedelta(days=1))
            end = _time(args.end, now)
            rows: list[Any] = (
                await sms.records(start, end)
                if command == "records"
                else await sms.billing(start, end, agent=args.agent)
            )
            _emit(args, rows, lambda: _print_rows(rows))
        elif command in ("reports", "replies"):
            return await pull_and_show(
                args, sms, lambda rows: _emit(args, rows, lambda: _print_rows(rows))
            )
        elif command == "blacklist":
            if args.action == "check":
                status = await sms.blacklist_check(args.mobile)
                _emit(args, status, lambda: print("listed" if status.listed else "not listed"))
            else:
                await sms.blacklist_remove(args.mobile)
                _emit(args, {"removed": True}, lambda: print("removed"))
        elif command == "bind-ip":
            text = await sms.bind_ips(args.ips)
            _emit(args, {"bound": args.ips, "reply": text}, lambda: print(f"bound: {text}"))
        elif command == "campaign":
            return await _campaign(args, sms)
    return 0


async def _send_batch_file(sms: AsyncClient, path: Path) -> Any:
    """One ``sms_batch.php`` request from a CSV, read by the engine's intake; refused rows
    are listed in the receipt with their reasons and lines."""
    from contextlib import aclosing
    from dataclasses import replace

    from ..engine import Campaign, Intake

    intake = Intake(encoding=sms.encoding, batch_size=500)
    items: list[BatchItem] = []
    rejected: list[Any] = []
    async with aclosing(intake.batches(Campaign(messages=path))) as batches:
        async for batch in batches:
            items.extend(
                BatchItem(mobiles=(m,), content=c)
                for m, c in zip(batch.numbers, batch.contents, strict=True)
            )
            rejected.extend(batch.rejected)
    if not items:
        raise _Usage(f"{path.name}: no row to send ({intake.rejected.total()} refused)")
    receipt = await sms.send_batch(items)
    return replace(receipt, rejected=tuple(rejected)) if rejected else receipt


async def _campaign_status(args: argparse.Namespace) -> int:
    from ..journal import Journal

    if args.journal is None or not args.journal.exists():
        raise _Usage("--journal FILE.db (an existing journal) is required")
    async with Journal(args.journal) as journal:
        if args.action == "list":
            rows = await journal.campaigns()
            if args.json:
                sys.stdout.write("".join(orjson.dumps(_plain(r)).decode() + "\n" for r in rows))
            else:
                _print_rows(rows)
            return 0
        status = await journal.status(args.campaign)
    _emit(args, status, lambda: _print_rows([status]))
    return 0


def _contradictions(args: argparse.Namespace, row: Any) -> None:
    """Refuse resume options that differ from what the stored campaign was created with."""
    from ..journal import source_fingerprint

    settings = row.settings
    stored = {
        "--content": row.content,
        "--profile": row.profile,
        "--rate": settings.get("rate"),
        "--packet-size": settings.get("packet_size"),
        "--numbers": row.source,
    }
    given = {
        "--content": args.content,
        "--profile": args.profile,
        "--rate": args.rate,
        "--packet-size": args.packet_size,
        "--numbers": str(args.numbers) if args.numbers is not None else None,
    }
    for option, value in given.items():
        if value is None:
            continue
        before = stored[option]
        if option == "--numbers" and before is not None:
            # The same file, or one with the same numbers (moved, copied to another host).
            same = Path(before).resolve() == Path(value).resolve() or (
                settings.get("source_sha256") is not None
                and source_fingerprint(Path(value)) == settings["source_sha256"]
            )
        elif option == "--rate" and before is not None:
            same = float(before) == float(value)
        else:
            same = before == value
        if not same:
            shown = "none" if before is None else repr(before)
            raise CampaignMismatchError(
                f"campaign {row.id} was created with {option} {shown}; resume cannot change it"
                f" (given {value!r}); run a new campaign for that",
                campaign=row.id,
                option=option.lstrip("-"),
            )


async def _campaign(args: argparse.Namespace, sms: AsyncClient) -> int:
    from ..engine import Campaign, EngineConfig, SendEngine, preflight

    if args.action == "resume":
        return await _campaign_resume(args, sms)
    if args.numbers is None:
        raise _Usage("--numbers FILE is required")
    if args.content:
        campaign = Campaign(numbers=args.numbers, content=args.content)
    else:
        campaign = Campaign(messages=args.numbers)
    config = _pacing(
        args,
        EngineConfig(
            profile=BusinessType(args.profile or "notification"),
            packet_size=args.packet_size,
            rate=args.rate,
        ),
    )
    report = await preflight(sms, campaign, config=config)
    if args.dry_run or not report.ok:
        _emit(args, report, lambda: print(report))
        return 0 if report.ok else EXIT_USAGE
    from ._progress import ProgressHooks

    hooks = ProgressHooks()
    pacer = await _checked_redis_pacer(args, sms, config)  # before anything is recorded

    async def work() -> Any:
        if args.journal is not None:
            from ..journal import Journal, run_campaign

            async with Journal(args.journal, observer=metrics) as journal:
                _, result = await run_campaign(
                    sms,
                    journal,
                    campaign,
                    config,
                    source=args.numbers,
                    hooks=engine_hooks,
                    pacer=pacer,
                    new=args.new,
                )
                return result
        return await SendEngine(sms, config, hooks=engine_hooks, pacer=pacer).run_campaign(campaign)

    try:
        with serving_metrics(args) as metrics:
            engine_hooks: list[Any] = [hooks]
            if metrics is not None:
                engine_hooks.append(metrics.engine_hooks(config.profile))
            result = await _maybe_progress(args, hooks, sms, report.messages, work)
    finally:
        if pacer is not None:
            await pacer.aclose()
    return _report_result(args, result)


def _stored_config(row: Any, args: argparse.Namespace) -> Any:
    """The engine settings a stored campaign was created with (what ``resume`` sends at), with
    this command's pacing margin."""
    from ..engine import EngineConfig

    return _pacing(
        args,
        EngineConfig(
            profile=BusinessType(row.profile),
            packet_size=row.settings.get("packet_size"),
            rate=row.settings.get("rate"),
        ),
    )


def _margin(text: str) -> float:
    """``--margin``: a share of the rate, checked by ``EngineConfig``'s own rule."""
    from ..engine import EngineConfig

    try:
        value = float(text)
        EngineConfig(margin=value)
    except ValueError:  # InvalidParameterError is one
        raise argparse.ArgumentTypeError(f"a share of the rate in [0, 0.5), not {text!r}") from None
    return value


def _seconds(text: str) -> float:
    """``--recorded-late``: seconds, from 0 to an hour."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"seconds in [0, 3600], not {text!r}")
    return value


def _pacing(args: argparse.Namespace, config: Any) -> Any:
    """``config`` with this command's ``--margin``, when given."""
    margin = getattr(args, "margin", None)
    return config if margin is None else dataclasses.replace(config, margin=margin)


async def _checked_redis_pacer(args: argparse.Namespace, sms: AsyncClient, config: Any) -> Any:
    """The shared pacer of ``--redis`` (or ``M5C_REDIS_URL``), asked once before anything is
    sent: refused credentials end the command here (exit 10)."""
    pacer = _redis_pacer(args, sms, config)
    if pacer is not None:
        try:
            await pacer.check()
        except BaseException:
            await pacer.aclose()
            raise
    return pacer


def _redis_pacer(args: argparse.Namespace, sms: AsyncClient, config: Any) -> Any:
    url = getattr(args, "redis", None) or args.settings.redis_url
    if not url:
        return None
    import redis.asyncio as aioredis

    from ..engine import RedisPacer
    from ..protocol import PROFILES

    profile = PROFILES[config.profile]
    return RedisPacer(
        # Deadlines on connecting and on every reply: a Redis that stops answering is an
        # outage (waited through, Ctrl-C works), never a wait without end.
        aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2),
        key=f"m5c:{sms.username}:{profile.kind.value}",
        rate=config.rate or profile.rate,
        concurrency=config.concurrency or profile.concurrency,
        margin=config.margin,
        tolerance=config.tolerance,
    )


async def _maybe_progress(
    args: argparse.Namespace, hooks: Any, sms: AsyncClient, total: int | None, work: Any
) -> Any:
    if args.json:
        return await work()
    from rich.console import Console

    from ._progress import with_progress

    return await with_progress(Console(stderr=True), hooks, sms, total, work)


def _report_result(args: argparse.Namespace, result: Any, **extra: Any) -> int:
    summary = _plain(result) | {
        "stopped_by": result.stopped_by.message if result.stopped_by else None,
        **extra,
    }
    _emit(args, summary, lambda: print(summary))
    if result.stopped_by is None:
        return 0
    return next(c for kind, c, _ in _EXITS if isinstance(result.stopped_by, kind))


async def _campaign_resume(args: argparse.Namespace, sms: AsyncClient) -> int:
    from ..journal import Journal, resume_campaign

    if args.journal is None or not args.journal.exists():
        raise _Usage("--journal FILE.db (an existing journal) is required")
    from ._progress import ProgressHooks

    hooks = ProgressHooks()
    with serving_metrics(args) as metrics:
        async with Journal(args.journal, observer=metrics) as journal:
            row = await journal.campaign(args.campaign)
            _contradictions(args, row)
            status = await journal.status(row.id)
            engine_hooks: list[Any] = [hooks]
            if metrics is not None:
                engine_hooks.append(metrics.engine_hooks(row.profile))
            config = _stored_config(row, args)
            pacer = await _checked_redis_pacer(args, sms, config)

            async def work() -> Any:
                return await resume_campaign(
                    sms,
                    journal,
                    config,
                    campaign_id=row.id,
                    hooks=engine_hooks,
                    pacer=pacer,
                    recorded_late=args.recorded_late,
                )

            try:
                _, result, (found, returned) = await _maybe_progress(
                    args, hooks, sms, status.pending + status.in_flight, work
                )
            finally:
                if pacer is not None:
                    await pacer.aclose()
    return _report_result(args, result, reconciled_accepted=found, returned_to_pending=returned)


def _bench(args: argparse.Namespace) -> int:
    import subprocess

    folder = Path(__file__).resolve().parents[2] / "benchmarks"
    script = folder / ("sim_load.py" if args.name == "sim_load" else f"bench_{args.name}.py")
    if not script.exists():
        raise _Usage(f"{script.name} ships with the source tree, not the installed package")
    # The script is one of ours (a fixed name); its options are the user's own command line.
    return subprocess.run([sys.executable, str(script), *args.rest], check=False).returncode  # noqa: S603


def _run(
    function: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace
) -> int:
    try:
        return anyio.run(function, args)
    except BaseExceptionGroup as group:
        # A task group (progress display, webhook server) wraps what one task raised: the
        # user meets the named error, in one line, not the group's traceback.
        raise _first_named(group) from None


def _first_named(group: BaseException, *also: type[BaseException]) -> BaseException:
    """The first ``M5CError`` (or Ctrl-C, or one of ``also``) among a group's leaves; the group
    when none."""
    todo: list[BaseException] = [group]
    while todo:
        exc = todo.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            todo.extend(exc.exceptions)
        elif isinstance(exc, (M5CError, KeyboardInterrupt, *also)):
            return exc
    return group


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``m5c`` and ``python -m m5c_async``."""
    try:
        args = _parser().parse_args(argv)
        # The M5C_* environment, read once: a bad value stops every command with its name.
        args.settings = Settings.from_env()
        if args.command == "sim":
            from ..simulator import serve_from_args

            anyio.run(serve_from_args, args)
            return 0
        if args.command == "bench":
            return _bench(args)
        if args.command == "demo":
            from ..simulator import SimulatorExitedError, SimulatorStartError
            from ._demo import run_demo

            try:
                summary = anyio.run(lambda: run_demo(args.out, numbers=args.numbers))
            except (SimulatorStartError, SimulatorExitedError, BaseExceptionGroup) as exc:
                # The demo's own simulator failed (its task group wraps the error): one line.
                named = _first_named(exc, SimulatorStartError, SimulatorExitedError)
                if not isinstance(named, SimulatorStartError | SimulatorExitedError):
                    raise named from None
                print(f"m5c: demo: {named}", file=sys.stderr)
                return EXIT_OTHER
            if args.json:
                sys.stdout.write(orjson.dumps(summary).decode() + "\n")
            return 0
        if args.command == "webhook":
            return _run(webhook, args)
        if args.command == "quarantine":
            return _run(quarantine, args)
        if args.command == "dashboard":
            return _run(dashboard, args)
        if args.command == "campaign" and args.action in ("status", "list"):
            return _run(_campaign_status, args)
        return _run(_endpoint, args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (_Usage, UsageError) as exc:
        print(f"m5c: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except M5CError as exc:
        code, prefix = next((c, p) for kind, c, p in _EXITS if isinstance(exc, kind))
        print(f"m5c: {prefix}{exc.message}", file=sys.stderr)
        return code
    except KeyError as exc:
        print(f"m5c: not found: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError) as exc:
        print(f"m5c: {exc}", file=sys.stderr)
        return EXIT_USAGE
