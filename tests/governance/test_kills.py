"""Kill switches: a switch set by another process refuses new calls here and stops the running ones (their
worker processes killed); lifting it restores them; namespace, tenant, glob and all scopes; a cached result
is not served for a killed tool; every switch set or lifted is announced."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import toolnexus as tn
from tests.conftest import console_script
from tests.engine.support import Recorder, assert_gone, await_until, descendants, read_pids
from toolnexus.core.caller import Caller
from toolnexus.core.decision import Verdict
from toolnexus.core.events import GateDecided, GovernanceChanged
from toolnexus.governance.kills import DECIDER, KillSwitches

pytestmark = pytest.mark.anyio


@pytest.fixture
def switches(enx: tn.Nexus) -> Iterator[KillSwitches]:
    """The kill switches of the test Nexus's store, plugged into its governance (in place of the workspace's
    own, if it has them), watching running calls."""
    assert enx.store is not None
    switches = KillSwitches(enx.store, enx.bus, in_flight=enx.invoker.in_flight).watch()
    checks = enx.governance.checks
    checks[:] = [c for c in checks if not isinstance(c, KillSwitches)] + [switches]
    yield switches
    switches.close()


async def toolnexus_cli(workspace: Path, *args: str) -> str:
    """Run ``toolnexus ARGS`` in a second process on the same workspace; its stderr."""
    done = await anyio.run_process([console_script("toolnexus"), *args, "--workspace", str(workspace)], check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def killed(result: tn.ToolResult) -> bool:
    return result.error is not None and result.error.kind == tn.ErrorKind.DENIED


async def test_a_kill_from_another_process_refuses_new_calls_until_it_is_lifted(
        enx: tn.Nexus, switches: KillSwitches, events: Recorder, workspace: Path) -> None:
    assert (await enx.acall("test.count", text="a b")).ok

    await toolnexus_cli(workspace, "kill", "test.count", "--reason", "counts are wrong")

    refused: list[tn.ToolResult] = []

    async def refusing() -> bool:
        refused.append(await enx.acall("test.count", text="a b"))
        return killed(refused[-1])

    await await_until_async(refusing, what="the kill switch to refuse test.count")
    error = refused[-1].error
    assert error is not None and "counts are wrong" in error.message and "test.count" in error.message
    decision = [e for e in events.of("gate_decided") if isinstance(e, GateDecided)][-1].decision
    assert (decision.verdict, decision.decider, decision.policy) == (Verdict.DENY, DECIDER, "kill:tool:test.count")
    assert (await enx.acall("test.echo", value="other tools run")).ok

    await toolnexus_cli(workspace, "unkill", "test.count")

    async def allowed() -> bool:
        return (await enx.acall("test.count", text="a b")).ok

    await await_until_async(allowed, what="the lifted switch to let test.count run")


async def await_until_async(condition, within: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Like ``await_until``, for a condition that is itself a coroutine (a call)."""
    deadline = anyio.current_time() + within
    while not await condition():
        if anyio.current_time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await anyio.sleep(0.02)


async def test_a_kill_stops_a_running_process_call_and_leaves_no_process(
        enx: tn.Nexus, switches: KillSwitches, workspace: Path) -> None:
    pidfile = workspace / "spawn.pids"
    box: dict[str, tn.ToolResult] = {}
    before = descendants()

    async def run() -> None:
        box["result"] = await enx.acall("test.spawn_and_wait", pidfile=str(pidfile), seconds=120)

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await await_until(lambda: read_pids(pidfile), within=30, what="the tool to write its pids")
        pids = sorted(descendants() - before)  # the worker and the child it started
        await toolnexus_cli(workspace, "kill", "test.spawn_and_wait", "--reason", "runaway")
    result = box["result"]
    assert killed(result), result
    assert result.error is not None and "runaway" in result.error.message
    assert len(pids) >= 2
    assert_gone(pids)
    assert len(enx.invoker.in_flight) == 0


async def test_a_namespace_switch_stops_the_namespace_only(enx: tn.Nexus, switches: KillSwitches,
                                                           workspace: Path) -> None:
    switches.kill("namespace", "test", "maintenance", "ops")
    assert killed(await enx.acall("test.echo", value="x"))
    assert (await enx.acall("eng.mark", marker="m")).ok
    assert [s.target for s in switches.unkill("test", "ops")] == ["test"]
    assert (await enx.acall("test.echo", value="x")).ok


