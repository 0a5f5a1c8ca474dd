"""``run``, ``validate``, ``plan`` and ``call``: missions and single tool calls."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape as esc
from rich.table import Table

from toolnexus.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_USAGE,
    Workspace,
    add_row,
    app,
    err,
    guarded,
    json_value,
    leave,
    out,
    parse_pairs,
    print_result,
    settle_quickly,
    with_signals,
)

# The Nexus (and the engine, governance, registry and sandbox it wires) is imported by each command as it runs:
# ``toolnexus --help`` imports this module to list the commands, and must not pay for it.
if TYPE_CHECKING:
    from toolnexus.core.errors import ToolError
    from toolnexus.core.run import RunResult
    from toolnexus.mission.plan import Plan, PlanStep

# A correlation id to record the call or run under (what ties it to the work of another system, say a ticket).
CorrelationId = Annotated[str | None, typer.Option("--correlation-id", help="record the call or run under this "
                                                   "correlation id (default: its own id)")]


@app.command()
@guarded
def run(
    file: Annotated[Path | None, typer.Argument(help="mission YAML file")] = None,
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="mission input key=value")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the RunResult as JSON")] = False,
    resume: Annotated[str | None, typer.Option("--resume", help="resume a failed or cancelled run by id")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show step progress")] = True,
    concurrency: Annotated[int | None, typer.Option(help="override the mission's concurrency")] = None,
    executor: Annotated[str | None, typer.Option(
        help="what runs the steps' calls: local, dask (a local Dask cluster for this run) or dask://host:8786 "
             "(a running Dask cluster); default: the executor setting")] = None,
    correlation_id: CorrelationId = None,
    workspace: Workspace = None,
) -> None:
    """Run a mission (or resume one) and print its outputs."""
    import anyio

    from toolnexus.api import Nexus
    from toolnexus.cli.progress import ProgressView
    from toolnexus.core.caller import Surface
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.core.run import RunStatus
    from toolnexus.engine import RunControl

    if file is None and resume is None:
        raise DiagnosticError([Diagnostic(message="give a mission file, or --resume RUN_ID")])
    given = parse_pairs(inputs or [], "-i")
    with Nexus(workspace, overrides={"concurrency": concurrency}, surface=Surface.CLI, executor=executor) as nexus:
        if progress:
            nexus.bus.subscribe(ProgressView(err))
        control = RunControl()
        result: RunResult = anyio.run(
            with_signals,
            control,
            lambda: nexus.arun(file or "", given, control=control, resume=resume, inputs_from_text=True,
                               correlation_id=correlation_id),
        )
        if result.status == RunStatus.CANCELLED:
            settle_quickly(nexus)
    print_result(result, as_json)
    if result.status == RunStatus.CANCELLED:
        leave(EXIT_CANCELLED)
    leave(EXIT_FAILED if result.status != RunStatus.SUCCEEDED else 0)


@app.command()
@guarded
def validate(
    files: Annotated[list[Path], typer.Argument(help="mission YAML files")],
    workspace: Workspace = None,
) -> None:
    """Check missions without running them: every problem, with file:line:column."""
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    problems: list[Diagnostic] = []
    with Nexus(workspace, store=False) as nexus:
        for file in files:
            try:
                plan = nexus.compile(nexus.load(file))
            except DiagnosticError as exc:
                problems.extend(exc.diagnostics)
                continue
            count = len(plan.steps)
            err.print(f"[green]ok[/] {esc(str(file))}: {count} step{'s' if count != 1 else ''}, plan {plan.hash}")
    if problems:
        raise DiagnosticError(problems)


@app.command()
@guarded
def plan(
    file: Annotated[Path, typer.Argument(help="mission YAML file")],
    dot: Annotated[str | None, typer.Option(help="write the DAG as Graphviz DOT to this file ('-' for stdout)")] = None,
    mermaid: Annotated[str | None, typer.Option(help="write the DAG as Mermaid to this file ('-' for stdout)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the compiled plan as JSON")] = False,
    workspace: Workspace = None,
) -> None:
    """Show exactly what a mission will run: steps in order, dependencies, runtimes and tools."""
    from toolnexus.api import Nexus

    with Nexus(workspace, store=False) as nexus:
        compiled = nexus.compile(nexus.load(file))
    _write_graphs(compiled, dot, mermaid)
    if as_json:
        sys.stdout.write(compiled.to_json() + "\n")
    if dot == "-" or mermaid == "-" or as_json:
        return  # stdout carries a graph or the JSON: no table in between
    out.print(_plan_table(compiled))


def _write_graphs(compiled: Plan, dot: str | None, mermaid: str | None) -> None:
    """Write the DAG as DOT and as Mermaid where asked: to a file, or to stdout for ``-``."""
    for target, text in ((dot, compiled.to_dot), (mermaid, compiled.to_mermaid)):
        if target == "-":
            sys.stdout.write(text())
        elif target:
            Path(target).write_text(text(), encoding="utf-8")
            err.print(f"wrote {target}")


def _plan_table(compiled: Plan) -> Table:
    """The steps in the order they run, one row each."""
    table = Table(title=f"{compiled.mission} — plan {compiled.hash}", show_lines=False)
    for column in ("#", "step", "tool", "runtime", "needs", "notes"):
        table.add_column(column)
    for index, step in enumerate(compiled.steps, 1):
        add_row(
            table,
            str(index),
            step.id,
            f"{step.tool}@{step.version}",
            step.runtime,
            ", ".join(step.needs),
            "; ".join(_step_notes(step)),
        )
    return table


def _step_notes(step: PlanStep) -> list[str]:
    """What else shapes how a step runs: its condition, fan-out, retries, timeout and cache."""
    from toolnexus.core.units import format_duration

    notes = []
    if step.if_ is not None:
        notes.append(f"if {step.if_}")
    if step.foreach is not None:
        notes.append("foreach")
    if step.retry:
        notes.append(f"retry ×{step.retry.attempts}")
    if step.timeout:
        notes.append(f"timeout {format_duration(step.timeout)}")
    if step.cache:
        notes.append("cached")
    return notes


@app.command("call")
@guarded
def call_tool(
    name: Annotated[str, typer.Argument(help="tool name, optionally name@version")],
    args: Annotated[
        list[str] | None, typer.Option("--arg", "-a", help="argument key=value (JSON values parsed)")
    ] = None,
    args_json: Annotated[str | None, typer.Option("--args", help="all arguments as a JSON object")] = None,
    runtime: Annotated[str | None, typer.Option(help="run in this runtime instead of the tool's own")] = None,
    correlation_id: CorrelationId = None,
    workspace: Workspace = None,
) -> None:
    """Call one tool through the same path as a mission step and print its output as JSON."""
    import anyio

    from toolnexus.api import Nexus
    from toolnexus.core.caller import Surface
    from toolnexus.engine import RunControl

    arguments = _json_arguments(args_json) if args_json is not None else {}
    arguments.update({k: json_value(v) for k, v in parse_pairs(args or [], "--arg").items()})
    with Nexus(workspace, surface=Surface.CLI) as nexus:
        control = RunControl()

        async def work() -> Any:
            with anyio.CancelScope() as scope:
                control._attach(scope)
                return await nexus.acall(name, arguments, runtime=runtime, correlation_id=correlation_id)
            return None

        result = anyio.run(with_signals, control, work)
        if result is None:
            settle_quickly(nexus)
    if result is None:
        err.print("[yellow]cancelled[/]")
        leave(EXIT_CANCELLED)
    if result.error is not None:
        _fail_with(result.error)
    sys.stdout.write(json.dumps(result.output, indent=2, default=str) + "\n")
    leave(0)


def _json_arguments(text: str) -> dict[str, Any]:
    """The arguments given with ``--args``: a JSON object."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DiagnosticError([Diagnostic(message=f"--args is not valid JSON: {exc.msg} at char {exc.pos}")]) from None
    if not isinstance(parsed, dict):
        raise DiagnosticError([Diagnostic(message="--args must be a JSON object")])
    return parsed


def _rule_of(error: ToolError) -> str:
    """`` (rule R)`` for a call a policy rule refused, when its message does not name the rule already (a rule's
    ``reason`` is told as it is written). Other deciders' ids (``kill:…``, ``flag:…``) name their cause in the
    message."""
    from toolnexus.core.errors import ErrorKind

    rule = error.details.get("policy")
    if error.kind not in (ErrorKind.DENIED, ErrorKind.APPROVAL_EXPIRED) or not isinstance(rule, str) \
            or ":" in rule or rule in error.message:
        return ""
    return f" (rule {rule})"


def _fail_with(error: ToolError) -> NoReturn:
    """Print a failed call's error (and every further argument problem) and leave: a usage error for
    bad arguments or an unknown tool, a failure otherwise."""
    from toolnexus.core.errors import ErrorKind

    err.print(f"[red]error[/]: {esc(str(error))}{esc(_rule_of(error))}")
    for problem in error.details.get("errors", [])[1:]:
        err.print(f"  at {esc(problem['path'])}: {esc(problem['message'])}")
    usage = error.kind == ErrorKind.INVALID_ARGUMENTS or error.details.get("unknown_tool")
    leave(EXIT_USAGE if usage else EXIT_FAILED)
