"""Missions: YAML loading with positions, the Mission model, expressions, and compiling to a Plan."""

from toolnexus.mission.compiler import ISOLATION, compile_mission, compile_source, plan_hash
from toolnexus.mission.expressions import Expression, ExpressionError, Template, expression, truthy
from toolnexus.mission.loader import LoadedMission, load_mission, parse_mission
from toolnexus.mission.model import Budget, InputSpec, Mission, RetryPolicy, Step
from toolnexus.mission.plan import Plan, PlanStep

__all__ = [
    "ISOLATION",
    "Budget",
    "Expression",
    "ExpressionError",
    "InputSpec",
    "LoadedMission",
    "Mission",
    "Plan",
    "PlanStep",
    "RetryPolicy",
    "Step",
    "Template",
    "compile_mission",
    "compile_source",
    "expression",
    "load_mission",
    "parse_mission",
    "plan_hash",
    "truthy",
]