async def test_a_glob_switch_stops_the_tools_it_matches(enx: tn.Nexus, switches: KillSwitches) -> None:
    switches.kill("tool", "test.e*", "echo is noisy", "ops")
    assert killed(await enx.acall("test.echo", value="x"))
    assert (await enx.acall("test.count", text="x")).ok


async def test_the_all_switch_stops_everything_until_lifted(enx: tn.Nexus, switches: KillSwitches) -> None:
    switches.kill("all", "", "incident 42", "ops")
    result = await enx.acall("eng.mark", marker="m")
    assert killed(result) and result.error is not None and "every tool" in result.error.message
    switches.unkill("*", "ops", "all")
    assert (await enx.acall("eng.mark", marker="m")).ok


async def test_a_tenant_switch_stops_that_tenants_calls(enx: tn.Nexus, switches: KillSwitches) -> None:
    switches.kill("tenant", "acme", "unpaid", "billing")
    acme = Caller(principal="ann", tenant="acme")
    other = Caller(principal="bob", tenant="globex")
    assert killed(await enx.acall("test.echo", {"value": "x"}, caller=acme))
    assert (await enx.acall("test.echo", {"value": "x"}, caller=other)).ok
    assert (await enx.acall("test.echo", value="x")).ok  # no tenant: not this one's
    switches.tenant = "acme"  # the workspace's tenant ([governance] tenant) for calls that name none
    assert killed(await enx.acall("test.echo", value="x"))


async def test_a_killed_tool_is_not_served_from_the_cache(enx: tn.Nexus, switches: KillSwitches) -> None:
    mission = """
mission: cached
steps:
  - id: say
    uses: test.echo
    with: {value: hi}
    cache: true
"""
    assert (await enx.arun(mission)).status == tn.RunStatus.SUCCEEDED
    switches.kill("tool", "test.echo", "bad output", "ops")
    result = await enx.arun(mission)
    assert result.status == tn.RunStatus.FAILED
    error = result.steps["say"].error
    assert error is not None and error.kind == tn.ErrorKind.DENIED and "bad output" in error.message


async def test_setting_and_lifting_a_switch_is_announced(enx: tn.Nexus, switches: KillSwitches,
                                                         events: Recorder) -> None:
    first = switches.kill("tool", "test.echo", "why not", "ann")
    again = switches.kill("tool", "test.echo", "another reason", "bob")
    assert again == first  # one switch per target: the first reason stands
    switches.unkill("test.echo", "carl")
    changes = [e for e in events.of("governance_changed") if isinstance(e, GovernanceChanged)]
    assert [(e.action, e.target, e.by, e.reason) for e in changes] == [
        ("kill", "test.echo", "ann", "why not"), ("unkill", "test.echo", "carl", "why not")]
    assert switches.active() == []


def test_a_switch_needs_a_reason_and_a_known_scope(enx: tn.Nexus) -> None:
    assert enx.store is not None
    switches = KillSwitches(enx.store)
    with pytest.raises(ValueError, match="reason"):
        switches.kill("tool", "x", " ", "ann")
    with pytest.raises(ValueError, match="scope"):
        switches.kill("planet", "x", "why", "ann")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target"):
        switches.kill("tool", "", "why", "ann")


async def test_a_kill_stops_a_running_in_process_step_with_a_deadline(enx: tn.Nexus, switches: KillSwitches) -> None:
    mission = """
mission: waiting
steps:
  - id: wait
    uses: eng.wait_file
    with: {path: never.txt, timeout: 120}
    timeout: 300s
"""
    box: dict[str, tn.RunResult] = {}

    async def run() -> None:
        box["result"] = await enx.arun(mission)

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await await_until(lambda: any(f.tool == "eng.wait_file" for f in enx.invoker.in_flight.calls()),
                          what="the step to be in flight")
        switches.kill("tool", "eng.wait_file", "stuck", "ops")  # from the call's own event loop
    error = box["result"].steps["wait"].error
    assert error is not None and error.kind == tn.ErrorKind.DENIED and "stuck" in error.message


async def test_listeners_hear_of_a_switch_set_in_another_process_while_nothing_runs(
        enx: tn.Nexus, switches: KillSwitches, workspace: Path) -> None:
    heard = threading.Event()
    unsubscribe = switches.subscribe(heard.set)
    assert switches.stopping("test.echo") is None

    await toolnexus_cli(workspace, "kill", "test", "--scope", "namespace", "--reason", "listing changes")

    await await_until(heard.is_set, what="the listener to hear of the switch")
    record = switches.stopping("test.echo")
    assert record is not None and (record.scope, record.target) == ("namespace", "test")
    assert switches.stopping("eng.mark") is None
    unsubscribe()
