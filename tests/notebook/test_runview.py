"""The live run view on real runs (real engine, real store, real ipywidgets models): states as they change,
errors, retries, approvals with their rule, foreach counts, batched renders, Cancel and Resume, and the hook
that makes ``Nexus.run`` show it."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import toolnexus as tn
from tests.conftest import REPO
from tests.engine.support import Recorder, assert_gone, descendants, read_pids, wait_until
from toolnexus import api
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.events import Event, RunStarted, StepStarted
from toolnexus.core.progress import WAITING
from toolnexus.core.run import RunStatus, StepStatus
from toolnexus.notebook import runview, runview_install
from toolnexus.notebook.runview import RunView
from toolnexus.registry import spec_of


def in_thread(work: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def probe(nexus: tn.Nexus, view: RunView, seen: list[tuple[str, str, int]]) -> None:
    """Register ``test.probe``: a step that renders the view while it runs and notes what the view shows of
    it then (its state and foreach items started), so a test sees the running state without racing it."""

    @tn.tool(name="test.probe", register=False)
    def probe_tool(step: str) -> str:
        view.render()
        row = view.model.rows[step]
        seen.append((step, row.state, row.items_started))
        return row.state

    nexus.registry.register(spec_of(probe_tool))


def test_states_go_pending_running_succeeded_and_the_table_shows_them(test_nexus: tn.Nexus) -> None:
    view = RunView(test_nexus, interval=0)
    seen: list[tuple[str, str, int]] = []
    probe(test_nexus, view, seen)
    result = view.run("""
mission: two
steps:
  - {id: a, uses: test.probe, with: {step: a}}
  - {id: b, uses: test.probe, with: {step: b}, needs: a}
""")
    assert result.status == RunStatus.SUCCEEDED
    assert view.result is result
    assert seen == [("a", "running", 0), ("b", "running", 0)]  # a render while each runs shows it running
    assert {step: row.state for step, row in view.model.rows.items()} == {"a": "succeeded", "b": "succeeded"}
    assert view.model.counts["succeeded"] == 2
    assert "2 succeeded" in view.html.value
    assert view.html.value.count('class="toolnexus-step toolnexus-step-succeeded"') == 2
    assert "succeeded" in view.html.value and result.run_id in view.html.value
    assert view.widget.children == (view.html,)  # no Cancel once it is over, no Resume after a success
    assert view.control.running() == {}  # the run's map of running steps is let go with it


def test_a_failing_step_shows_its_error_and_the_run_offers_resume(test_nexus: tn.Nexus) -> None:
    view = RunView(test_nexus)
    result = view.run("""
mission: failing
steps:
  - {id: bad, uses: test.fail, with: {message: the disk is on fire}}
""")
    assert result.status == RunStatus.FAILED
    row = view.model.rows["bad"]
    assert row.state == "failed" and "the disk is on fire" in row.error
    assert "the disk is on fire" in view.html.value
    assert view.resume_button.layout.display != "none"


def test_a_retrying_step_shows_its_attempt_against_its_attempts(test_nexus: tn.Nexus) -> None:
    view = RunView(test_nexus, interval=0)
    notes: list[str] = []
    test_nexus.bus.subscribe(lambda event: notes.append(view.model.rows["flaky"].note)
                             if view.model.rows.get("flaky") else None)
    result = view.run("""
mission: retrying
steps:
  - id: flaky
    uses: test.flaky
    with: {marker: m, fail_times: 2}
    retry: {attempts: 3, delay: 0.01}
""")
    assert result.status == RunStatus.SUCCEEDED
    assert any(note.startswith("retry 2/3") for note in notes), notes
    assert any(note.startswith("retry 3/3") for note in notes), notes
    assert view.model.rows["flaky"].attempt == 3


def test_foreach_counts_its_items(test_nexus: tn.Nexus) -> None:
    view = RunView(test_nexus, interval=0)
    seen: list[tuple[str, str, int]] = []
    probe(test_nexus, view, seen)
    result = view.run("""
mission: fanout
concurrency: 1
steps:
  - id: each
    uses: test.probe
    foreach: [a, b, c, d, e]
    with: {step: each}
