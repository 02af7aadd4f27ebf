"""Fault injection per node, at start, at run time (``POST /_sim/faults``) or on a timeline.

A scenario file (JSON or TOML) is a list of events, each applied ``at`` seconds after start, and
may set the platform's decisions for the run (``limiter``, ``tolerance``, ``format_from``,
``soap_password``)::

    limiter = "fixed"

    [[events]]
    at = 10
    node = "qingdao"
    down = true

    [[events]]
    at = 30
    node = "qingdao"
    down = false
"""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .._exceptions import InvalidParameterError

__all__ = [
    "FAULT_FIELDS",
    "NodeFaults",
    "ScenarioEvent",
    "load_scenario",
    "scenario_options",
]


@dataclass(slots=True)
class NodeFaults:
    """What is wrong with one node right now.

    Attributes:
        down: the node's port stops accepting connections.
        latency: seconds added before each request is handled.
        jitter: up to this many seconds more, uniformly.
        error_ratio: share of requests answered HTTP 500/502/503 before any processing.
        drop_ratio: share of sends *accepted* and then dropped before the reply (ambiguous).
        throttle_ratio: share of requests answered ``Throughput Rate Exceeded`` (a storm).
    """

    down: bool = False
    latency: float = 0.0
    jitter: float = 0.0
    error_ratio: float = 0.0
    drop_ratio: float = 0.0
    throttle_ratio: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a dict of field changes, checking names and ranges.

        Raises:
            ValueError: an unknown field or a ratio outside [0, 1].
        """
        for key, value in changes.items():
            if key not in FAULT_FIELDS:
                raise InvalidParameterError(f"unknown fault {key!r}")
            if key == "down":
                self.down = bool(value)
                continue
            number = float(value)
            if number < 0 or (key.endswith("_ratio") and number > 1):
                raise InvalidParameterError(f"{key} out of range: {value!r}")
            setattr(self, key, number)

    def delay(self, rng: random.Random) -> float:
        """The added latency for one request."""
        return self.latency + (rng.uniform(0, self.jitter) if self.jitter else 0.0)

    def as_dict(self) -> dict[str, Any]:
        """For ``GET /_sim/faults``."""
        return {f: getattr(self, f) for f in FAULT_FIELDS}


FAULT_FIELDS = tuple(f.name for f in fields(NodeFaults))


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioEvent:
    """At ``at`` seconds after start, apply ``changes`` to ``node``."""

    at: float
    node: str
    changes: dict[str, Any]


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)


_OPTIONS = ("limiter", "tolerance", "format_from", "soap_password")


def scenario_options(path: Path) -> dict[str, Any]:
    """The run options a scenario file sets at its top level (``PlatformSettings`` fields):
    ``limiter``, ``tolerance``, ``format_from`` and ``soap_password``."""
    data = _read(path)
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in _OPTIONS if k in data}


def load_scenario(path: Path) -> list[ScenarioEvent]:
    """Read a scenario file (``.json`` or ``.toml``) into events sorted by time.

    Raises:
        ValueError: malformed events.
    """
    data = _read(path)
    raw = data.get("events", []) if isinstance(data, dict) else data
    events = []
    for item in raw:
        entry = dict(item)
        try:
            at = float(entry.pop("at"))
            node = str(entry.pop("node"))
        except KeyError as exc:
            raise InvalidParameterError(f"scenario event without {exc}") from None
        NodeFaults().update(entry)
        events.append(ScenarioEvent(at=at, node=node, changes=entry))
    return sorted(events, key=lambda e: e.at)
