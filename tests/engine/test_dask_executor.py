"""The Dask executor on a real ``distributed.LocalCluster`` (2 worker processes): the same results as the local
executor, governance decided before dispatch, cancellation that reaches the workers' processes, a worker lost
mid-call, resume, and the cluster the executor starts for a run closed with it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import toolnexus as tn
from tests.conftest import REPO
from tests.engine import dask_tools
from tests.engine.support import alive, assert_gone, descendants, read_pids, wait_until
from toolnexus import RunControl, RunStatus
from toolnexus.core.errors import ErrorKind
from toolnexus.registry import spec_of

distributed = pytest.importorskip("distributed", reason="the dask extra (Dask distributed) is not installed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real LocalCluster of 2 worker processes (one call at a time each), shared by this module's tests."""
    from toolnexus.engine.dask_executor import spawnable_main

    spawnable_main()  # (an earlier test's IPython may have left a __main__ that spawning cannot read)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


@pytest.fixture
def address(cluster: Any) -> str:
    return cluster.scheduler_address


@pytest.fixture
def project(workspace: Path) -> Path:
    shutil.copytree(REPO / "missions", workspace / "missions")
    return workspace


def nexus_on(workspace: Path, executor: Any, **kwargs: Any) -> tn.Nexus:
    nexus = tn.Nexus(workspace, executor=executor, **kwargs)
    for fn in dask_tools.ALL:
        nexus.registry.register(spec_of(fn))
    from tests.fixtures.tools import ALL

    for fn in ALL:
        nexus.registry.register(spec_of(fn))
    return nexus


def worker_pids(cluster: Any) -> set[int]:
    client = distributed.Client(cluster, set_as_default=False)
    try:
        return set(client.run(os.getpid).values())
    finally:
        client.close()


def call_processes(new: set[int]) -> list[int]:
    """Of the processes started under the workers, those of the spawning call: its ``sleep`` child and that
    child's ancestors among them (the sandbox and the interpreter that ran the tool). The process runtime's idle
    spare, warmed for the next call, is not the call's."""
    import psutil

    chain: list[int] = []
    for pid in new:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).cmdline()[:1] == ["sleep"]:
                chain.append(pid)
    for pid in list(chain):
        with contextlib.suppress(psutil.NoSuchProcess):
            chain += [parent.pid for parent in psutil.Process(pid).parents() if parent.pid in new]
    return sorted(set(chain))


def tracker(pid: int) -> bool:
    """Whether ``pid`` is multiprocessing's resource tracker: started with the first spawned process, it lives
    as long as this one (it is not the cluster's)."""
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return "multiprocessing.resource_tracker" in " ".join(psutil.Process(pid).cmdline())
    return False


def comparable(result: tn.RunResult) -> dict[str, Any]:
    return {"status": result.status.value, "outputs": result.outputs,
            "steps": {sid: (r.status.value, r.output) for sid, r in result.steps.items()}}


# -- the same results -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mission", "inputs"), [("hello.yaml", {"name": "Ada"}), ("csv_report.yaml", {"top": 2})])
def test_example_missions_give_the_same_results_as_with_the_local_executor(
        project: Path, address: str, mission: str, inputs: dict[str, Any]) -> None:
    with tn.Nexus(project) as local:
        expected = local.run(f"missions/{mission}", inputs)
    with tn.Nexus(project, executor=f"dask://{address}") as remote:
        got = remote.run(f"missions/{mission}", inputs)
    assert got.status == RunStatus.SUCCEEDED, got.error
    assert comparable(got) == comparable(expected)


def test_an_in_process_step_runs_in_a_worker_process_not_here(workspace: Path, cluster: Any) -> None:
    with nexus_on(workspace, f"dask://{cluster.scheduler_address}") as nexus:
        result = nexus.run("mission: where\nsteps:\n  - {id: a, uses: dask.where, with: {label: x}}\n")
    assert result.status == RunStatus.SUCCEEDED
    pid = result.steps["a"].output["pid"]
    assert pid != os.getpid() and pid in worker_pids(cluster)


def test_a_tool_defined_here_runs_on_a_worker_by_value(workspace: Path, address: str) -> None:
    @tn.tool(name="local.square", register=False)
    def square(n: int) -> int:
        return n * n

    with nexus_on(workspace, f"dask://{address}") as nexus:
        nexus.registry.register(spec_of(square))
        result = nexus.run("mission: sq\nsteps:\n  - {id: a, uses: local.square, with: {n: 7}}\n")
    assert result.status == RunStatus.SUCCEEDED and result.steps["a"].output == 49