""")
    assert result.status == RunStatus.SUCCEEDED
    assert [items for _, _, items in seen] == [1, 2, 3, 4, 5]  # one at a time: each render counts one more
    assert {state for _, state, _ in seen} == {"running"}
    assert view.model.rows["each"].items == 5
    assert "5 items" in view.html.value


def test_renders_are_batched_to_ten_a_second_on_the_views_clock(test_nexus: tn.Nexus) -> None:
    """Each event advances a fake clock by 1 ms: 1,000+ events over ~2 s of it may make at most ~10 renders a
    second of it, and every render but the run's last comes at least 0.1 s of it after the one before."""
    now = [0.0]
    stamps: list[float] = []

    def clock() -> float:
        return now[0]

    def tick(event: Event) -> None:
        now[0] += 0.001

    test_nexus.bus.subscribe(tick)
    view = RunView(test_nexus, clock=clock)
    rendering = view.render

    def counted() -> None:
        stamps.append(now[0])
        rendering()

    view.render = counted  # type: ignore[method-assign]
    steps = "\n".join(f"  - {{id: s{i}, uses: test.noop}}" for i in range(500))
    result = view.run(f"mission: many\nconcurrency: 16\nsteps:\n{steps}\n")
    assert result.status == RunStatus.SUCCEEDED
    assert view.model.counts["succeeded"] == 500
    span = now[0]
    assert span > 1.0  # 500 starts + 500 finishes + the run's own events
    assert len(stamps) <= span * 10 + 2
    gaps = [b - a for a, b in itertools.pairwise(stamps)][:-1]  # the final render is forced
    assert all(gap >= 0.1 - 1e-9 for gap in gaps), gaps
    assert "500 succeeded" in view.html.value  # the last render shows the end


def test_a_thousand_steps_make_one_table_of_bounded_size(test_nexus: tn.Nexus) -> None:
    view = RunView(test_nexus, max_rows=50)
    steps = "\n".join(f"  - {{id: s{i}, uses: test.noop}}" for i in range(1000))
    result = view.run(f"mission: big\nconcurrency: 32\nsteps:\n{steps}\n")
    assert result.status == RunStatus.SUCCEEDED
    assert view.html.value.count("<tr class=") == 50
    assert "950 more steps" in view.html.value
    assert "1000 succeeded" in view.html.value


