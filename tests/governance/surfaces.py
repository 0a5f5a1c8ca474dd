"""The effect × mode matrix of the surface tests: one governed workspace per surface, whose policy has a rule per
effect (allow, deny, approve) and mode (observe, warn, enforce), each matching one argument prefix — so every case
is a call on the same tool, and no reload is needed between cases.

What each case must do on every surface (python, a mission step, the CLI, MCP over stdio and over the Jupyter
endpoint) is :func:`expected`; :func:`check_case` asserts it on what a surface observed, and on what the state
store recorded (the audit log's decision, the ``calls`` table).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp.client.stdio import StdioServerParameters

from tests.conftest import REPO
from toolnexus.engine.invoke import WARNING_ATTR
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.governance.audit.log import AuditLog
from toolnexus.store.approvals import ApprovalRecord
from toolnexus.store.sqlite import StateStore

EFFECTS = ("allow", "deny", "approve")
MODES = ("observe", "warn", "enforce")
CASES = [(effect, mode) for effect in EFFECTS for mode in MODES]
# Every case but an enforced approve runs to its end; that one parks the call (see the approval tests).
PROMPT = [case for case in CASES if case != ("approve", "enforce")]
PROCESS_TIMEOUT = 120
# The tool every case calls, and the argument its rules look at: a built-in tool served on every surface.
TOOL, ARGUMENT = "text.render", "template"


def case_id(case: tuple[str, str]) -> str:
    """``deny-warn``: the case's rule id, and the prefix of the argument its rule matches."""
    return "-".join(case)


def step_of(case: tuple[str, str]) -> str:
    """The id of ``case``'s step in the surfaces' mission."""
    return case_id(case).replace("-", "_")


def value_of(case: tuple[str, str], surface: str) -> str:
    """The argument value of ``case``'s call on ``surface`` (distinct per surface and case)."""
    return f"{case_id(case)} {surface}"


def governed(workspace: Path, tool: str = TOOL, argument: str = ARGUMENT) -> Path:
    """``workspace`` with a policy of one rule per effect × mode on ``tool``, matching values of ``argument`` that
    start with the case's id; approvals wait up to two minutes."""
    (workspace / "policies").mkdir(parents=True, exist_ok=True)
    (workspace / "toolnexus.toml").write_text(
        '[governance]\npolicies = ["policies/*.yaml"]\napproval_timeout = "2m"\n[tracking]\nenabled = false\n')
    rules = ["rules:"]
    for effect, mode in CASES:
        rule = case_id((effect, mode))
        rules += [f"  - id: {rule}", f"    effect: {effect}", f"    mode: {mode}", f"    tools: {tool}",
                  f"    when: {{{argument}: {{startswith: {rule}}}}}", f"    reason: the {effect} rule in {mode} mode"]
    (workspace / "policies" / "surfaces.yaml").write_text("\n".join(rules) + "\n")
    return workspace


def process_env(*paths: Path) -> dict[str, str]:
    """The environment of a toolnexus process: no TOOLNEXUS_/MLFLOW_ variables leaking in, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLNEXUS_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), str(REPO)])
    return env


def toolnexus(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``toolnexus ARGS`` in a process of its own, in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "toolnexus.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT, check=False, env=process_env())


@dataclass
class Seen:
    """What a caller saw of one call: whether it ran, its output or error, and what it was told besides."""

    ran: bool
    output: Any = None
    error: str = ""  # the refusal as the surface shows it
    rule: str | None = None  # the rule the surface names for a refusal
    told: list[str] = field(default_factory=list)  # warnings the surface gave the caller


@dataclass
class Recorded:
    """What the state store holds of a surface's calls, by argument value."""

    decisions: dict[str, list[dict[str, Any]]]  # the audit log's decision records of each call
    calls: dict[str, dict[str, Any]]  # the ``calls`` table's row of each direct call that finished
    steps: dict[str, str]  # the status of each mission step (by step id), from the ``steps`` table
    tickets: dict[str, ApprovalRecord]


def recorded(workspace: Path, argument: str = ARGUMENT) -> Recorded:
    """Read the workspace's state store (after the processes that wrote it flushed or closed)."""
    store = StateStore(workspace / ".toolnexus" / "state.db")
    try:
        decisions: dict[str, list[dict[str, Any]]] = {}
        for row in AuditLog(store).report(kind="decision"):
            body = json.loads(row.body)
            value = body["arguments"].get(argument)
            decisions.setdefault(value, []).append({"kind": row.kind, **body})
        tickets = {t.arguments.get(argument): t for t in ApprovalQueue(store).list()}
        steps = {step: record.status.value for run in store.list_runs(limit=1000)
                 for step, record in store.steps(run.run_id).items()}
    finally:
        store.close()
    with sqlite3.connect(workspace / ".toolnexus" / "state.db") as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM calls")]
    calls = {json.loads(r["arguments"]).get(argument): r for r in rows}
    return Recorded(decisions, calls, steps, tickets)


