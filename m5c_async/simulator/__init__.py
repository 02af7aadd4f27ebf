"""A faithful, fault-injectable 5c platform on loopback: the embedded default for demos and tests.

It reuses ``protocol`` to read requests and write replies and never imports the engine.
``python -m m5c_async.simulator --help`` serves it; ``run_simulator`` embeds it in tests;
``spawn_simulator`` runs it in a child process (its own event loop, as the demo does).
"""

from __future__ import annotations

from ._accounts import (
    DEMO_ACCOUNT,
    AccountConfig,
    AccountState,
    load_accounts,
    parse_account_spec,
)
from ._app import MAX_BODY, NodeApp
from ._cli import add_arguments, serve_from_args
from ._faults import NodeFaults, ScenarioEvent, load_scenario, scenario_options
from ._platform import LedgerEntry, Platform, PlatformSettings
from ._pusher import Pusher
from ._serve import EmbeddedServer, SimulatorServer, free_port, run_simulator
from ._spawn import SimulatorExitedError, SimulatorStartError, SpawnedSimulator, spawn_simulator

__all__ = [
    "DEMO_ACCOUNT",
    "MAX_BODY",
    "AccountConfig",
    "AccountState",
    "EmbeddedServer",
    "LedgerEntry",
    "NodeApp",
    "NodeFaults",
    "Platform",
    "PlatformSettings",
    "Pusher",
    "ScenarioEvent",
    "SimulatorExitedError",
    "SimulatorServer",
    "SimulatorStartError",
    "SpawnedSimulator",
    "add_arguments",
    "free_port",
    "load_accounts",
    "load_scenario",
    "parse_account_spec",
    "run_simulator",
    "scenario_options",
    "serve_from_args",
    "spawn_simulator",
]