# -- governance before dispatch ---------------------------------------------------------------------------------


POLICY = """
rules:
  - id: no-charges
    tools: ["dask.charge"]
    effect: deny
    mode: enforce
    reason: not on this cluster
  - id: hold-needs-a-person
    tools: ["dask.hold"]
    effect: approve
    mode: enforce
"""


def test_a_denied_step_is_refused_before_dispatch_and_an_approved_one_runs_on_a_worker(
        workspace: Path, address: str) -> None:
    (workspace / "policy.yaml").write_text(POLICY)
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policy.yaml"]\n')
    (workspace / "release").write_text("")  # dask.hold returns at once
    with nexus_on(workspace, f"dask://{address}") as nexus:
        denied = nexus.run("mission: denied\nsteps:\n"
                           f"  - {{id: a, uses: dask.charge, with: {{folder: '{workspace}'}}}}\n")
        error = denied.steps["a"].error
        assert error is not None and error.kind == ErrorKind.DENIED and error.details["policy"] == "no-charges"
        assert not (workspace / "charge.pids").exists()  # refused here: never sent to a worker
        approvals = nexus.approvals
        assert approvals is not None

        def grant() -> None:
            wait_until(lambda: approvals.list("requested"), what="the approval request")
            approvals.approve(approvals.list("requested")[0].ticket, reason="fine", by="reviewer")

        granter = threading.Thread(target=grant)
        granter.start()
        approved = nexus.run("mission: approved\nsteps:\n"
                             f"  - {{id: a, uses: dask.hold, with: {{folder: '{workspace}'}}}}\n")
        granter.join()
    assert approved.status == RunStatus.SUCCEEDED, approved.error
    assert approved.steps["a"].output != os.getpid()  # it ran on a worker, once granted
    assert len((workspace / "hold.pids").read_text().split()) == 1


# -- cancellation reaches the workers ---------------------------------------------------------------------------


def test_cancelling_a_run_stops_the_processes_it_started_on_the_workers(workspace: Path, address: str) -> None:
    pidfile = workspace / "spawn.pids"
    control = RunControl()
    box: dict[str, tn.RunResult] = {}
    with nexus_on(workspace, f"dask://{address}") as nexus:
        mission = f"""
mission: spawning
steps:
  - id: spawn
    uses: test.spawn_and_wait
    with: {{pidfile: "{pidfile}", seconds: 60}}
  - id: hold
    uses: dask.hold
    with: {{folder: "{workspace}", seconds: 60}}
"""
        before = descendants()  # the cluster's nannies and workers (this process started them)
        runner = threading.Thread(target=lambda: box.setdefault("result", nexus.run(mission, control=control)))
        runner.start()
        wait_until(lambda: read_pids(pidfile) and (workspace / "hold.pids").exists(), within=60,
                   what="both steps running on the workers")
        pids = call_processes(descendants() - before)
        assert len(pids) >= 2
        control.cancel("stop")
        assert_gone(pids, within=1.0)
        runner.join(timeout=30)
        assert not runner.is_alive()
    result = box["result"]
    assert result.status == RunStatus.CANCELLED
    assert {r.status.value for r in result.steps.values()} == {"cancelled"}


def test_a_cancelled_call_leaves_its_worker_free_for_the_next(workspace: Path, address: str) -> None:
    control = RunControl()
    with nexus_on(workspace, f"dask://{address}") as nexus:
        mission = f"mission: h\nsteps:\n  - {{id: a, uses: dask.hold, with: {{folder: '{workspace}', seconds: 60}}}}\n"
        runner = threading.Thread(target=lambda: nexus.run(mission, control=control))
        runner.start()
        wait_until(lambda: (workspace / "hold.pids").exists(), within=60, what="the call running")
        control.cancel("stop")
        runner.join(timeout=30)
        after = nexus.run("mission: w\nsteps:\n  - {id: a, uses: dask.where}\n  - {id: b, uses: dask.where}\n")
    assert after.status == RunStatus.SUCCEEDED  # both workers answer: the cancelled call did not hold one


# -- a worker lost mid-call -------------------------------------------------------------------------------------


