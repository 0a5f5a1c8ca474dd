"""``%%mission`` and ``%mission PATH``: validate a mission as ``toolnexus validate`` does, show its plan, and run it
through the default :class:`~toolnexus.api.Nexus` (the one ``tn.run`` and ``@tn.tool`` use).

Bad input (YAML, unknown tools, bad ``-i``) is displayed as problems at the cell's line and column, and the magic
returns None; nothing raises into the notebook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toolnexus.api import Nexus, default_nexus
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.errors import InvalidInput, ToolnexusError
from toolnexus.mission import LoadedMission, Plan, parse_mission
from toolnexus.notebook.cell_errors import CELL, in_cell, problems_block
from toolnexus.notebook.cell_missions import remember
from toolnexus.notebook.magics_args import MissionArgs, parse_mission_line

Show = Callable[[Any], None]
# The input a run's input problem is about: "input 'x': …", "missing required input 'x' …", "unknown input 'x' …".
_INPUT_NAMED = re.compile(r"\binput '(\w+)'")


class _Failed(InvalidInput):
    """Raised inside a magic once its problems are shown (bad input in the cell): the magic returns None."""


def _report(show: Show, title: str, diagnostics: Sequence[Diagnostic], lines: Sequence[str]) -> _Failed:
    show(problems_block(title, diagnostics, lines))
    return _Failed()


def _on_magic_line(diagnostics: Sequence[Diagnostic], magic_line: str) -> list[Diagnostic]:
    """Problems that name no place (the run's inputs) come from the magic line: cell line 1, at the input's
    ``-i`` where the problem names one that was given."""
    placed = []
    for problem in diagnostics:
        if problem.line is None and problem.file in (None, CELL):
            named = _INPUT_NAMED.search(problem.message)
            at = _given_at(magic_line, named.group(1)) if named is not None else None
            problem = problem.model_copy(update={"file": CELL, "line": 1, "column": at})
        placed.append(problem)
    return placed


def _given_at(magic_line: str, name: str) -> int | None:
    """The column of ``-i NAME`` (or ``--input NAME``) on the magic line, if it is there."""
    found = re.search(rf"(?:-i|--input)\s+{re.escape(name)}\b", magic_line)
    return found.start() + 1 if found is not None else None


def mission_cell(line: str, cell: str, namespace: dict[str, Any], show: Show) -> Any:
    """Run the ``%%mission`` magic: the Plan (without ``--run``), the RunResult (with it), or None on problems."""
    lines = [f"%%mission {line}".rstrip(), *cell.split("\n")]
    try:
        args = _arguments(line, namespace, lines, show, want_path=False)
        nexus = _nexus(show, lines)
        try:
            loaded = parse_mission(cell, CELL, nexus.settings.mission.limits())
            plan = nexus.compile(loaded)
        except DiagnosticError as exc:
            raise _report(show, "%%mission", in_cell(exc.diagnostics), lines) from None
        remember(plan.mission, loaded)  # what tn.serve() offers agents beside the kernel's tools
        if args.save:
            _save(cell, args, nexus, lines, show)
        return _finish(args, nexus, loaded, plan, namespace, show, lines)
    except _Failed:
        return None


def mission_file(line: str, namespace: dict[str, Any], show: Show) -> Any:
    """Run the ``%mission PATH`` magic: the RunResult, or None on problems."""
    lines = [f"%mission {line}".rstrip()]
    try:
        args = _arguments(line, namespace, lines, show, want_path=True)
        args.run = True
        nexus = _nexus(show, lines)
        try:
            loaded = nexus.load(resolve_mission_path(args.path or "", nexus.workspace))
            plan = nexus.compile(loaded)
        except DiagnosticError as exc:
            raise _report(show, f"%mission {args.path}", exc.diagnostics, lines) from None
        return _finish(args, nexus, loaded, plan, namespace, show, lines)
    except _Failed:
        return None


def _nexus(show: Show, lines: list[str]) -> Nexus:
    """The default Nexus (that of ``tn.run`` and ``@tn.tool``); a broken ``toolnexus.toml`` is shown, not raised."""
    try:
        return default_nexus()
    except DiagnosticError as exc:
        raise _report(show, lines[0].split()[0], exc.diagnostics, lines) from None


def _arguments(line: str, namespace: dict[str, Any], lines: list[str], show: Show, *, want_path: bool) -> MissionArgs:
    try:
        return parse_mission_line(line, namespace, want_path=want_path)
    except DiagnosticError as exc:
        raise _report(show, lines[0].split()[0], exc.diagnostics, lines) from None


def _finish(args: MissionArgs, nexus: Nexus, loaded: LoadedMission, plan: Plan, namespace: dict[str, Any],
            show: Show, lines: list[str]) -> Any:
    """Bind and return the plan, or run it and bind and return the result (the plan as ``NAME_plan``)."""
    if not args.run:
        if args.bind:
            namespace[args.bind] = plan
        return plan
    show(plan)
    try:
        # The parsed mission, not the plan: the run then records its source, so `toolnexus run --resume` works.
        result = nexus.run(loaded, args.inputs, inputs_from_text=True)
    except DiagnosticError as exc:
        raise _report(show, lines[0].split()[0], _on_magic_line(exc.diagnostics, lines[0]), lines) from None
    except ToolnexusError as exc:
        raise _report(show, lines[0].split()[0], [Diagnostic(message=str(exc))], lines) from None
    if args.bind:
        namespace[args.bind] = result
        namespace[f"{args.bind}_plan"] = plan
    return result


def resolve_mission_path(given: str, workspace: Path) -> Path:
    """The mission file ``given`` names: as written (from the current directory), else under the workspace's
    ``missions/``, each also with ``.yaml`` added."""
    path = Path(given).expanduser()
    candidates = [path] if path.is_absolute() else [path, workspace / "missions" / path]
    for candidate in candidates:
        for option in (candidate, candidate.with_name(candidate.name + ".yaml")):
            if option.is_file():
                return option
    return path  # loading it reports the missing file, named as the user wrote it


def save_target(given: str, workspace: Path) -> Path:
    """Where ``--save PATH`` writes: ``missions/PATH`` of the workspace for a bare file name, PATH itself when it
    names a folder; ``.yaml`` is added when PATH has no suffix."""
    path = Path(given).expanduser()
    if not path.suffix:
        path = path.with_name(path.name + ".yaml")
    return workspace / "missions" / path if len(path.parts) == 1 else path


def _save(text: str, args: MissionArgs, nexus: Nexus, lines: list[str], show: Show) -> None:
    """Write the cell's YAML; a different file already there is kept unless ``--force`` (the same text: no-op)."""
    target = save_target(args.save or "", nexus.workspace)
    body = text if text.endswith("\n") else text + "\n"
    if target.exists() and not args.force and target.read_text(encoding="utf-8") != body:
        column = lines[0].find("--save")
        raise _report(show, "%%mission", [Diagnostic(
            message=f"--save: {target} exists with other content; nothing written", file=CELL, line=1,
            column=column + 1 if column >= 0 else None,
            hint="add --force to overwrite it, or give another --save path")], lines)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise _report(show, "%%mission", [Diagnostic(message=f"--save: cannot write {target}: {exc.strerror}",
                                                     file=CELL, line=1)], lines) from None
    show(_Saved(target))


class _Saved:
    """The note that the cell's YAML was written (text and HTML)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"saved {self.path}"

    def _repr_html_(self) -> str:
        import html

        return f"<div>saved <code>{html.escape(str(self.path))}</code></div>"
