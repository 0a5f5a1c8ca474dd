"""Missions served as MCP tools: ``mission.<name>``, inputs as the input schema, outputs structured.

A folder of mission files is scanned (at most once a second); each mission that compiles against
the registry becomes a :class:`ToolSpec` (tagged ``mission``, tier the strictest of its steps'), so
toolsets, annotations and the MCP mapping treat it like any tool. Running one goes through
``Nexus.arun``: the same engine, gate, runtimes and tracking as the CLI.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.mission import Plan, load_mission
from toolnexus.mission.model import InputSpec

log = logging.getLogger("toolnexus.mcp")

PREFIX = "mission."
_TIER_ORDER = [SafetyTier.READ_ONLY, SafetyTier.SIDE_EFFECTING, SafetyTier.PRIVILEGED]
_RESCAN_SECONDS = 1.0


@dataclass(frozen=True)
class MissionTool:
    """One mission file offered as a tool."""

    spec: ToolSpec
    path: Path


def input_schema(inputs: dict[str, InputSpec]) -> dict[str, Any]:
    """The JSON Schema of a mission's declared inputs (those without a default are required)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in inputs.items():
        prop: dict[str, Any] = {"type": spec.type}
        if spec.description:
            prop["description"] = spec.description
        if spec.enum is not None:
            prop["enum"] = spec.enum
        if spec.required:
            required.append(name)
        else:
            prop["default"] = spec.default
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def output_schema(outputs: dict[str, Any]) -> dict[str, Any]:
    """An object with one property per declared output (their types are only known once the run ends)."""
    return {"type": "object", "properties": {name: {} for name in outputs}}


def mission_spec(plan: Plan, path: Path) -> ToolSpec:
    """The ToolSpec under which ``plan`` is served."""
    description = (plan.description or "").strip()
    tier = max((s.tier for s in plan.steps), key=_TIER_ORDER.index, default=SafetyTier.READ_ONLY)
    return ToolSpec(
        name=PREFIX + plan.mission,
        version=plan.mission_version or "1.0.0",
        summary=description.splitlines()[0] if description else f"Run the mission {plan.mission}.",
        description=description or f"Run the mission {plan.mission} ({path.name}).",
        input_schema=input_schema(plan.inputs),
        output_schema=output_schema(plan.outputs),
        tier=tier,
        tags=["mission"],
        source=str(path),
    )


class MissionFolder:
    """The missions of one folder, reloaded when a file changes; those that do not compile are skipped."""

    def __init__(self, folder: Path, compile_mission: Any) -> None:
        self.folder = folder
        self._compile = compile_mission
        self._stamp: tuple[tuple[str, float], ...] | None = None
        self._checked = 0.0
        self._tools: dict[str, MissionTool] = {}
        self._generation: int | None = None

    def _scan(self) -> tuple[tuple[str, float], ...]:
        if not self.folder.is_dir():
            return ()
        files = sorted([*self.folder.glob("*.yaml"), *self.folder.glob("*.yml")])
        return tuple((str(p), p.stat().st_mtime) for p in files if p.is_file())

    def tools(self, generation: int) -> dict[str, MissionTool]:
        """Mission tools by name; ``generation`` (the registry's) recompiles when tools changed."""
        now = time.monotonic()
        if self._stamp is not None and now - self._checked < _RESCAN_SECONDS and generation == self._generation:
            return self._tools
        self._checked = now
        stamp = self._scan()
        if stamp == self._stamp and generation == self._generation:
            return self._tools
        self._stamp, self._generation = stamp, generation
        tools: dict[str, MissionTool] = {}
        for file, _ in stamp:
            path = Path(file)
            try:
                plan = self._compile(load_mission(path))
            except DiagnosticError as exc:
                log.warning("mission %s is not served over MCP: %s", path, exc.diagnostics[0].message)
                continue
            spec = mission_spec(plan, path)
            if spec.name in tools:
                log.warning("mission %s: the name %s is taken by %s", path, spec.name, tools[spec.name].path)
                continue
            tools[spec.name] = MissionTool(spec, path)
        self._tools = tools
        return tools

