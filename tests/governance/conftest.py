"""Governance fixtures: the engine's Nexus (with its tools) and event recorder."""

from tests.engine.conftest import enx, events

__all__ = ["enx", "events"]