def _kill_worker_mid_call(workspace: Path, address: str, tool: str) -> tuple[tn.RunResult, list[int]]:
    """Run ``tool`` (a dask_tools holding call), kill the worker running it, then release the file it waits
    for; the run's result and every pid the tool noted at a start."""
    box: dict[str, tn.RunResult] = {}
    pids = workspace / f"{tool.split('.')[1]}.pids"
    with nexus_on(workspace, f"dask://{address}") as nexus:
        mission = f"mission: lost\nsteps:\n  - {{id: a, uses: {tool}, with: {{folder: '{workspace}', seconds: 60}}}}\n"
        runner = threading.Thread(target=lambda: box.setdefault("result", nexus.run(mission)))
        runner.start()
        wait_until(lambda: pids.exists() and pids.read_text().strip(), within=60, what="the call running")
        victim = int(pids.read_text().split()[0])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not alive(victim), what="the worker gone")
        (workspace / "release").write_text("")
        runner.join(timeout=60)
        assert not runner.is_alive()
    return box["result"], [int(p) for p in pids.read_text().split()]


def test_a_read_only_call_whose_worker_is_lost_runs_again_on_another(workspace: Path, address: str) -> None:
    result, starts = _kill_worker_mid_call(workspace, address, "dask.hold")
    assert result.status == RunStatus.SUCCEEDED, result.error
    assert len(starts) == 2 and starts[0] != starts[1]  # started again, elsewhere
    assert result.steps["a"].output == starts[1]


def test_a_side_effecting_call_whose_worker_is_lost_is_never_run_twice(workspace: Path, address: str) -> None:
    result, starts = _kill_worker_mid_call(workspace, address, "dask.charge")
    assert len(starts) == 1  # the one start, on the lost worker
    assert result.status == RunStatus.FAILED
    error = result.steps["a"].error
    assert error is not None and error.kind == ErrorKind.RUNTIME_ERROR and not error.retryable
    assert "worker" in error.message and "not started again" in error.message


# -- resume -----------------------------------------------------------------------------------------------------


def test_a_failed_dask_run_resumes_on_dask(project: Path, address: str) -> None:
    with tn.Nexus(project, executor=f"dask://{address}") as nexus:
        first = nexus.run("missions/resilient_ingest.yaml")
        assert first.status == RunStatus.FAILED
        second = nexus.run("", resume=first.run_id)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.steps["reset"].resumed and second.outputs["calls"] == 3


# -- the executor's own cluster ---------------------------------------------------------------------------------


def test_executor_dask_starts_a_local_cluster_for_the_run_and_closes_it_with_the_run(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An embedding program's __main__ without __spec__ (as some test runners and front ends leave it): the
    # spawned workers start all the same.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    del sys.modules["__main__"].__spec__
    (workspace / "toolnexus.toml").write_text("[dask]\nworkers = 1\n")
    pidfile = workspace / "spawn.pids"
    with nexus_on(workspace, "dask") as nexus:
        before = descendants()  # (the cluster module's: started before)
        result = nexus.run(f"""
mission: own
steps:
  - {{id: a, uses: dask.where}}
  - {{id: b, uses: test.spawn_and_wait, with: {{pidfile: "{pidfile}", seconds: 0.1}}}}
""")
        assert result.status == RunStatus.SUCCEEDED, result.error
        worker = result.steps["a"].output["pid"]
        assert worker != os.getpid() and worker not in before
        assert not alive(worker)  # closed with the run: no worker process left behind
        assert not [pid for pid in descendants() - before if not tracker(pid)]  # nor any sandbox (none here either)
        assert nexus.invoker.executor._client is None


def test_an_unknown_executor_is_a_clear_error(workspace: Path) -> None:
    from toolnexus.core.diagnostics import DiagnosticError

    with pytest.raises(DiagnosticError, match="unknown executor 'dusk'"):
        tn.Nexus(workspace, executor="dusk")


def test_an_executor_on_a_client_of_ones_own_leaves_it_open(workspace: Path, address: str) -> None:
    from toolnexus.engine.dask_executor import DaskExecutor

    with distributed.Client(address, set_as_default=False) as client:
        executor = DaskExecutor.from_client(client)
        with nexus_on(workspace, executor) as nexus:  # type: ignore[arg-type]
            result = nexus.run("mission: mine\nsteps:\n  - {id: a, uses: dask.where}\n")
            assert nexus.executor == "dask"
        assert result.status == RunStatus.SUCCEEDED and result.steps["a"].output["pid"] != os.getpid()
        assert client.status == "running"  # the Nexus closed; the client is still the caller's


# -- large outputs stay on the workers --------------------------------------------------------------------------


BIG = """
mission: big
steps:
  - {id: make, uses: dask.big, with: {n: 5000}}
  - {id: count, uses: dask.measure, with: {rows: "${{ steps.make.outputs }}"}}
outputs:
  count: "${{ steps.count.outputs.count }}"
"""


def test_a_large_output_stays_on_the_workers_and_reaches_the_next_step_there(workspace: Path, address: str) -> None:
    from toolnexus.core.remote import is_remote

    (workspace / "toolnexus.toml").write_text('[dask]\nlarge_output = "10KiB"\n')
    with nexus_on(workspace, f"dask://{address}") as nexus:
        result = nexus.run(BIG)
        stored = nexus.store.get_run(result.run_id) if nexus.store is not None else None
        with distributed.Client(address, set_as_default=False) as client:
            datasets = client.list_datasets()
    assert result.status == RunStatus.SUCCEEDED, result.error
    made = result.steps["make"].output
    assert is_remote(made) and made["bytes"] >= 100_000  # 5,000 rows of ~22 bytes as JSON: the engine holds
    assert made["summary"]["length"] == 5000 and "row 0000000000000000" in made["summary"]["head"]  # a reference
    assert len(json_text(made)) < 2000  # what the state store and MLflow record of it: bounded
    assert stored is not None and is_remote(stored.steps["make"].output)
    counted = result.steps["count"].output
    assert counted["count"] == 5000 and counted["last"] == "row 0000000000004999"  # the whole value, on a worker
    assert result.outputs == {"count": 5000}
    assert made["$toolnexus_remote"] not in datasets  # let go of when the run ended


def test_an_expression_inside_a_kept_output_says_why_it_cannot(workspace: Path, address: str) -> None:
    (workspace / "toolnexus.toml").write_text('[dask]\nlarge_output = "10KiB"\n')
    with nexus_on(workspace, f"dask://{address}") as nexus:
        result = nexus.run(BIG.replace("${{ steps.make.outputs }}", "${{ steps.make.outputs[1:3] }}"))
    error = result.steps["count"].error
    assert error is not None and error.kind == ErrorKind.EXPRESSION
    assert "kept on the Dask workers" in error.message and "large_output" in error.message


def test_small_outputs_come_back_as_they_are(workspace: Path, address: str) -> None:
    with nexus_on(workspace, f"dask://{address}") as nexus:  # the default large_output: 1 MiB
        result = nexus.run(BIG)
    assert result.steps["make"].output[:2] == ["row 0000000000000000", "row 0000000000000001"]


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)


