"""Loading mission YAML into a Mission, keeping positions for errors."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.yamlpos import (
    DEFAULT_LIMITS,
    Path as DataPath,
    Positions,
    YamlLimits,
    decode,
    load_yaml,
    too_large,
    validation_diagnostics,
)
from toolnexus.mission.gcpause import LARGE_TEXT, paused_gc
from toolnexus.mission.model import (
    MISSION_FIELDS,
    STEP_FIELDS,
    Budget,
    InputSpec,
    Mission,
    RetryPolicy,
    Step,
    share_fields_sets,
)

_NESTED: dict[str, list[str]] = {
    "budget": list(Budget.model_fields),
    "retry": list(RetryPolicy.model_fields),
    "inputs": list(InputSpec.model_fields),
}


def known_fields(path: DataPath) -> list[str]:
    """The keys allowed at ``path`` of a mission document, for "did you mean" hints."""
    names = [p for p in path if isinstance(p, str)]
    if not names:
        return MISSION_FIELDS
    if names[0] == "steps":
        return STEP_FIELDS if len(names) == 1 else _NESTED.get(names[-1], [])
    if names[0] == "inputs" and len(names) == 2:
        return _NESTED["inputs"]
    return _NESTED.get(names[-1], [])


_HINTS: dict[str, str] = {
    "id": "a step id starts with a letter or '_' and holds only letters, digits and '_', e.g. fetch_data",
    "mission": "a mission name holds letters, digits, '_', '-' and '.', e.g. weekly-report",
    "retry": "write `retry: {attempts: 3, backoff: exponential, delay: 1s}`",
    "budget": "write `budget: {max_cost: 0.50, max_duration: 10m}`",
    "steps": "`steps:` is a list of steps, each `- id: …` with `uses: tool.name`",
    "needs": "write `needs: other_step` or `needs: [a, b]`",
    "with": "`with:` maps argument names to values, e.g. `with: {path: data.csv}`",
    "if": "write an expression such as `${{ steps.fetch.outputs.size > 0 }}`, or true/false",
    "foreach": "write a list, or an expression giving one such as `${{ inputs.files }}`",
}


def mission_hint(path: DataPath, kind: str) -> str | None:
    """A fix for a mission field's error, where a general one helps."""
    if not path:
        return None
    if path[0] == "inputs" and len(path) == 2 and kind in ("model_type", "dict_type"):
        return "declare an input as a mapping, e.g. `name: {type: string, default: emea}`"
    last = next((p for p in reversed(path) if isinstance(p, str)), None)
    if path[0] == "steps" and len(path) == 2 and kind in ("model_type", "dict_type"):
        return "each step is a mapping such as `- id: fetch` followed by `uses: files.read@1`"
    if kind == "missing" and last == "steps" and len(path) == 1:
        return "add `steps:` with at least one step, e.g. `- {id: hello, uses: text.render, with: {template: hi}}`"
    if kind == "missing" and last == "mission":
        return "add `mission: <name>` at the top of the file"
    if kind == "missing" and last == "uses":
        return "add `uses: <tool name>`; `toolnexus tools list` shows the tools"
    return _HINTS.get(last) if last is not None and kind != "missing" else None


