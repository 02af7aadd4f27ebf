"""Observability fixtures: the engine tests' in-process platform."""

from tests.engine.conftest import rig

__all__ = ["rig"]
