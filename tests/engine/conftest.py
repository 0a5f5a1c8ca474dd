"""Engine fixtures: a Nexus with the fixture tools and this package's tools, and an event recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus.registry import load_module


@pytest.fixture
def enx(test_nexus: tn.Nexus) -> tn.Nexus:
    """The test Nexus, also holding the tools of ``tests.engine.tools``."""
    load_module(test_nexus.registry, "tests.engine.tools")
    return test_nexus


@pytest.fixture
def events(enx: tn.Nexus) -> Iterator[Recorder]:
    recorder = Recorder()
    unsubscribe = enx.bus.subscribe(recorder)
    yield recorder
    unsubscribe()
