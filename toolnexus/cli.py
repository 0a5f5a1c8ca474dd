"""The ``toolnexus`` command line: run, validate and plan missions; call tools; read runs and config."""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

from toolnexus.api import Nexus
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.errors import ErrorKind
from toolnexus.core.run import RunResult, RunStatus
from toolnexus.core.units import format_duration
from toolnexus.engine import RunControl
from toolnexus.mission import load_mission
from toolnexus.progress import ProgressView

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Run tools as declarative YAML missions.",
)
runs_app = typer.Typer(no_args_is_help=True, help="Read past runs from the state store.")
config_app = typer.Typer(no_args_is_help=True, help="Show the effective configuration.")
tools_app = typer.Typer(no_args_is_help=True, help="List and inspect registered tools.")
app.add_typer(runs_app, name="runs")
app.add_typer(config_app, name="config")
app.add_typer(tools_app, name="tools")
sandbox_app = typer.Typer(no_args_is_help=True, help="Sandboxed runtimes: what this machine offers, base images.")
app.add_typer(sandbox_app, name="sandbox")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])
Workspace = Annotated[Path | None, typer.Option("--workspace", "-w", help="project folder (default: current)")]


def _row(table: Table, *cells: str | Text) -> None:
    """Add a row of plain text: user data is never read as Rich markup."""
    table.add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in cells))


