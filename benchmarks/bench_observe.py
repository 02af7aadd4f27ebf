"""What observability costs the engine per message, without a platform: the hooks alone.

Drives a real ``SendEngine`` hook set (``HookSet``, the engine's own fan-out) with the events of
one single-number packet, in the order the engine sends them: ``on_admit``,
``on_request_start``, ``on_request_end`` (accepted, with msgid) and ``on_outcome``, for
``--messages`` packets, and reports CPU microseconds a message and what that is at 600 msg/s.
Configurations: no hooks; ``EngineMetrics``; ``TracingHooks`` with the API alone (no SDK:
non-recording spans); with the SDK, a batch span processor and an exporter that drops spans;
and metrics + SDK tracing (what ``bench_goodput.py --observe`` runs).

    .venv/bin/python benchmarks/bench_observe.py --messages 200000

CPU is the process's (user + system, every thread: the batch processor's export thread too).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from _common import cpu_seconds, write

from m5c_async.engine import (
    OutcomeKind,
    Packet,
    PacketOutcome,
    RequestEnd,
    RunInfo,
    RunKind,
)
from m5c_async.engine._hooks import HookSet


class _Engine:
    """What RunInfo's engine needs to be for hooks that watch it (nothing scrapes it here)."""

    class config:
        class profile:
            value = "notification"


def _hooks(which: str, messages: int) -> tuple[list[Any], Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import NoOpTracerProvider
    from prometheus_client import CollectorRegistry

    from m5c_async.observability import Metrics, TracingHooks

    class Dropping(SpanExporter):
        """Takes every span and keeps none; counts them, so none was lost on the way."""

        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Any) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    if which == "none":
        return [], None
    if which == "metrics":
        return [Metrics(CollectorRegistry()).engine_hooks("notification")], None
    if which == "tracing-api":
        return [TracingHooks(NoOpTracerProvider())], None
    provider = TracerProvider()
    exporter = Dropping()
    # Events come far faster than 600/s here: a queue that holds them all, so no span is
    # dropped (and its cost skipped); the engine's real rate never fills the default queue.
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=messages + 16))
    hooks: list[Any] = [TracingHooks(provider)]
    if which == "all":
        hooks.insert(0, Metrics(CollectorRegistry()).engine_hooks("notification"))

    def close() -> int:
        provider.shutdown()
        return exporter.spans

    return hooks, close


def run(which: str, messages: int) -> dict[str, Any]:
    """Fire one single-number packet's events ``messages`` times; CPU a message."""
    hooks, close = _hooks(which, messages)
    fan = HookSet(hooks)
    engine = _Engine()
    info = RunInfo(name="bench", kind=RunKind.CAMPAIGN, profile="notification", engine=engine)  # type: ignore[arg-type]
    packets = [Packet(i, (f"138{i:08d}",), ("通知【示例】",)) for i in range(1, messages + 1)]
    cpu0, t0 = cpu_seconds(), time.monotonic()
    if fan.run_start:
        fan.run_start(info)
    for packet in packets:
        if fan.admit:
            fan.admit(packet, info)
        if fan.request_start:
            fan.request_start(packet, 1)
        if fan.request_end:
            fan.request_end(
                RequestEnd(
                    packet_id=packet.id,
                    attempt=1,
                    size=1,
                    endpoint="send",
                    node="qingdao",
                    verdict=None,
                    latency=0.02,
                    msgid=f"{packet.id:014d}",
                )
            )
        if fan.outcome:
            fan.outcome(
                PacketOutcome(
                    kind=OutcomeKind.ACCEPTED,
                    packet_id=packet.id,
                    numbers=packet.numbers,
                    msgid=f"{packet.id:014d}",
                    node="qingdao",
                    sent_at=1_700_000_000.0 + packet.id / 600,
                )
            )
    # Spans still queued are exported inside the measured time.
    exported = close() if close is not None else 0
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - t0
    per = cpu / messages
    return {
        "hooks": which,
        "messages": messages,
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 3),
        "cpu_us_per_message": round(per * 1e6, 2),
        "pct_of_a_core_at_600_per_s": round(per * 600 * 100, 2),
        "spans_exported": exported,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    rows = []
    print("| hooks | CPU µs a message | % of a core at 600 msg/s |")
    print("|---|---|---|")
    for which in ("none", "metrics", "tracing-api", "tracing-sdk", "all"):
        row = run(which, args.messages)
        rows.append(row)
        print(
            f"| {which} | {row['cpu_us_per_message']} | {row['pct_of_a_core_at_600_per_s']} |",
            flush=True,
        )
    write(
        "observe",
        {
            "benchmark": "observability hooks per single-number message",
            "cpus": os.cpu_count(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "runs": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
