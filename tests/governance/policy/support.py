"""Helpers for the policy tests: policy files in the workspace, a governed Nexus, a tool with an amount."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus.governance.policy import PolicyGate
from toolnexus.registry import spec_of


@tn.tool(name="pay.transfer", tier="side_effecting", register=False)
def transfer(amount: float, to: str) -> dict[str, Any]:
    """Move ``amount`` to ``to`` (records nothing: the decision is what is tested)."""
    return {"sent": amount, "to": to}


def write_policy(workspace: Path, text: str, name: str = "main.yaml") -> Path:
    """Write a policy file under ``policies/`` of ``workspace``."""
    path = workspace / "policies" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@contextmanager
def governed(workspace: Path, gate: PolicyGate) -> Iterator[tuple[tn.Nexus, Recorder]]:
    """A Nexus on ``workspace`` deciding by ``gate`` (with pay.transfer registered), and its event recorder."""
    with tn.Nexus(workspace, gate=gate) as nexus:
        nexus.registry.register(spec_of(transfer))
        recorder = Recorder()
        nexus.bus.subscribe(recorder)
        gate.tools = nexus.registry.list
        yield nexus, recorder
