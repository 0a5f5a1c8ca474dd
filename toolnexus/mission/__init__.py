"""Missions: YAML loading with positions, the Mission model, expressions, and compiling to a Plan.

Names are imported on first use (PEP 562), as in :mod:`toolnexus.core`: a module that needs one part of the
package — the CLI's start-up, which only tells :mod:`toolnexus.mission.gcpause` it is a one-shot process — does
not pay for the compiler and every model of the layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolnexus._deferred import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, __file__)


# The package's public names, imported lazily at run time; add one here, and only here (``X as X`` marks an
# explicit re-export for type checkers).
if TYPE_CHECKING:
    from toolnexus.mission.compiler import (
        ISOLATION as ISOLATION,
        compile_mission as compile_mission,
        compile_source as compile_source,
        plan_hash as plan_hash,
    )
    from toolnexus.mission.expressions import (
        Expression as Expression,
        ExpressionError as ExpressionError,
        Template as Template,
        expression as expression,
        truthy as truthy,
    )
    from toolnexus.mission.loader import (
        LoadedMission as LoadedMission,
        load_mission as load_mission,
        parse_mission as parse_mission,
    )
    from toolnexus.mission.model import (
        Budget as Budget,
        InputSpec as InputSpec,
        Mission as Mission,
        RetryPolicy as RetryPolicy,
        Step as Step,
    )
    from toolnexus.mission.plan import Plan as Plan, PlanStep as PlanStep