def expected(case: tuple[str, str]) -> str:
    """What ``case`` does: ``runs`` (as with no rule), ``warns`` (runs, the caller told), ``refused``."""
    effect, mode = case
    if effect == "allow" or mode == "observe":
        return "runs"
    return "warns" if mode == "warn" else "refused"


def check_case(case: tuple[str, str], seen: Seen, record: Recorded, value: str, surface: str) -> None:
    """Assert what ``case`` must do on a surface (``seen``) and in the record, for the call with ``value``."""
    rule, behaviour = case_id(case), expected(case)
    effect, mode = case
    [decision] = record.decisions[value]
    said = decision["decision"]
    assert decision["surface"] == surface, decision
    if behaviour == "refused":
        assert not seen.ran and "the deny rule in enforce mode" in seen.error and seen.rule == rule, seen
        assert (decision["kind"], said["policy"], said["mode"]) == ("decision.deny", rule, "enforce")
        return
    assert seen.ran and seen.output == output_of(value), seen
    assert decision["kind"] == "decision.allow", decision
    assert value not in record.tickets  # parked nowhere
    if decision["step_id"]:  # a mission step: the run's record has it succeeded
        assert record.steps[decision["step_id"]] == "succeeded", record.steps
    else:  # a direct call: the calls table has its result
        assert json.loads(record.calls[value]["result"])["output"] == output_of(value), record.calls[value]
    if effect == "allow":  # nothing stricter than allow: nothing to say, nothing told
        assert "would" not in said and not seen.told, (said, seen)
        return
    would = "deny" if effect == "deny" else "wait"
    assert (said["policy"], said["mode"], said["would"]) == (rule, mode, would), said
    if behaviour == "warns":
        assert said["warning"].startswith(f"policy rule {rule} (warn) would have"), said
        assert any(said["warning"] in told for told in seen.told), seen.told
    else:  # observe: exactly as without the rule — the caller is told nothing
        assert "warning" not in said and not seen.told, (said, seen)


def requested(workspace: Path, value: str, *, alive: Callable[[], bool], argument: str = ARGUMENT,
              within: float = 60.0) -> ApprovalRecord:
    """The open approval ticket of the call with ``value``, once it is in the store (fails if ``alive`` says the
    caller ended first)."""
    store = StateStore(workspace / ".toolnexus" / "state.db")
    try:
        queue = ApprovalQueue(store)
        deadline = time.monotonic() + within
        while True:
            found = [t for t in queue.list("requested") if t.arguments.get(argument) == value]
            if found:
                return found[0]
            if not alive():
                pytest.fail(f"the call with {value!r} ended without asking for an approval")
            if time.monotonic() > deadline:
                pytest.fail(f"no approval was requested for {value!r} within {within:.0f}s")
            time.sleep(0.02)  # between two looks at the store; the ticket, not the pause, is what is awaited
    finally:
        store.close()


# -- what a surface shows ------------------------------------------------------------------------------------


def output_of(value: str) -> dict[str, str]:
    """text.render's output for a template with no placeholders: the text itself."""
    return {"text": value}


def told_of(case: tuple[str, str], warnings: list[str]) -> list[str]:
    """The warnings among ``warnings`` that are about ``case``'s rule."""
    return [w for w in warnings if f"policy rule {case_id(case)} " in w]


class Warnings(logging.Handler):
    """The governance warnings told to Python callers (WARNING records carrying one)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the warning of a record that carries one."""
        if isinstance(warning := getattr(record, WARNING_ATTR, None), str):
            self.seen.append(warning)


def mission(surface: str) -> str:
    """A mission of one step per case but the enforced approve (a refused step lets the run go on); its outputs
    are each step's status, output and error (what an MCP client of the mission sees)."""
    steps = "".join(f"  - id: {step_of(c)}\n    uses: {TOOL}\n"
                    f"    with: {{{ARGUMENT}: \"{value_of(c, surface)}\"}}\n    continue_on_error: true\n"
                    for c in PROMPT)
    outputs = "".join(f"  {step_of(c)}: {{status: \"${{{{ steps.{step_of(c)}.status }}}}\", "
                      f"output: \"${{{{ steps.{step_of(c)}.outputs }}}}\", "
                      f"error: \"${{{{ steps.{step_of(c)}.error }}}}\"}}\n" for c in PROMPT)
    return f"mission: surfaces\nsteps:\n{steps}outputs:\n{outputs}"


def stdio_server(workspace: Path) -> StdioServerParameters:
    """``toolnexus mcp serve --stdio`` on ``workspace``."""
    return StdioServerParameters(command=sys.executable, args=["-m", "toolnexus.cli", "mcp", "serve", "--stdio",
                                                               "-w", str(workspace)],
                                 env=process_env(), cwd=str(workspace))


def mcp_seen(result: Any, logs: list[str]) -> Seen:
    """What an MCP client saw of a call: its result (structured), the warnings of its ``_meta`` and logs."""
    meta = result.meta or {}
    if result.is_error:
        error = result.structured_content["error"]
        return Seen(ran=False, error=result.content[0].text, rule=error["details"].get("policy"))
    return Seen(ran=True, output=result.structured_content, told=[*meta.get("toolnexus/warnings", []), *logs])
