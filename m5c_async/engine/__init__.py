"""The sending engine: paced, bounded, failover-aware bulk sending at the platform's caps."""

from __future__ import annotations

from ._engine import CampaignRun, SendEngine
from ._guard import FrequencyGuard, Guard
from ._intake import Intake, IntakeBatch
from ._model import (
    Campaign,
    CampaignResult,
    EngineConfig,
    EngineStats,
    Hooks,
    LoggingHooks,
    OutcomeKind,
    Packet,
    PacketOutcome,
    RateMeter,
    ReconcileEvent,
    RequestEnd,
    RunInfo,
    RunKind,
)
from ._pacer import Aimd, LocalPacer, Pacer
from ._preflight import PreflightReport, preflight
from ._redis_guard import RedisGuard
from ._redis_pacer import RedisPacer

__all__ = [
    "Aimd",
    "Campaign",
    "CampaignResult",
    "CampaignRun",
    "EngineConfig",
    "EngineStats",
    "FrequencyGuard",
    "Guard",
    "Hooks",
    "Intake",
    "IntakeBatch",
    "LocalPacer",
    "LoggingHooks",
    "OutcomeKind",
    "Pacer",
    "Packet",
    "PacketOutcome",
    "PreflightReport",
    "RateMeter",
    "ReconcileEvent",
    "RedisGuard",
    "RedisPacer",
    "RequestEnd",
    "RunInfo",
    "RunKind",
    "SendEngine",
    "preflight",
]
