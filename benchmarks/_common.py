"""Shared pieces of the benchmarks: a simulator in its own process, stats, results, charts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from m5c_async.simulator import DEMO_ACCOUNT, free_port  # noqa: E402, F401 - free_port: for the benchmarks

RESULTS = ROOT / "benchmarks" / "results"
ACCOUNT = DEMO_ACCOUNT


@contextmanager
def simulator(args: Sequence[str], nodes: int = 1) -> Iterator[list[str]]:
    """Run ``python -m m5c_async.simulator`` in its own process; yield its base URLs."""
    # --port 0: the simulator picks and holds a free block (read back from its ready line).
    command = [
        sys.executable, "-m", "m5c_async.simulator", "--port", "0",
        "--nodes", str(nodes), *args,
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            while True:
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError("simulator exited before it was ready")
                if "ready" in line:
                    break
            yield [word.split("=", 1)[1] for word in line.split() if "=http" in word]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def stats(base_url: str) -> dict[str, Any]:
    """The simulator's ``/_sim/stats``."""
    return httpx.get(base_url + "/_sim/stats", timeout=10).json()  # type: ignore[no-any-return]


def faults(base_url: str, **changes: Any) -> None:
    """Change a node's faults through any node's admin route."""
    httpx.post(base_url + "/_sim/faults", json=changes, timeout=10).raise_for_status()


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one by default)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write(name: str, result: dict[str, Any]) -> None:
    """Print the result with the command that produced it, and store it as JSON."""
    result["command"] = " ".join([".venv/bin/python", *sys.argv])
    result["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


def chart(name: str, series: dict[str, dict[str, int]], title: str, cap: float | None) -> None:
    """A PNG of messages/s over time, one line per series (usually per node)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    seconds = [int(k) for s in series.values() for k in s]
    xs = list(range(min(seconds, default=0), max(seconds, default=0) + 1))
    fig, ax = plt.subplots(figsize=(9, 4))
    for label, points in sorted(series.items()):
        ax.plot(xs, [points.get(str(x), 0) for x in xs], label=label, marker=".")
    if cap:
        ax.axhline(cap, color="red", linestyle="--", linewidth=0.8, label=f"cap {cap:g}")
    ax.set_xlabel("seconds")
    ax.set_ylabel("messages accepted per second")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=100)
    plt.close(fig)
