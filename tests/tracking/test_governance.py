"""Governance in MLflow: a run's ``governance.*`` counts, a decision span under each call's span (a wait spanning
until the approval), and the audit log's checkpoints as tags of the workspace's ``toolnexus-audit`` run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolnexus as tn
from tests.tracking.conftest import register_test_tools, seed_store
from tests.tracking.support import client_of, mlflow_run, spans_by_name, synced, trace_of, wait_until
from toolnexus import tool
from toolnexus.registry import spec_of
from toolnexus.store.audit import CheckpointRow
from toolnexus.tracking.checkpoints import AUDIT_EXPERIMENT

POLICY = """\
version: 1
mode: enforce
rules:
  - id: no-counting
    effect: deny
    tools: test.count
    reason: counting is not allowed here
  - id: review-noop
    effect: approve
    tools: test.noop
    reason: a person looks first
  - id: watch-echo
    effect: deny
    mode: observe
    tools: test.echo
  - id: warn-costly
    effect: deny
    mode: warn
    tools: test.costly
    reason: costly calls are frowned upon
"""

MISSION = """\
mission: governed-tracking
steps:
  - id: counted
    uses: test.count
    with: {text: one two}
    continue_on_error: true
  - id: echoed
    uses: test.echo
    with: {value: hi}
  - id: priced
    uses: test.costly
  - id: reviewed
    uses: test.noop
    needs: [echoed]
"""


@pytest.fixture
def governed(workspace: Path, mlflow_template: Path) -> Iterator[tn.Nexus]:
    """A tracked Nexus whose policy denies test.count, sends test.noop for approval, observes test.echo and
    warns about test.costly; the audit log checkpoints every 2 records."""
    seed_store(workspace / ".toolnexus" / "mlflow.db", mlflow_template)
    (workspace / "policies").mkdir()
    (workspace / "policies" / "run.yaml").write_text(POLICY, encoding="utf-8")
    overrides = {"tracking.enabled": True, "governance.policies": ["policies/*.yaml"],
                 "governance.checkpoint_every": 2}
    with tn.Nexus(workspace, overrides=overrides) as nexus:
        yield register_test_tools(nexus)


def _run_with_an_approval(nexus: tn.Nexus) -> tn.RunResult:
    """Run MISSION in a thread, approve its parked call from here once it is requested; the run's result."""
    approvals = nexus.approvals
    assert approvals is not None
    results: list[tn.RunResult] = []
    runner = threading.Thread(target=lambda: results.append(nexus.run(MISSION)))
    runner.start()
    try:
        [ticket] = wait_until(lambda: approvals.list("requested"), 30, "the approval request")
        approvals.approve(ticket.ticket, reason="fine")
    finally:
        runner.join(60)
    assert results, "the run did not finish"
    return results[0]


def test_a_runs_decisions_are_counted_and_traced(governed: tn.Nexus) -> None:
    result = _run_with_an_approval(governed)
    assert result.steps["counted"].status.value == "failed" and result.steps["reviewed"].status.value == "succeeded"
    synced(governed)
    client = client_of(governed)
    run = mlflow_run(client, result)
    metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("governance.")}
    waited = metrics.pop("governance.wait_seconds")
    assert metrics == {
        "governance.decisions": 4, "governance.denied": 1, "governance.waited": 1, "governance.approved": 1,
        "governance.expired": 0, "governance.warned": 1, "governance.would_deny": 2, "governance.would_wait": 0,
    }
    assert waited > 0

    trace = trace_of(client, run)
    spans = spans_by_name(trace)
    decisions = [s for s in trace.data.spans if s.name.startswith("decision:")]
    assert len(decisions) == 4
    by_parent = {s.parent_id: s for s in decisions}
    denied = by_parent[spans["counted"].span_id]
    assert denied.name == "decision: deny (no-counting)" and denied.status.status_code.value == "ERROR"
    assert (denied.attributes["toolnexus.verdict"], denied.attributes["toolnexus.mode"],
            denied.attributes["toolnexus.decider"]) == ("deny", "enforce", "policy")
    approved = by_parent[spans["reviewed"].span_id]
    attributes = approved.attributes
    assert (attributes["toolnexus.verdict"], attributes["toolnexus.decider"], attributes["toolnexus.policy"]) == (
        "allow", "approval", "review-noop")
    assert attributes["toolnexus.ticket"] and attributes["toolnexus.waited"] == pytest.approx(waited)
    # The wait shows as a span from the wait decision to the grant, inside the call's span.
    assert approved.end_time_ns - approved.start_time_ns == pytest.approx(waited * 1e9, rel=1e-3)
    assert spans["reviewed"].start_time_ns <= approved.start_time_ns <= approved.end_time_ns \
        <= spans["reviewed"].end_time_ns
    observed = by_parent[spans["echoed"].span_id].attributes
    assert (observed["toolnexus.verdict"], observed["toolnexus.mode"], observed["toolnexus.would"]) == (
        "allow", "observe", "deny")
    warned = by_parent[spans["priced"].span_id].attributes
    assert (warned["toolnexus.mode"], warned["toolnexus.would"]) == ("warn", "deny")
    assert warned["toolnexus.warning"]


