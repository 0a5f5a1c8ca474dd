"""The order of a plan's steps: the file's order wherever dependencies allow."""

from __future__ import annotations

from typing import Any

from toolnexus.core.spec import SafetyTier
from toolnexus.mission.compiler.order import order_steps
from toolnexus.mission.plan import PlanStep


def _steps(*specs: tuple[str, list[str]]) -> list[tuple[int, PlanStep]]:
    return [
        (i, PlanStep(id=sid, tool="t.x", version="1", runtime="inprocess", tier=SafetyTier.READ_ONLY, needs=needs))
        for i, (sid, needs) in enumerate(specs)
    ]


def _order(*specs: tuple[str, list[str]]) -> tuple[list[str], list[Any]]:
    errors: list[Any] = []
    ordered = order_steps(_steps(*specs), lambda *a: errors.append(a))
    return [s.id for s in ordered], errors


def test_steps_written_after_their_needs_keep_the_file_order() -> None:
    assert _order(("a", []), ("b", ["a"]), ("c", []), ("d", ["b", "c"])) == (["a", "b", "c", "d"], [])


def test_a_step_written_before_its_need_moves_after_it() -> None:
    assert _order(("b", ["a"]), ("a", []), ("c", [])) == (["a", "b", "c"], [])


def test_a_need_of_an_unknown_step_does_not_change_the_order() -> None:
    # The unknown step is reported by the compiler; the order is the file's as if it were not there.
    assert _order(("a", []), ("b", ["nowhere", "a"]), ("c", ["b"])) == (["a", "b", "c"], [])


def test_a_cycle_is_reported_and_gives_no_order() -> None:
    ordered, errors = _order(("a", ["b"]), ("b", ["a"]))
    assert ordered == [] and len(errors) == 1 and "dependency cycle" in errors[0][1]


def test_a_step_needing_itself_is_a_cycle() -> None:
    ordered, errors = _order(("a", []), ("b", ["b"]))
    assert ordered == [] and "depends on itself" in errors[0][1]
