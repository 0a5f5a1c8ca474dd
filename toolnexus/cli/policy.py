"""``toolnexus policy``: check, explain, test and replay governance policies (issue 16)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from toolnexus.cli.common import (
    EXIT_FAILED,
    Workspace,
    add_row,
    app,
    err,
    guarded,
    json_value,
    out,
    parse_pairs,
    since_time,
)
from toolnexus.core.surface import Surface

# toolnexus's own modules are imported by the commands that use them: ``toolnexus --help`` imports this module
# to list its commands, and must not pay for the Nexus, governance or the store.
if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.core.decision import Decision, Verdict
    from toolnexus.core.spec import ToolSpec
    from toolnexus.governance.plan import CallPlan
    from toolnexus.governance.policy import Policy, Verdicts
    from toolnexus.governance.policy.cases import CaseResult
    from toolnexus.governance.policy.observed import Would
    from toolnexus.governance.policy.replay import Replay

policy_app = typer.Typer(no_args_is_help=True, help="Check, explain, test and replay governance policies.")
app.add_typer(policy_app, name="policy")

PolicyOption = Annotated[list[Path] | None, typer.Option(
    "--policy", "-p", help="policy file to use (repeatable; default: the workspace's [governance] policies)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
FlagOption = Annotated[list[str] | None, typer.Option(
    "--flag", help="take this rollout flag as on (repeatable); the others are as the workspace's flags say")]
SinceOption = Annotated[str, typer.Option(help="how far back: a duration such as 7d, 12h, 30m, or `all`")]


def _verdict_words() -> dict[Verdict, str]:
    """Each verdict in the words of a tally, in the order tallies list them."""
    from toolnexus.core.decision import Verdict

    return {Verdict.ALLOW: "allowed", Verdict.DENY: "denied", Verdict.WAIT: "sent for approval"}


@contextmanager
def _nexus(workspace: Path | None, *, store: bool = False) -> Iterator[Nexus]:
    from toolnexus.api import Nexus

    with Nexus(workspace, store=store) as nexus:
        yield nexus


def _write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _policy(nexus: Nexus, files: Sequence[Path] | None) -> Policy:
    """The policy of ``files``, else of the workspace's ``[governance] policies``."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.governance.policy import load_policy, policy_files

    governance = nexus.settings.governance
    paths = list(files or policy_files(governance.policies, nexus.workspace))
    if not paths:
        raise DiagnosticError([Diagnostic(message="no policy files: the workspace names none",
                                          hint="pass --policy FILE, or set `policies = [\"policies/*.yaml\"]` "
                                               "under [governance] in toolnexus.toml")])
    return load_policy(paths, governance.mode)


def _spec_of(nexus: Nexus) -> Callable[[str], ToolSpec | None]:
    from toolnexus.registry.registry import ToolNotFound

    def spec_of(name: str) -> ToolSpec | None:
        try:
            return nexus.registry.get(name)
        except ToolNotFound:
            return None
    return spec_of


def _rule_column(table: Table, policy: Policy) -> None:
    # Rule ids are what a user greps for in the policy file: never cut them.
    table.add_column("rule", no_wrap=True, min_width=max((len(r.id) for r in policy.rules), default=4))


def _decision_line(decision: Decision) -> Text:
    from toolnexus.core.decision import Verdict

    style = {Verdict.ALLOW: "green", Verdict.DENY: "red", Verdict.WAIT: "yellow"}[decision.verdict]
    text = Text.assemble((decision.verdict.value, f"bold {style}"))
    if decision.policy:
        text.append(f" by rule {decision.policy} ({decision.mode})")
    if decision.would is not None:
        text.append(f", would {decision.would.value}")
    return text.append(f": {decision.reason}")


@policy_app.command("check")
@guarded
def policy_check(
    files: Annotated[list[Path] | None, typer.Argument(help="policy files (default: the workspace's)")] = None,
    workspace: Workspace = None,
) -> None:
    """Load policy files and check their argument conditions against the workspace's tools (exit 2 on errors)."""
    from toolnexus.core.diagnostics import DiagnosticError

    with _nexus(workspace) as nexus:
        policy = _policy(nexus, files)
        problems = policy.check_against(nexus.registry.list())
    if problems:
        raise DiagnosticError(problems)
    out.print(f"ok: {len(policy)} rules in {len(policy.files)} file(s), policy version {policy.version[:19]}")


