"""Loading mission YAML into a Mission, keeping positions for errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.yamlpos import Path as DataPath
from toolnexus.core.yamlpos import Positions, load_yaml, validation_diagnostics
from toolnexus.mission.model import MISSION_FIELDS, STEP_FIELDS, Budget, InputSpec, Mission, RetryPolicy, Step

_NESTED: dict[str, list[str]] = {
    "budget": list(Budget.model_fields), "retry": list(RetryPolicy.model_fields),
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


@dataclass
class LoadedMission:
    """A parsed mission with what is needed to point at its lines.

    ``mission`` is ``None`` when the document did not validate; ``steps`` then holds the steps that
    did, so the graph checks can still report on them in the same pass.
    """

    source: str
    file: str | None
    positions: Positions
    data: Any
    mission: Mission | None = None
    steps: list[tuple[int, Step]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def require(self) -> Mission:
        if self.mission is None or self.diagnostics:
            raise DiagnosticError(self.diagnostics)
        return self.mission


def parse_mission(text: str, file: str | None = None) -> LoadedMission:
    """Parse mission YAML text. YAML syntax errors raise; model errors are collected on the result."""
    data, positions = load_yaml(text, file)
    loaded = LoadedMission(source=text, file=file, positions=positions, data=data)
    if not isinstance(data, dict):
        loaded.diagnostics.append(positions.diagnostic(
            (), "a mission is a mapping with at least `mission:` and `steps:`",
            "start from missions/hello.yaml"))
        return loaded
    try:
        loaded.mission = Mission.model_validate(data)
        loaded.steps = list(enumerate(loaded.mission.steps))
        return loaded
    except ValidationError as exc:
        loaded.diagnostics.extend(validation_diagnostics(exc, positions, known_fields=known_fields))
    raw_steps = data.get("steps")
    if isinstance(raw_steps, list):
        for index, raw in enumerate(raw_steps):
            try:
                loaded.steps.append((index, Step.model_validate(raw)))
            except ValidationError:
                pass  # already reported above, with its position
    return loaded


def load_mission(path: str | Path) -> LoadedMission:
    """Read and parse a mission file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiagnosticError([Diagnostic(message=f"no such mission file: {path}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DiagnosticError([Diagnostic(message=f"cannot read {path}: {exc}")]) from None
    return parse_mission(text, str(path))
