"""Compile a Mission into a Plan: resolve tools, check arguments and references, build the DAG.

Every problem is collected and reported in one pass, each with its file:line:column and a fix.
One concept per module: ``references`` (the compile's state and expression references), ``arguments``
(``with:`` against input schemas), ``schemas`` (constant arguments against their schemas, static types, output paths),
``order`` (file-order topological sort and cycles), ``steps`` (each step, its runtime, the Plan).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from toolnexus.core.spec import ISOLATION
from toolnexus.mission.compiler.references import ToolLookup
from toolnexus.mission.compiler.schemas import argument_errors, compatible, schema_types
from toolnexus.mission.compiler.steps import StepCompiler, plan_hash
from toolnexus.mission.expressions import STATUS_FUNCTIONS
from toolnexus.mission.gcpause import LARGE_STEPS, paused_gc
from toolnexus.mission.loader import LoadedMission, parse_mission
from toolnexus.mission.model import Mission
from toolnexus.mission.plan import Plan

# Isolation strength: a tool's declared runtime is a minimum a mission may raise but not lower.
DEFAULT_RUNTIMES = ("inprocess", "process")


def compile_mission(
    loaded: LoadedMission | Mission, lookup: ToolLookup, runtimes: Iterable[str] = DEFAULT_RUNTIMES,
    min_runtime: Mapping[str, str] | None = None,
) -> Plan:
    """Compile a parsed mission into a Plan, or raise DiagnosticError with every problem found.

    ``min_runtime`` maps a safety tier to the least isolating runtime policy allows for it.
    """
    with paused_gc(large=len(loaded.steps) >= LARGE_STEPS):
        if isinstance(loaded, Mission):
            text = json.dumps(loaded.model_dump(mode="json", by_alias=True, exclude_unset=True))
            loaded = parse_mission(text, None)
        return StepCompiler(loaded, lookup, runtimes, min_runtime).run()


def compile_source(text: str, file: str | None, lookup: ToolLookup, runtimes: Iterable[str] = DEFAULT_RUNTIMES) -> Plan:
    """Parse and compile mission text in one pass of diagnostics."""
    return compile_mission(parse_mission(text, file), lookup, runtimes)


__all__ = [
    "DEFAULT_RUNTIMES",
    "ISOLATION",
    "STATUS_FUNCTIONS",
    "ToolLookup",
    "argument_errors",
    "compatible",
    "compile_mission",
    "compile_source",
    "plan_hash",
    "schema_types",
]