@dataclass
class LoadedMission:
    """A parsed mission with what is needed to point at its lines.

    ``mission`` is ``None`` when the document did not validate. The parts that did validate are
    still available (``steps``, ``inputs``, ``outputs``…) so the compiler can report every other
    problem in the same pass, without cascading errors from the parts that did not.
    """

    source: str
    file: str | None
    positions: Positions
    mission: Mission | None = None
    steps: list[tuple[int, Step]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    # Every input name written, valid or not; None when `inputs:` itself is unusable.
    input_names: set[str] | None = field(default_factory=set)
    outputs: dict[str, Any] = field(default_factory=dict)
    runtime: str | None = None
    # Every step id written (valid step or not), so references to a broken step do not cascade.
    declared_ids: list[str] = field(default_factory=list)
    limits: YamlLimits = DEFAULT_LIMITS

    @property
    def data(self) -> Any:
        """The document as plain data, read again from ``source``.

        Not kept: once the mission is built nothing reads it (its 100,000 steps were a quarter of
        the memory of a loaded mission).
        """
        return load_yaml(self.source, self.file, [], self.limits)[0]

    def require(self) -> Mission:
        """The parsed mission; raises DiagnosticError with every problem found if there is any."""
        if self.mission is None or self.diagnostics:
            raise DiagnosticError(self.diagnostics)
        return self.mission


def parse_mission(text: str, file: str | None = None, limits: YamlLimits = DEFAULT_LIMITS) -> LoadedMission:
    """Parse mission YAML text. YAML syntax errors, and a document past ``limits`` (size, nesting,
    aliases), raise; every other problem is collected on the result."""
    with paused_gc(large=len(text) >= LARGE_TEXT):
        return _parse_mission(text, file, limits)


def _parse_mission(text: str, file: str | None, limits: YamlLimits) -> LoadedMission:
    problems: list[Diagnostic] = []
    data, positions = load_yaml(text, file, problems, limits)
    loaded = LoadedMission(source=text, file=file, positions=positions, diagnostics=problems, limits=limits)
    if not isinstance(data, dict):
        loaded.diagnostics.append(
            positions.diagnostic(
                (),
                "a mission is a mapping with at least `mission:` and `steps:`"
                + (f", not {_kind(data)}" if data is not None else " (the file is empty)"),
                "start from missions/hello.yaml",
            )
        )
        loaded.input_names = None
        return loaded
    try:
        mission = Mission.model_validate(data)
    except ValidationError as exc:
        loaded.diagnostics.extend(
            validation_diagnostics(exc, positions, known_fields=known_fields, hint_for=mission_hint)
        )
        _salvage(loaded, data)
        return loaded
    share_fields_sets(mission.steps)
    loaded.mission = mission
    loaded.steps = list(enumerate(mission.steps))
    loaded.inputs = dict(mission.inputs)
    loaded.input_names = set(mission.inputs)
    loaded.outputs = mission.outputs
    loaded.runtime = mission.runtime
    loaded.declared_ids = [s.id for s in mission.steps]
    return loaded


def _kind(data: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(data), type(data).__name__
    )


def _salvage(loaded: LoadedMission, data: dict[str, Any]) -> None:
    """Keep the valid parts of a mission that did not validate as a whole (already reported)."""
    raw_inputs = data.get("inputs", {})
    if isinstance(raw_inputs, dict):
        loaded.input_names = {str(k) for k in raw_inputs}
        for name, raw in raw_inputs.items():
            with suppress(ValidationError):  # already reported, with its position
                loaded.inputs[str(name)] = InputSpec.model_validate(raw if raw is not None else {})
    else:
        loaded.input_names = None
    raw_outputs = data.get("outputs")
    if isinstance(raw_outputs, dict):
        loaded.outputs = raw_outputs
    if isinstance(data.get("runtime"), str):
        loaded.runtime = data["runtime"]
    raw_steps = data.get("steps")
    if isinstance(raw_steps, list):
        for index, raw in enumerate(raw_steps):
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                loaded.declared_ids.append(raw["id"])
            with suppress(ValidationError):  # already reported, with its position
                loaded.steps.append((index, Step.model_validate(raw)))


def load_mission(path: str | Path, limits: YamlLimits = DEFAULT_LIMITS) -> LoadedMission:
    """Read and parse a mission file, refusing one past ``limits`` without reading all of it."""
    path = Path(path)
    data = _read(path, limits.max_bytes)
    return parse_mission(decode(data, str(path)), str(path), limits)


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; a file over ``max_bytes`` is refused after reading one byte more than that."""
    try:
        with path.open("rb") as stream:
            data = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise DiagnosticError(
            [
                Diagnostic(
                    message="no such mission file",
                    file=str(path),
                    hint="check the path; example missions are in missions/",
                )
            ]
        ) from None
    except IsADirectoryError:
        raise DiagnosticError(
            [
                Diagnostic(
                    message="is a folder, not a mission file", file=str(path), hint="give the path of a .yaml file"
                )
            ]
        ) from None
    except OSError as exc:
        raise DiagnosticError(
            [Diagnostic(message=f"cannot read the file: {exc.strerror or exc}", file=str(path))]
        ) from None
    if len(data) > max_bytes:
        raise DiagnosticError([too_large(data, str(path), max_bytes)])
    return data
