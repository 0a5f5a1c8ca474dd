"""What every ``toolnexus`` command shares: the app, consoles, exit codes and the user-error guard."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

# Every command module imports this one, and ``toolnexus --help`` imports every command module: what is imported
# here at module level is paid by every command, so toolnexus's own modules (pydantic models, the engine, the
# Nexus) are imported by the functions that use them, and only named here for type checkers.
if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import Diagnostic
    from toolnexus.core.run import RunResult
    from toolnexus.engine import RunControl

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Run tools as declarative YAML missions.",
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _print_version(wanted: bool) -> None:
    if wanted:
        from toolnexus._version import __version__

        out.print(f"toolnexus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="print toolnexus's version and exit")] = False,
) -> None:
    """Run tools as declarative YAML missions."""

F = TypeVar("F", bound=Callable[..., Any])
Workspace = Annotated[Path | None, typer.Option("--workspace", "-w", help="project folder (default: current)")]


def add_row(table: Table, *cells: str | Text) -> None:
    """Add a row of plain text: user data is never read as Rich markup."""
    table.add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in cells))


def report(diagnostics: list[Diagnostic]) -> None:
    """Print diagnostics to stderr, one per problem, each with its location and hint."""
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
        from toolnexus.core.diagnostics import DiagnosticError

        try:
            return fn(*args, **kwargs)
        except DiagnosticError as exc:
            report(exc.diagnostics)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``KEY=VALUE`` options as a dict; malformed ones are diagnostics naming ``option``."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

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


def json_value(text: str) -> Any:
    """A command-line value as JSON when it parses, else as the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


async def with_signals(control: RunControl, work: Callable[[], Any]) -> Any:
    """Run ``work``; SIGINT/SIGTERM cancel it through ``control`` (children are killed, run recorded)."""
    import anyio

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


def settle_quickly(nexus: Nexus) -> None:
    """After a Ctrl-C, close without waiting for MLflow: the run's report is spooled when the Nexus closes
    (durable, synced on the next run or by ``toolnexus runs sync``), and the state store is written as ever."""
    nexus.settings.tracking.flush_timeout = 0


def leave(code: int) -> NoReturn:
    """End the command with exit status ``code``, even with a call abandoned in a thread.

    A cancelled or timed-out in-process tool stuck in C code keeps its thread until the C call returns, and
    the interpreter waits for every such thread before it exits: a Ctrl-C would print "cancelled" and then
    hang. Called once the Nexus is closed (the run recorded, the store and MLflow flushed), this ends the
    process at once if such a thread is left, flushing what is still buffered first.
    """
    from toolnexus.sandbox.inprocess import abandoned_calls

    if abandoned_calls():
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def print_result(result: RunResult, as_json: bool) -> None:
    """Print a run's result: as JSON on stdout, or its status line and failed steps on stderr."""
    from toolnexus.core.units import format_duration

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



def since_time(text: str | None) -> datetime | None:
    """A ``--since`` option's time: a duration back from now (``7d``, ``12h``, ``30m``) or a date/time
    (``2026-12-01``, naive: UTC); None for no option or ``all`` (no limit). Anything else is a clear error."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.core.units import parse_duration

    if text is None or text.strip().lower() == "all":
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text) or 0)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DiagnosticError([Diagnostic(message=f"--since {text!r} is neither a duration nor a date",
                                          hint="e.g. --since 7d, --since 12h, --since 2026-12-01 or --since all")]
                              ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
