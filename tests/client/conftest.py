"""Fixtures of the client tests: ``make_wire`` builds each wire of the conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from m5c_async.client import Wire
from tests.client.scripted import WIRES, MakeWire, build_wire


@pytest.fixture(params=WIRES)
async def make_wire(request: pytest.FixtureRequest) -> AsyncIterator[MakeWire]:
    """Build wires of the parametrised kind; each is closed after the test."""
    made: list[Wire] = []

    def make(**options: Any) -> Wire:
        wire = build_wire(request.param, **options)
        made.append(wire)
        return wire

    yield make
    for wire in made:
        await wire.aclose()