@policy_app.command("explain")
@guarded
def policy_explain(
    tool: Annotated[str, typer.Argument(help="the tool called")],
    arg: Annotated[list[str] | None, typer.Option("--arg", "-a", help="an argument, key=value (JSON values parsed)")]
    = None,
    principal: Annotated[str | None, typer.Option(help="who calls (default: you)")] = None,
    tenant: Annotated[str | None, typer.Option(help="for which tenant")] = None,
    surface: Annotated[Surface, typer.Option(help="through what")] = Surface.CLI,
    runtime: Annotated[str | None, typer.Option(help="the runtime asked for")] = None,
    mission: Annotated[str | None, typer.Option(help="the mission the call is a step of")] = None,
    flag: FlagOption = None,
    policy_file: PolicyOption = None,
    as_json: JsonOption = False,
    workspace: Workspace = None,
) -> None:
    """Which rule decides a call of TOOL, and what every rule says about it."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.governance.policy import Facts
    from toolnexus.governance.policy.cases import CaseCaller, call_plan
    from toolnexus.governance.policy.rule import flag_of

    arguments = {k: json_value(v) for k, v in parse_pairs(arg or [], "--arg").items()}
    with _nexus(workspace) as nexus:
        policy = _policy(nexus, policy_file)
        spec = _spec_of(nexus)(tool)
        if spec is None:
            raise DiagnosticError([Diagnostic(message=f"no tool named {tool!r}", hint="see `toolnexus tools list`")])
        plan = call_plan(spec, arguments, CaseCaller(principal=principal, tenant=tenant, surface=surface), runtime,
                         nexus.governance.floor)
        facts = Facts.of(plan, mission=mission, tenant=nexus.settings.governance.tenant,
                         flag=flag_of(_flags(nexus, flag), plan))
    decision = policy.decide_facts(facts)
    if as_json:
        _write_json(_explanation_json(decision, policy.explain(facts)))
    else:
        _print_explanation(f"{tool} {json.dumps(arguments, default=str)}", policy, decision, policy.explain(facts))


def _explanation_json(decision: Decision, verdicts: list[Verdicts]) -> dict[str, Any]:
    return {"decision": decision.model_dump(mode="json"), "rules": [
        {"id": v.rule.id, "effect": v.rule.effect.value, "mode": v.rule.mode.value, "matched": v.matched,
         "why": v.rule.summary() if v.matched else v.mismatch, "where": v.rule.where()} for v in verdicts]}


def _print_explanation(title: str, policy: Policy, decision: Decision, verdicts: list[Verdicts]) -> None:
    table = Table(title=title)
    _rule_column(table, policy)
    for column in ("effect", "mode", "matches", "why"):
        table.add_column(column)
    table.add_column("where", overflow="fold")
    for v in verdicts:
        mark = Text("yes", style="bold") if v.matched else Text("no", style="dim")
        why = v.rule.summary() if v.matched else (v.mismatch or "")
        add_row(table, Text(v.rule.id, style="bold" if v.rule.id == decision.policy else ""), v.rule.effect.value,
                v.rule.mode.value, mark, why, v.rule.where())
    out.print(table)
    out.print(_decision_line(decision))


def _print_case(result: CaseResult) -> None:
    if result.passed:
        out.print(Text.assemble(("PASS", "green"), f" {result.title}: {result.decision.verdict.value}"))
        return
    out.print(Text.assemble(("FAIL", "bold red"), f" {result.title} (line {result.line}): "
                            + "; ".join(result.failures)))
    out.print(Text("  ").append(_decision_line(result.decision)))


@policy_app.command("test")
@guarded
def policy_test(
    file: Annotated[Path, typer.Argument(help="a YAML file of cases: tool, arguments, caller, expect")],
    flag: FlagOption = None,
    policy_file: PolicyOption = None,
    as_json: JsonOption = False,
    workspace: Workspace = None,
) -> None:
    """Decide each case of FILE with the policy and compare with what it expects (exit 1 on a failure: for CI)."""
    from toolnexus.governance.policy.cases import load_cases, run_cases

    cases, positions = load_cases(file)
    files = policy_file or ([file.parent / p for p in cases.policy] if cases.policy else None)
    with _nexus(workspace) as nexus:
        policy = _policy(nexus, files)
        results = run_cases(policy, cases, positions, _spec_of(nexus), tenant=nexus.settings.governance.tenant,
                            floor=nexus.governance.floor, flags=_flags(nexus, flag))
    failed = [r for r in results if not r.passed]
    if as_json:
        _write_json([{"case": r.title, "passed": r.passed, "failures": list(r.failures),
                      "decision": r.decision.model_dump(mode="json")} for r in results])
    else:
        for result in results:
            _print_case(result)
        err.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _replay_json(result: Replay) -> dict[str, Any]:
    return {
        "calls": result.calls, "partial": result.partial, "unknown_tools": dict(result.unknown),
        "as_written": {v.value: n for v, n in result.as_written.items()},
        "if_enforced": {v.value: n for v, n in result.enforced.items()},
        "rules": [{"id": rule.id, "effect": rule.effect.value, "mode": rule.mode.value,
                   "matched": result.rules[rule.id].matched,
                   "decided": {v.value: n for v, n in result.rules[rule.id].decided.items()},
                   "would": {v.value: n for v, n in result.rules[rule.id].would.items()}}
                  for rule in result.policy.rules],
    }


def _totals(counts: dict[Verdict, int]) -> str:
    return ", ".join(f"{counts.get(v, 0)} {word}" for v, word in _verdict_words().items())


def _replayed(workspace: Path | None, files: Sequence[Path] | None, since: str,
              flags: Sequence[str] | None = None) -> Replay:
    with _nexus(workspace, store=True) as nexus:
        return _replay_in(nexus, _policy(nexus, files), since, flags)


def _replay_in(nexus: Nexus, policy: Policy, since: str, flags: Sequence[str] | None = None) -> Replay:
    """``policy`` replayed over the calls ``nexus``'s store recorded ``since`` then (rollout flags as they are
    now, and ``flags`` on)."""
    from toolnexus.governance.policy.recorded import recorded_calls
    from toolnexus.governance.policy.replay import replay

    assert nexus.store is not None
    return replay(policy, recorded_calls(nexus.store, since_time(since)), _spec_of(nexus),
                  tenant=nexus.settings.governance.tenant, floor=nexus.governance.floor, flags=_flags(nexus, flags))


def _flags(nexus: Nexus, forced: Sequence[str] | None) -> Callable[[str, CallPlan], bool]:
    """Whether a rollout flag is on for a call: the ``forced`` ones are, the others as the workspace's flags say."""
    on = frozenset(forced or ())
    flags = nexus.governed.flags

    def flag(name: str, plan: CallPlan) -> bool:
        return name in on or (flags is not None and flags.enabled(name, plan))

    return flag


