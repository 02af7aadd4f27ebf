"""Engine fixtures: a platform and an engine sharing one virtual clock, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import anyio
import anyio.lowlevel
import httpx
import pytest

from m5c_async import AsyncClient
from m5c_async.engine import EngineConfig, SendEngine
from m5c_async.protocol import NODES
from m5c_async.simulator import AccountConfig, NodeApp, NodeFaults, Platform, PlatformSettings
from tests.conftest import APIKEY, PASSWORD, WALL_OFFSET, FakeClock


class VirtualTime:
    """Sleeping moves the clock to the sleeper's wake time (never backwards).

    Pacing waits come from one reservation clock, so wake times rise in booking order and the
    clock reads what a real run would have read when each request left.
    """

    def __init__(self) -> None:
        self.clock = FakeClock(1000.0)

    async def sleep(self, seconds: float) -> None:
        target = self.clock.now + max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()
        self.clock.now = max(self.clock.now, target)

    def wall(self) -> float:
        return WALL_OFFSET + self.clock.now


@dataclass
class Rig:
    """A platform, its faults and a factory of engines on the same virtual clock."""

    time: VirtualTime
    platform: Platform
    faults: dict[str, NodeFaults]
    make: Callable[..., SendEngine]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """Four in-process nodes and an engine factory; the client uses every node in order."""
    time = VirtualTime()
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    platform = Platform(
        [account],
        settings=PlatformSettings(reports=False),
        clock=time.clock,
        wall=time.wall,
    )
    faults = {n.name: NodeFaults() for n in NODES}
    mounts = {
        f"http://{n.name}": httpx.ASGITransport(app=NodeApp(platform, n.name, faults=faults))
        for n in NODES
    }
    async with httpx.AsyncClient(mounts=mounts) as http:
        client = AsyncClient(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            nodes=[f"http://{n.name}" for n in NODES],
            http_client=http,
            clock=time.clock,
            wall=time.wall,
        )

        def make(hooks: Sequence[object] = (), **config: object) -> SendEngine:
            return SendEngine(
                client,
                EngineConfig(**config),  # type: ignore[arg-type]
                hooks=list(hooks),  # type: ignore[arg-type]
                clock=time.clock,
                sleep=time.sleep,
            )

        yield Rig(time=time, platform=platform, faults=faults, make=make)


def numbers(n: int, start: int = 0) -> list[str]:
    """n distinct valid mobile numbers."""
    return [f"138{i:08d}" for i in range(start, start + n)]