def report(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        err.print(
            f"[bold]{esc(d.location())}[/]: [red]error[/]: {esc(d.message)}"
            + (f"\n  [cyan]hint[/]: {esc(d.hint)}" if d.hint else ""),
            markup=True,
        )
    if len(diagnostics) > 1:
        err.print(f"{len(diagnostics)} errors")


def guarded(fn: F) -> F:
    """User mistakes become diagnostics and exit status 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DiagnosticError as exc:
            report(exc.diagnostics)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    problems = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            problems.append(
                Diagnostic(message=f"{option} {pair!r}: expected key=value", hint=f"e.g. {option} region=emea")
            )
            continue
        values[key.strip()] = value
    if problems:
        raise DiagnosticError(problems)
    return values


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


async def _with_signals(control: RunControl, work: Callable[[], Any]) -> Any:
    """Run ``work``; SIGINT/SIGTERM cancel it through ``control`` (children are killed, run recorded)."""
    result: Any = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    control.cancel(f"interrupted by {signal.Signals(signum).name}")

        group.start_soon(watch)
        try:
            result = await work()
        except Exception as exc:  # re-raised outside the group, not wrapped in an ExceptionGroup
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


def _print_result(result: RunResult, as_json: bool) -> None:
    if as_json:
        out.print_json(result.model_dump_json())
        return
    style = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(result.status.value, "")
    err.print(
        f"[{style}]{result.status.value}[/] run {result.run_id} of {result.mission} in "
        f"{format_duration(result.duration)}" + (f", cost {result.cost:.4f} {result.currency}" if result.cost else "")
    )
    for record in result.failed_steps():
        err.print(
            f"  [red]✗[/] step [bold]{esc(record.step_id)}[/] ({esc(record.tool)}) failed: {esc(str(record.error))}"
        )
    if result.error is not None and not result.failed_steps():
        err.print(f"  {esc(str(result.error))}")
    if result.outputs:
        out.print_json(json.dumps(result.outputs, default=str))


@app.command()
@guarded
def run(
    file: Annotated[Path | None, typer.Argument(help="mission YAML file")] = None,
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="mission input key=value")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the RunResult as JSON")] = False,
    resume: Annotated[str | None, typer.Option("--resume", help="resume a failed or cancelled run by id")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show step progress")] = True,
    concurrency: Annotated[int | None, typer.Option(help="override the mission's concurrency")] = None,
    workspace: Workspace = None,
) -> None:
    """Run a mission (or resume one) and print its outputs."""
    if file is None and resume is None:
        raise DiagnosticError([Diagnostic(message="give a mission file, or --resume RUN_ID")])
    given = parse_pairs(inputs or [], "-i")
    with Nexus(workspace, overrides={"concurrency": concurrency}) as nexus:
        if progress:
            nexus.bus.subscribe(ProgressView(err))
        control = RunControl()
        result: RunResult = anyio.run(
            _with_signals,
            control,
            lambda: nexus.arun(file or "", given, control=control, resume=resume, inputs_from_text=True),
        )
    _print_result(result, as_json)
    if result.status == RunStatus.CANCELLED:
        raise typer.Exit(EXIT_CANCELLED)
    if result.status != RunStatus.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)


@app.command()
@guarded
def validate(
    files: Annotated[list[Path], typer.Argument(help="mission YAML files")],
    workspace: Workspace = None,
) -> None:
    """Check missions without running them: every problem, with file:line:column."""
    problems: list[Diagnostic] = []
    with Nexus(workspace, store=False) as nexus:
        for file in files:
            try:
                plan = nexus.compile(load_mission(file))
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
    with Nexus(workspace, store=False) as nexus:
        compiled = nexus.compile(load_mission(file))
    for target, text in ((dot, compiled.to_dot), (mermaid, compiled.to_mermaid)):
        if target == "-":
            sys.stdout.write(text())
        elif target:
            Path(target).write_text(text(), encoding="utf-8")
            err.print(f"wrote {target}")
    if as_json:
        sys.stdout.write(compiled.to_json() + "\n")
    if dot == "-" or mermaid == "-" or as_json:
        return
    table = Table(title=f"{compiled.mission} — plan {compiled.hash}", show_lines=False)
    for column in ("#", "step", "tool", "runtime", "needs", "notes"):
        table.add_column(column)
    for index, step in enumerate(compiled.steps, 1):
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
        _row(
            table,
            str(index),
            step.id,
            f"{step.tool}@{step.version}",
            step.runtime,
            ", ".join(step.needs),
            "; ".join(notes),
        )
    out.print(table)


@app.command("call")
@guarded
def call_tool(
    name: Annotated[str, typer.Argument(help="tool name, optionally name@version")],
    args: Annotated[
        list[str] | None, typer.Option("--arg", "-a", help="argument key=value (JSON values parsed)")
    ] = None,
    args_json: Annotated[str | None, typer.Option("--args", help="all arguments as a JSON object")] = None,
    runtime: Annotated[str | None, typer.Option(help="run in this runtime instead of the tool's own")] = None,
    workspace: Workspace = None,
) -> None:
    """Call one tool through the same path as a mission step and print its output as JSON."""
    arguments: dict[str, Any] = {}
    if args_json is not None:
        try:
            parsed = json.loads(args_json)
        except json.JSONDecodeError as exc:
            raise DiagnosticError(
                [Diagnostic(message=f"--args is not valid JSON: {exc.msg} at char {exc.pos}")]
            ) from None
        if not isinstance(parsed, dict):
            raise DiagnosticError([Diagnostic(message="--args must be a JSON object")])
        arguments.update(parsed)
    arguments.update({k: _json_value(v) for k, v in parse_pairs(args or [], "--arg").items()})
    with Nexus(workspace) as nexus:
        control = RunControl()

        async def work() -> Any:
            with anyio.CancelScope() as scope:
                control._attach(scope)
                return await nexus.acall(name, arguments, origin="cli", runtime=runtime)
            return None

        result = anyio.run(_with_signals, control, work)
    if result is None:
        err.print("[yellow]cancelled[/]")
        raise typer.Exit(EXIT_CANCELLED)
    if result.error is not None:
        err.print(f"[red]error[/]: {esc(str(result.error))}")
        for problem in result.error.details.get("errors", [])[1:]:
            err.print(f"  at {esc(problem['path'])}: {esc(problem['message'])}")
        usage = result.error.kind == ErrorKind.INVALID_ARGUMENTS or result.error.details.get("unknown_tool")
        raise typer.Exit(EXIT_USAGE if usage else EXIT_FAILED)
    sys.stdout.write(json.dumps(result.output, indent=2, default=str) + "\n")


@runs_app.command("list")
@guarded
def runs_list(
    mission: Annotated[str | None, typer.Option(help="only runs of this mission")] = None,
    limit: Annotated[int, typer.Option(min=1, help="how many")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """The most recent runs."""
    with Nexus(workspace) as nexus:
        assert nexus.store is not None
        runs = nexus.store.list_runs(limit, mission)
    if as_json:
        sys.stdout.write(
            json.dumps(
                [
                    {
                        "run_id": r.run_id,
                        "mission": r.mission,
                        "status": r.status.value,
                        "started_at": r.started_at,
                        "duration": r.duration,
                        "cost": r.cost,
                    }
                    for r in runs
                ],
                indent=2,
            )
            + "\n"
        )
        return
    table = Table()
    for column in ("run", "mission", "status", "started", "duration", "cost"):
        table.add_column(column)
    for r in runs:
        _row(
            table,
            r.run_id,
            r.mission,
            r.status.value,
            (r.started_at or "")[:19],
            format_duration(r.duration),
            f"{r.cost:.4f}" if r.cost else "",
        )
    out.print(table)


@runs_app.command("show")
@guarded
def runs_show(
    run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """One run: status, inputs, each step's record, outputs."""
    with Nexus(workspace) as nexus:
        assert nexus.store is not None
        stored = nexus.store.get_run(run_id)
    if stored is None:
        raise DiagnosticError([Diagnostic(message=f"no run {run_id!r}", hint="see `toolnexus runs list`")])
    result = stored.to_result()
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    out.print(
        f"[bold]{result.run_id}[/] {result.mission}: {result.status.value}"
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else "")
    )
    out.print(f"inputs: {json.dumps(result.inputs, default=str)}")
    table = Table()
    for column in ("step", "tool", "status", "attempts", "time", "cost", "note"):
        table.add_column(column)
    for record in result.steps.values():
        note = str(record.error) if record.error else (record.skip_reason or ("cached" if record.cached else ""))
        _row(
            table,
            record.step_id,
            f"{record.tool}@{record.version}",
            record.status.value,
            str(record.attempts),
            format_duration(record.duration),
            f"{record.cost:.4f}" if record.cost else "",
            note[:80],
        )
    out.print(table)
    if result.outputs:
        out.print_json(json.dumps(result.outputs, default=str))