@policy_app.command("replay")
@guarded
def policy_replay(
    files: Annotated[list[Path], typer.Argument(help="the candidate policy files")],
    since: SinceOption = "7d",
    flag: FlagOption = None,
    as_json: JsonOption = False,
    workspace: Workspace = None,
) -> None:
    """Run a candidate policy over the calls the state store recorded: per rule, what it would have decided."""
    result = _replayed(workspace, files, since, flag)
    if as_json:
        _write_json(_replay_json(result))
        return
    table = Table(title=f"{result.calls} recorded calls replayed (every rule as if enforced)")
    _rule_column(table, result.policy)
    for column in ("effect", "mode", "matched", "allowed", "denied", "sent for approval"):
        table.add_column(column, justify="left" if column in ("effect", "mode") else "right")
    for rule in result.policy.rules:
        tally = result.rules[rule.id]
        add_row(table, rule.id, rule.effect.value, rule.mode.value, str(tally.matched),
                *(str(tally.decided.get(v, 0)) for v in _verdict_words()))
    out.print(table)
    out.print(f"as written (each rule in its mode): {_totals(result.as_written)}")
    out.print(f"if every rule were enforced: {_totals(result.enforced)}")
    _replay_notes(result)


def _replay_notes(result: Replay) -> None:
    if result.partial:
        err.print(f"note: {result.partial} mission step(s) had arguments computed at run time, which are not "
                  "recorded: conditions on those arguments did not hold in the replay")
    if result.unknown:
        err.print(f"note: tools no longer registered (decided by name only): {', '.join(sorted(result.unknown))}")


@policy_app.command("report")
@guarded
def policy_report(
    since: SinceOption = "7d",
    policy_file: PolicyOption = None,
    as_json: JsonOption = False,
    workspace: Workspace = None,
) -> None:
    """Would-deny and would-approve counts of the observe and warn rules, before anyone enforces them.

    Read from the decisions the audit log recorded; when it holds none for the period, worked out by
    replaying the policy over the calls the state store recorded.
    """
    rows, source, calls = _observed(workspace, policy_file, since)
    if as_json:
        _write_json({"source": source, "calls": calls, "rules": [
            {"id": w.rule, "mode": w.mode, "would_deny": w.deny, "would_approve": w.approve} for w in rows]})
        return
    table = Table(title=f"observe and warn rules over {calls} decisions ({source})")
    table.add_column("rule", no_wrap=True)
    for column in ("mode", "would deny", "would send for approval"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for w in rows:
        add_row(table, w.rule, w.mode, str(w.deny), str(w.approve))
    out.print(table)


def _observed(workspace: Path | None, files: Sequence[Path] | None, since: str) -> tuple[list[Would], str, int]:
    """The report's rows, where they come from, and over how many decisions."""
    from toolnexus.governance.policy.observed import audited, replayed, with_policy_rules

    with _nexus(workspace, store=True) as nexus:
        assert nexus.store is not None
        found = audited(nexus.store, since_time(since))
        configured = files or nexus.settings.governance.policies
        policy = _policy(nexus, files) if configured or found is None else None
        if found is not None:
            return with_policy_rules(found[1], policy), "audit log", found[0]
        assert policy is not None
        result = _replay_in(nexus, policy, since)
    _replay_notes(result)
    return with_policy_rules(replayed(result), policy), "replayed: the audit log holds no decisions", result.calls
