"""Simulator fixtures: a platform on a fake clock, and node apps over ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from m5c_async.protocol import NODES
from m5c_async.simulator import AccountConfig, NodeApp, NodeFaults, Platform, PlatformSettings
from tests.conftest import APIKEY, PASSWORD, WALL_OFFSET, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """The platform's clock."""
    return FakeClock()


@pytest.fixture
def account() -> AccountConfig:
    """The default notification account."""
    return AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)


@pytest.fixture
def platform(account: AccountConfig, clock: FakeClock) -> Platform:
    """A platform whose wall clock follows the fake clock."""
    return Platform(
        [account],
        settings=PlatformSettings(report_delay=(0.5, 3.0)),
        clock=clock,
        wall=lambda: WALL_OFFSET + clock.now,
    )


@pytest.fixture
def faults() -> dict[str, NodeFaults]:
    """Faults shared by every node app."""
    return {n.name: NodeFaults() for n in NODES}


@pytest.fixture
async def http(
    platform: Platform, faults: dict[str, NodeFaults]
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose http://<node> hosts are the simulator's node apps, in process."""
    mounts = {
        f"http://{n.name}": httpx.ASGITransport(app=NodeApp(platform, n.name, faults=faults))
        for n in NODES
    }
    async with httpx.AsyncClient(mounts=mounts, base_url="http://qingdao") as client:
        yield client