def test_the_header_links_the_runs_mlflow_run_once_the_tracker_wrote_it(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLNEXUS_TRACKING__ENABLED", "true")
    with tn.Nexus(workspace) as nexus:
        assert nexus.tracker is not None
        view = RunView(nexus)
        result = view.run("mission: tracked\nsteps:\n  - {id: a, uses: text.render, with: {template: hi}}\n")
        assert result.status == RunStatus.SUCCEEDED
        wait_until(lambda: nexus.tracker.mlflow_run_id(result.run_id) is not None, within=120,
                   what="the tracker to write the run to MLflow")
        wait_until(lambda: "MLflow run" in view.html.value, within=30, what="the view to show the MLflow run")
        mlflow_run = nexus.tracker.mlflow_run_id(result.run_id)
        assert mlflow_run is not None and mlflow_run in view.html.value
        assert "mlflow ui --backend-store-uri sqlite:" in view.html.value  # a local store: no web UI to link


def approving_workspace(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    policies = workspace / "policies"
    policies.mkdir()
    (policies / "review.yaml").write_text("""
version: 1
mode: enforce
rules:
  - id: echo-is-reviewed
    effect: approve
    tools: test.echo
    reason: a person reads every echo
    timeout: 5m
""")


@pytest.fixture
def governed_nexus(workspace: Path) -> Iterator[tn.Nexus]:
    from tests.fixtures.tools import ALL

    approving_workspace(workspace)
    with tn.Nexus(workspace) as nx:
        for fn in ALL:
            nx.registry.register(spec_of(fn))
        yield nx


def test_a_step_waiting_for_approval_shows_its_rule_and_ticket(governed_nexus: tn.Nexus) -> None:
    view = RunView(governed_nexus)
    thread, box = in_thread(lambda: view.run(
        "mission: reviewed\nsteps:\n  - {id: say, uses: test.echo, with: {value: hi}}\n"))
    wait_until(lambda: view.model.rows.get("say") is not None and view.model.rows["say"].ticket is not None,
               within=60, what="the step to wait for its approval with a ticket")
    row = view.model.rows["say"]
    assert row.state == WAITING and row.rule == "echo-is-reviewed"
    view.render()
    assert "echo-is-reviewed" in view.html.value and row.ticket in view.html.value
    assert "1 waiting for approval" in view.html.value
    assert governed_nexus.approvals is not None
    governed_nexus.approvals.approve(row.ticket, reason="fine")
    thread.join(60)
    assert "error" not in box, box.get("error")
    assert box["value"].status == RunStatus.SUCCEEDED
    assert view.model.rows["say"].state == "succeeded"


def spawning(pidfile: Path) -> str:
    return f"""
mission: long
steps:
  - id: first
    uses: test.echo
    with: {{value: go}}
  - id: spawn
    uses: test.spawn_and_wait
    with: {{pidfile: "{pidfile}", seconds: 60}}
    needs: first
"""


def test_cancel_stops_a_long_process_step_records_the_run_cancelled_and_leaves_no_process(
        test_nexus: tn.Nexus, workspace: Path) -> None:
    pidfile = workspace / "spawn.pids"
    before = descendants()
    view = RunView(test_nexus)
    thread, box = in_thread(lambda: view.run(spawning(pidfile)))
    wait_until(lambda: read_pids(pidfile), within=60, what="the process step to start its child")
    wait_until(lambda: view.model.rows["spawn"].state == "running", what="the view to show the step running")
    pids = sorted(descendants() - before)
    view.render()
    assert not view.cancel_button.disabled
    view.cancel_button.click()  # what the front-end's click does
    thread.join(60)
    result = box["value"]
    assert result.status == RunStatus.CANCELLED
    assert result.steps["spawn"].status == StepStatus.CANCELLED
    assert test_nexus.store is not None
    stored = test_nexus.store.get_run(result.run_id)
    assert stored is not None and stored.status == RunStatus.CANCELLED
    assert stored.error is not None and stored.error.message == runview.CANCELLED_HERE
    assert len(pids) >= 2
    assert_gone(pids)
    assert view.model.rows["spawn"].state == "cancelled"
    assert view.resume_button.layout.display != "none"


def test_resume_of_a_failed_run_completes_it(test_nexus: tn.Nexus, workspace: Path) -> None:
    (workspace / "broken").write_text("x")
    mission = """
mission: resumable
steps:
  - {id: a, uses: test.echo, with: {value: one}}
  - {id: b, uses: test.flaky, with: {marker: broken-count, fail_times: 1}, needs: a}
"""
    view = RunView(test_nexus)
    first = view.run(mission)
    assert first.status == RunStatus.FAILED  # flaky fails once (no retry policy); resuming tries it again
    resumed = view.resume()
    assert resumed is not None and resumed.status == RunStatus.SUCCEEDED
    assert resumed.resumed_from == first.run_id
    assert view.model.run_id == resumed.run_id and view.model.rows["b"].state == "succeeded"
    assert first.run_id in view.html.value  # "resumes <run>"


def test_the_resume_button_resumes_in_a_thread_of_its_own(test_nexus: tn.Nexus) -> None:
    view = RunView(test_nexus)
    first = view.run("""
mission: resumable-button
steps:
  - {id: b, uses: test.flaky, with: {marker: button-count, fail_times: 1}}
""")
    assert first.status == RunStatus.FAILED
    view.resume_button.click()
    assert view.finished.wait(60)
    assert view.failure is None and view.result is not None
    assert view.result.status == RunStatus.SUCCEEDED and view.result.resumed_from == first.run_id


def test_install_makes_nexus_run_show_the_view_and_return_the_result(
        test_nexus: tn.Nexus, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[RunView] = []
    monkeypatch.setattr(runview_install, "show", shown.append)
    monkeypatch.setattr(api, "run_presenters", [])
    runview.install(None)
    runview.install(None)
    assert api.run_presenters == [runview.present]
    recorder = Recorder()
    test_nexus.bus.subscribe(recorder)
    result = test_nexus.run("mission: hooked\nsteps:\n  - {id: a, uses: test.echo, with: {value: x}}\n")
    assert result.status == RunStatus.SUCCEEDED and result.steps["a"].output == "x"
    assert len(shown) == 1 and shown[0].result is result
    assert shown[0].model.rows["a"].state == "succeeded"
    assert self_unsubscribed(test_nexus, shown[0])
    runview.uninstall(None)
    assert api.run_presenters == []
    test_nexus.run("mission: plain\nsteps:\n  - {id: a, uses: test.echo, with: {value: x}}\n")
    assert len(shown) == 1


def test_a_mission_that_does_not_compile_leaves_no_view_behind(
        test_nexus: tn.Nexus, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[RunView] = []
    monkeypatch.setattr(runview_install, "show", shown.append)
    monkeypatch.setattr(api, "run_presenters", [])
    runview.install(None)
    with pytest.raises(DiagnosticError):
        test_nexus.run("mission: broken\nsteps:\n  - {id: a, uses: no.such.tool}\n")
    assert len(shown) == 1 and shown[0].widget.layout.display == "none"
    assert shown[0] not in test_nexus.bus.sinks


def self_unsubscribed(nexus: tn.Nexus, view: RunView) -> bool:
    return view not in nexus.bus.sinks


def test_a_view_ignores_the_events_of_other_runs(test_nexus: tn.Nexus) -> None:
    view = RunView(test_nexus, interval=0)
    view(RunStarted(run_id="run-1", mission="m", plan_hash="h", step_ids=["a"]))
    view(RunStarted(run_id="run-2", mission="m", plan_hash="h", step_ids=["b"]))
    view(StepStarted(run_id="run-2", step_id="a", tool="t"))
    assert view.model.run_id == "run-1" and list(view.model.rows) == ["a"]
    assert view.model.rows["a"].state == "pending"
    view(StepStarted(run_id="run-1", step_id="a", tool="t"))
    assert view.model.rows["a"].state == "running"


# -- in a real kernel: tn.run blocks the cell, and Cancel still cancels --------------------------------------


KERNEL_CELL = '''
import toolnexus as tn
from tests.fixtures.tools import ALL
from toolnexus.notebook import runview
from toolnexus.registry import spec_of

nexus = tn.Nexus({workspace!r})
for fn in ALL:
    nexus.registry.register(spec_of(fn))
runview.install(get_ipython())
result = nexus.run({mission!r})
print("RESULT", result.status.value, result.error.message if result.error else "")
'''


def cancel_button_of(client: Any, within: float = 60) -> str:
    """The comm id of the Cancel button the running cell displayed (from its comm_open)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        message = client.get_iopub_msg(timeout=within)
        if message["msg_type"] != "comm_open":  # made by a render, maybe on the engine's thread: no parent
            continue
        state = message["content"]["data"].get("state", {})
        if state.get("_model_name") == "ButtonModel" and state.get("description") == "Cancel":
            return str(message["content"]["comm_id"])
    pytest.fail("the cell displayed no Cancel button")


@pytest.mark.parametrize("how", ["click", "interrupt"])
def test_cancel_in_a_real_kernel_stops_the_run_while_its_cell_blocks(workspace: Path, how: str) -> None:
    """A click on Cancel (acted on as it arrives) or the kernel's interrupt (Ctrl-C's like) cancel the run that
    ``nexus.run`` in the cell is blocked on: its processes are killed and it is recorded cancelled."""
    from jupyter_client.manager import start_new_kernel

    pidfile = workspace / "spawn.pids"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60, cwd=str(workspace), env=env)
    try:
        msg_id = client.execute(KERNEL_CELL.format(workspace=str(workspace), mission=spawning(pidfile)))
        button = cancel_button_of(client)
        wait_until(lambda: read_pids(pidfile), within=60, what="the process step to start its child")
        pids = sorted(descendants(manager.provisioner.pid))  # the step's worker and the child it started
        if how == "click":  # what the front end sends on a click, while the cell still runs nexus.run(...)
            client.shell_channel.send(client.session.msg("comm_msg", {
                "comm_id": button, "data": {"method": "custom", "content": {"event": "click"}}}))
        else:
            manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = client.get_shell_msg(timeout=60)
        printed = []
        while True:
            message = client.get_iopub_msg(timeout=30)
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle" \
                    and message["parent_header"].get("msg_id") == msg_id:
                break
        if how == "click":
            assert reply["content"]["status"] == "ok", reply["content"]
            assert f"RESULT cancelled {runview.CANCELLED_HERE}" in "".join(printed), printed
        else:  # the cell ends with the KeyboardInterrupt, once the run is recorded cancelled
            assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert len(pids) >= 2
        assert_gone(pids)  # killed by the cancellation (the cell leaves its Nexus open)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    with tn.Nexus(workspace) as nexus:
        assert nexus.store is not None
        (stored,) = nexus.store.list_runs(limit=1)
        assert stored.status == RunStatus.CANCELLED
        assert stored.error is not None
        assert stored.error.message == (runview.CANCELLED_HERE if how == "click" else "interrupted")
