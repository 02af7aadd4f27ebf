"""A live progress bar for campaigns: rate, ETA, accepted, throttled, per-node health."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..client import AsyncClient
from ..engine import Hooks, OutcomeKind, PacketOutcome

__all__ = ["ProgressHooks", "with_progress"]

T = TypeVar("T")


class ProgressHooks(Hooks):
    """Engine hooks that count outcomes for the bar."""

    def __init__(self) -> None:
        self.done = 0
        self.accepted = 0
        self.throttled = 0
        self._recent: deque[tuple[float, int]] = deque()

    def on_outcome(self, outcome: PacketOutcome) -> None:
        """Count the outcome."""
        count = len(outcome.numbers) or len(outcome.rejected)
        self.done += count
        if outcome.kind is OutcomeKind.ACCEPTED:
            self.accepted += count
            self._recent.append((time.monotonic(), count))

    def on_throttle(self, rate: float) -> None:
        """Count a throttle reply."""
        self.throttled += 1

    def rate(self, window: float = 5.0) -> float:
        """Accepted messages a second over the last ``window`` seconds."""
        now = time.monotonic()
        while self._recent and self._recent[0][0] < now - window:
            self._recent.popleft()
        return sum(c for _, c in self._recent) / window


async def with_progress(
    console: Console,
    hooks: ProgressHooks,
    client: AsyncClient,
    total: int | None,
    work: Callable[[], Awaitable[T]],
) -> T:
    """Run ``work`` while drawing the bar on ``console`` (stderr for the CLI)."""
    progress = Progress(
        TextColumn("[bold blue]sending"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[rate]:>6.0f} msg/s"),
        TextColumn("accepted {task.fields[accepted]}"),
        TextColumn("throttled {task.fields[throttled]}"),
        TextColumn("{task.fields[health]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("send", total=total, rate=0.0, accepted=0, throttled=0, health="")
    result: list[T] = []

    async def run() -> None:
        result.append(await work())
        tg.cancel_scope.cancel()

    with progress:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            while True:
                health = " ".join(f"{n[-12:]}:{s}" for n, s in client.health().items())
                progress.update(
                    task,
                    completed=hooks.done,
                    rate=hooks.rate(),
                    accepted=hooks.accepted,
                    throttled=hooks.throttled,
                    health=health,
                )
                await anyio.sleep(0.25)
    return result[0]