@runs_app.command("compare")
@guarded
def runs_compare(
    run_ids: Annotated[list[str], typer.Argument(help="two or more run ids (toolnexus or MLflow)")],
    all_rows: Annotated[bool, typer.Option("--all", help="show every row, not only inputs that differ")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """Runs side by side from MLflow: inputs that differ, status, and each step's duration and cost."""
    from toolnexus.tracking.compare import differing_rows

    if len(run_ids) < 2:
        raise DiagnosticError([Diagnostic(message="give at least two run ids to compare")])
    with Nexus(workspace, store=False) as nexus:
        try:
            frame = nexus.compare(*run_ids)
        except LookupError as exc:
            raise DiagnosticError([Diagnostic(message=str(exc.args[0]), hint="see `toolnexus runs list`")]) from None
    differ = set(differing_rows(frame))
    shown = [r for r in frame.index if all_rows or not str(r).startswith(("input.", "tool.")) or r in differ]
    if as_json:
        sys.stdout.write(frame.loc[shown].to_json(indent=2, default_handler=str) + "\n")
        return
    table = Table()
    table.add_column("")
    for column in frame.columns:
        table.add_column(str(column))
    for label in shown:
        cells = []
        for value in frame.loc[label]:
            text = (
                "" if value is None or value != value else (f"{value:.4g}" if isinstance(value, float) else str(value))
            )
            cells.append(text)
        _row(table, Text(str(label), style="bold") if label in differ else str(label), *cells)
    out.print(table)


@runs_app.command("sync")
@guarded
def runs_sync(workspace: Workspace = None) -> None:
    """Send runs that could not reach MLflow (kept in the spool) now."""
    with Nexus(workspace, store=False) as nexus:
        if nexus.tracker is None:
            raise DiagnosticError([Diagnostic(message="tracking is disabled (tracking.enabled = false)")])
        pending = len(nexus.tracker.pending())
        synced, failed = nexus.tracker.sync_pending()
    err.print(f"synced {synced} of {pending} pending run(s)")
    for failure in failed:
        err.print(f"  [red]not synced[/]: {esc(failure)}")
    if failed:
        raise typer.Exit(EXIT_FAILED)


@config_app.command("show")
@guarded
def config_show(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """Every setting's effective value and where it came from (default, file, env, cli)."""
    from toolnexus.config import _flatten, load_settings

    loaded = load_settings(workspace)
    flat = _flatten(loaded.settings.model_dump())
    if as_json:
        sys.stdout.write(
            json.dumps({k: {"value": v, "source": loaded.sources.get(k, "default")} for k, v in flat.items()}, indent=2)
            + "\n"
        )
        return
    table = Table()
    for column in ("setting", "value", "source"):
        table.add_column(column)
    for key, value in flat.items():
        _row(table, key, json.dumps(value), loaded.sources.get(key, "default"))
    out.print(table)


@tools_app.command("list")
@guarded
def tools_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """Registered tools: name, version, tier, runtime and summary."""
    with Nexus(workspace, store=False) as nexus:
        specs = nexus.registry.list()
    if as_json:
        sys.stdout.write(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "version": s.version,
                        "tier": s.tier.value,
                        "runtime": s.runtime,
                        "summary": s.summary,
                    }
                    for s in specs
                ],
                indent=2,
            )
            + "\n"
        )
        return
    table = Table()
    for column in ("tool", "version", "tier", "runtime", "summary"):
        table.add_column(column)
    for s in specs:
        _row(table, s.name, s.version, s.tier.value, s.runtime, s.summary)
    out.print(table)