# -- budgets, caching, retries and foreach: as with the local executor -------------------------------------------


PROMISES = """
mission: promises
budget: {max_cost: 0.5}
steps:
  - id: each
    uses: dask.where
    foreach: [a, b, c]
    with: {label: "${{ item }}"}
  - {id: cached, uses: test.echo, with: {value: same}, cache: true}
  - id: flaky
    uses: test.flaky
    with: {marker: MARKER, fail_times: 1}
    retry: {attempts: 2, delay: 0.01}
  - {id: pay1, uses: test.costly, with: {label: one}}
  - {id: pay2, uses: test.costly, with: {label: two}, needs: pay1}
  - {id: pay3, uses: test.costly, with: {label: three}, needs: pay2}
"""


def promises(workspace: Path, executor: str, tag: str) -> tuple[tn.RunResult, tn.RunResult]:
    mission = PROMISES.replace("MARKER", str(workspace / f"flaky-{tag}"))
    with nexus_on(workspace / tag, executor) as nexus:
        return nexus.run(mission), nexus.run(mission)


def test_budgets_caching_retries_and_foreach_keep_their_promises_on_dask(workspace: Path, address: str) -> None:
    (workspace / "local").mkdir()
    (workspace / "dask").mkdir()
    local = promises(workspace, "local", "local")
    remote = promises(workspace, f"dask://{address}", "dask")
    for first, second in (local, remote):
        assert first.steps["each"].items == 3 and first.steps["flaky"].attempts == 2
        assert [first.steps[s].status.value for s in ("pay1", "pay2", "pay3")] == ["succeeded", "succeeded", "failed"]
        assert first.steps["pay3"].error is not None and first.steps["pay3"].error.kind == ErrorKind.BUDGET_EXCEEDED
        assert second.steps["cached"].cached and not first.steps["cached"].cached
    assert comparable(remote[0]) == comparable(local[0]) | {"steps": comparable(remote[0])["steps"]}
    strip = {"each"}  # (its outputs name the process that ran each item: this one, or a worker)
    assert {k: v for k, v in comparable(remote[0])["steps"].items() if k not in strip} == \
        {k: v for k, v in comparable(local[0])["steps"].items() if k not in strip}
    assert all(item["pid"] != os.getpid() for item in remote[0].steps["each"].output)