def test_a_run_without_governance_counts_zeros(governed: tn.Nexus) -> None:
    result = governed.run("mission: plain\nsteps:\n  - id: only\n    uses: test.fail\n    continue_on_error: true\n")
    synced(governed)
    metrics = mlflow_run(client_of(governed), result).data.metrics
    assert metrics["governance.decisions"] == 1
    assert all(metrics[f"governance.{name}"] == 0 for name in ("denied", "waited", "approved", "would_deny"))


def test_audit_checkpoints_are_tagged_on_the_workspaces_audit_run(governed: tn.Nexus) -> None:
    _run_with_an_approval(governed)
    governed.governed.close()  # the audit records written (the deferred sink), checkpoints handed on
    synced(governed)
    assert governed.governed.audit is not None
    last = governed.governed.audit.rows.checkpoints()[-1]
    client = client_of(governed)
    experiment = client.get_experiment_by_name(AUDIT_EXPERIMENT)
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    tags = run.data.tags
    assert (tags["toolnexus.audit.count"], tags["toolnexus.audit.head"]) == (str(last.seq), last.head)
    assert tags["toolnexus.workspace"] == str(governed.workspace)
    recorded = {int(k.rsplit(".", 1)[1]): json.loads(v) for k, v in tags.items()
                if k.startswith("toolnexus.audit.checkpoint.")}
    assert sorted(recorded) == [c.seq for c in governed.governed.audit.rows.checkpoints()]
    assert recorded[last.seq]["head"] == last.head
    assert run.data.metrics["audit.records"] == last.seq
    assert governed.tracker is not None and governed.tracker.checkpoints.pending() == []


def test_checkpoints_mlflow_cannot_take_wait_in_the_spool_for_the_next_sync(workspace: Path,
                                                                             mlflow_template: Path) -> None:
    blocker = workspace / "store"
    blocker.write_text("a file where the store's folder should be")  # MLflow is unreachable at first
    overrides = {"tracking.enabled": True, "governance.checkpoint_every": 1}
    with tn.Nexus(workspace, overrides={**overrides, "tracking.uri": f"sqlite:///{blocker / 'mlflow.db'}"}) as nexus:
        register_test_tools(nexus).call("test.echo", value="hi")  # a decision and an outcome: two audit records
        nexus.governed.close()
        assert nexus.tracker is not None
        nexus.tracker.flush(60)
        spooled = nexus.tracker.checkpoints.pending()
        # checkpoint_every = 1: one checkpoint per record, the decision's and the call's outcome, all spooled
        assert len(spooled) == nexus.governed.audit.rows.count() == 2 and nexus.tracker.failures
    seed_store(workspace / ".toolnexus" / "mlflow.db", mlflow_template)
    with tn.Nexus(workspace, overrides=overrides) as nexus:
        assert nexus.tracker is not None
        assert nexus.tracker.sync_pending() == (0, [])  # no run report was pending; the checkpoint was
        assert nexus.tracker.checkpoints.pending() == []
        client = client_of(nexus)
        experiment = client.get_experiment_by_name(AUDIT_EXPERIMENT)
        assert experiment is not None
        [run] = client.search_runs([experiment.experiment_id])
        # Every spooled checkpoint reached MLflow: the decision's and the outcome's.
        assert run.data.tags["toolnexus.audit.count"] == str(nexus.governed.audit.rows.count()) == "2"
        assert {"toolnexus.audit.checkpoint.1", "toolnexus.audit.checkpoint.2"} <= set(run.data.tags)


def test_a_checkpoint_handed_on_while_a_run_is_going_reaches_mlflow_once_the_run_has_ended(
        tnx: tn.Nexus) -> None:
    """Writing audit checkpoints to MLflow waits for the runs going to end, not to compete with them."""
    started, release = threading.Event(), threading.Event()

    @tool(name="trk.hold", register=False)
    def hold() -> str:
        """Wait until the test lets go."""
        started.set()
        assert release.wait(30)
        return "done"

    tnx.registry.register(spec_of(hold))
    runner = threading.Thread(target=tnx.run, args=("mission: held\nsteps:\n  - id: only\n    uses: trk.hold\n",))
    runner.start()
    try:
        assert started.wait(30)
        assert tnx.tracker is not None
        tnx.tracker.stream_interval = 600  # (a run going that long would have them sent with its step metrics)
        tnx.tracker.record_checkpoint(CheckpointRow(seq=7, head="f" * 64, at="2026-12-07T00:00:00+00:00"))
        assert tnx.tracker.flush(30)
        assert len(tnx.tracker.checkpoints.pending()) == 1  # spooled, and held while the run goes
    finally:
        release.set()
        runner.join(30)
    synced(tnx)
    assert tnx.tracker.checkpoints.pending() == []
    client = client_of(tnx)
    experiment = client.get_experiment_by_name(AUDIT_EXPERIMENT)
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.data.tags["toolnexus.audit.count"] == "7"