@tools_app.command("show")
@guarded
def tools_show(
    name: Annotated[str, typer.Argument(help="tool name, optionally name@version")],
    workspace: Workspace = None,
) -> None:
    """A tool's full spec as JSON."""
    with Nexus(workspace, store=False) as nexus:
        try:
            spec = nexus.registry.get(name)
        except LookupError as exc:
            raise DiagnosticError([Diagnostic(message=str(exc.args[0]), hint=getattr(exc, "hint", None))]) from None
    sys.stdout.write(spec.model_dump_json(indent=2) + "\n")


@sandbox_app.command("doctor")
@guarded
def sandbox_doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Which isolation this machine offers each runtime (namespaces, cgroups, wasmtime, a Docker engine)."""
    from toolnexus.sandbox.isolation import isolation_report

    report: dict[str, Any] = dict(isolation_report())
    try:
        import wasmtime  # noqa: F401

        report["wasmtime"] = True
    except ImportError:
        report["wasmtime"] = False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        report["docker_engine"] = True
    except Exception:  # no SDK, no socket, or no daemon: all mean "not here"
        report["docker_engine"] = False
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    for name, ok in report.items():
        out.print(f"{'[green]yes[/]' if ok else '[yellow]no[/] '}  {name}")


@sandbox_app.command("build-image")
@guarded
def sandbox_build_image(
    tag: Annotated[str, typer.Option("--tag", help="image tag")] = "toolnexus/python:3.11",
    force: Annotated[bool, typer.Option("--force", help="rebuild even when up to date")] = False,
) -> None:
    """Build the docker runtime's base image locally: Debian packages (debootstrap) and our worker."""
    from toolnexus.sandbox.images import ImageBuildError, build_base_image

    try:
        built = build_base_image(tag, force=force, progress=err.print)
    except ImageBuildError as exc:
        err.print(f"[red]error:[/] {esc(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    out.print(f"{built.tag} {built.id[7:19]} ({'built' if built.built else 'up to date'} in {built.seconds:.1f}s)")


@app.command()
@guarded
def schemas(
    check: Annotated[bool, typer.Option("--check", help="fail if schemas/ is stale instead of writing")] = False,
    folder: Annotated[Path, typer.Option(help="where the schemas live")] = Path("schemas"),
) -> None:
    """Write (or check) the JSON Schemas generated from the pydantic models."""
    from toolnexus.schemas import stale_schemas, write_schemas

    if check:
        stale = stale_schemas(folder)
        if stale:
            raise DiagnosticError(
                [Diagnostic(message=f"{name} is stale", hint="run `toolnexus schemas`") for name in stale]
            )
        err.print("[green]schemas are current[/]")
        return
    for path in write_schemas(folder):
        err.print(f"wrote {path}")


def main() -> None:
    """Entry point of the ``toolnexus`` command."""
    app()


if __name__ == "__main__":
    main()
