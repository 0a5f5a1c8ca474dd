"""Budgets: a call that would exceed max_cost is refused before it runs; max_duration fails the run."""

from __future__ import annotations

import time

import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus import ErrorKind, RunStatus, StepStatus

pytestmark = pytest.mark.anyio


def costly(n: int, max_cost: float, chained: bool) -> str:
    steps = []
    for i in range(n):
        needs = f"\n    needs: c{i - 1}" if chained and i else ""
        steps.append(f"  - id: c{i}\n    uses: test.costly{needs}\n    with: {{label: c{i}}}")
    return f"mission: costly\nbudget: {{max_cost: {max_cost}}}\nsteps:\n" + "\n".join(steps) + "\n"


@pytest.mark.parametrize("chained", [True, False], ids=["in-sequence", "in-parallel"])
async def test_max_cost_refuses_the_call_that_would_exceed_it(
        enx: tn.Nexus, events: Recorder, chained: bool) -> None:
    result = await enx.arun(costly(3, 0.5, chained))
    assert result.status == RunStatus.FAILED
    statuses = sorted(r.status.value for r in result.steps.values())
    assert statuses == ["failed", "succeeded", "succeeded"]
    refused = result.failed_steps()[0]
    assert refused.error is not None and refused.error.kind == ErrorKind.BUDGET_EXCEEDED
    assert refused.attempts == 0 and refused.cost == 0
    # Refused before it ran: only two calls of the tool ever started.
    assert len(events.of("call_started")) == 2
    assert result.cost == pytest.approx(0.4)
    assert result.error is not None and result.error.kind == ErrorKind.BUDGET_EXCEEDED
    if chained:
        assert refused.step_id == "c2"


async def test_a_budget_that_fits_lets_every_call_run(enx: tn.Nexus) -> None:
    result = await enx.arun(costly(3, 0.6, chained=False))
    assert result.ok, result.summary()
    assert result.cost == pytest.approx(0.6)


async def test_foreach_items_share_the_budget(enx: tn.Nexus) -> None:
    mission = """
mission: costly-fanout
budget: {max_cost: 0.5}
steps:
  - id: each
    uses: test.costly
    foreach: [a, b, c]
    with: {label: "${{ item }}"}
"""
    result = await enx.arun(mission)
    record = result.steps["each"]
    assert record.status == StepStatus.FAILED
    assert record.error is not None and record.error.kind == ErrorKind.BUDGET_EXCEEDED
    assert sum(1 for o in record.output if o is not None) == 2
    assert record.cost == pytest.approx(0.4)


async def test_reported_costs_roll_up_into_steps_and_the_run(enx: tn.Nexus) -> None:
    mission = """
mission: tokens
steps:
  - id: small
    uses: test.tokens
    with: {n: 100}
  - id: big
    uses: test.tokens
    with: {n: 250}
  - id: flat
    uses: test.costly
"""
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    assert result.steps["small"].cost == pytest.approx(0.1)
    assert result.steps["big"].cost == pytest.approx(0.25)
    assert result.steps["flat"].cost == pytest.approx(0.2)
    assert result.cost == pytest.approx(0.55)
    stored = enx.store.get_run(result.run_id)  # type: ignore[union-attr]
    assert stored is not None and stored.cost == pytest.approx(0.55)


async def test_max_duration_fails_the_run_and_cancels_what_runs(enx: tn.Nexus) -> None:
    mission = """
mission: too-long
budget: {max_duration: 300ms}
steps:
  - id: nap
    uses: test.sleep
    with: {seconds: 30}
  - id: after
    uses: test.echo
    with: {value: "${{ steps.nap.outputs | string }}"}
"""
    started = time.monotonic()
    result = await enx.arun(mission)
    assert time.monotonic() - started < 10
    assert result.status == RunStatus.FAILED
    assert result.error is not None and result.error.kind == ErrorKind.BUDGET_EXCEEDED
    assert "max_duration" in result.error.message
    assert result.steps["nap"].status == StepStatus.CANCELLED
    assert result.steps["after"].status in (StepStatus.CANCELLED, StepStatus.SKIPPED)
    stored = enx.store.get_run(result.run_id)  # type: ignore[union-attr]
    assert stored is not None and stored.status == RunStatus.FAILED
