"""The live progress bar of campaigns (``m5c campaign``, ``m5c demo``): rate, ETA, accepted,
throttled, per-node health."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..client import AsyncClient
from ..engine import Hooks, OutcomeKind, PacketOutcome, RateMeter

__all__ = ["ProgressHooks", "with_progress"]

T = TypeVar("T")


class ProgressHooks(Hooks):
    """Engine hooks that count outcomes for the bar; ``clock`` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.done = 0
        self.accepted = 0
        self.throttled = 0
        self.clock = clock
        self._started = clock()
        self._rate = RateMeter()

    def on_outcome(self, outcome: PacketOutcome) -> None:
        """Count the outcome."""
        count = len(outcome.numbers) or len(outcome.rejected)
        self.done += count
        if outcome.kind is OutcomeKind.ACCEPTED:
            self.accepted += count
            self._rate.add(self.clock(), count)

    def on_throttle(self, rate: float) -> None:
        """Count a throttle reply."""
        self.throttled += 1

    def rate(self) -> float:
        """Accepted messages a second over the last 5 seconds (or since the start)."""
        return self._rate.rate(self.clock(), since=self._started)


def _health(client: AsyncClient) -> str:
    """``node:c`` per node (its name, or the port of a URL node), the first letter of its
    breaker state (closed, open, half-open)."""
    return " ".join(
        f"{name.rsplit('/', 1)[-1].rsplit(':', 1)[-1]}:{state[:1]}"
        for name, state in client.health().items()
    )


async def with_progress(
    console: Console,
    hooks: ProgressHooks,
    client: AsyncClient,
    total: int | None,
    work: Callable[[], Awaitable[T]],
    *,
    beside: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> T:
    """Run ``work`` while drawing the bar on ``console`` (stderr for the CLI); ``beside`` runs
    alongside (the demo's fault timeline) and is cancelled when ``work`` ends."""
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

    def update() -> None:
        progress.update(
            task,
            completed=hooks.done,
            rate=hooks.rate(),
            accepted=hooks.accepted,
            throttled=hooks.throttled,
            health=_health(client),
        )

    async def run() -> None:
        result.append(await work())
        tg.cancel_scope.cancel()

    with progress:
        async with anyio.create_task_group() as tg:
            if beside is not None:
                tg.start_soon(beside)
            tg.start_soon(run)
            while True:
                update()
                await anyio.sleep(0.25)
        update()
    return result[0]
