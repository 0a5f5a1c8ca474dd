"""The compiled Plan: JSON round trip, drawing (DOT, Mermaid), the graph, and binding run inputs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.spec import SafetyTier
from toolnexus.mission import InputSpec, Plan, RetryPolicy, plan_hash
from toolnexus.mission.plan import PlanStep, coerce_input

Compile = Callable[..., Plan]

MISSION = """
mission: draw.me
version: 2.1.0
inputs:
  n: {type: integer, default: 2}
  mode: {type: string, enum: [fast, slow]}
budget: {max_cost: 1.5, max_duration: 10m}
concurrency: 3
steps:
  - {id: fetch, uses: test.echo, with: {value: x}}
  - id: count
    uses: test.count
    runtime: process
    if: "${{ steps.fetch.outputs == 'x' && inputs.mode != 'slow' }}"
    retry: {attempts: 2, backoff: fixed}
    timeout: 30s
    with: {text: "${{ steps.fetch.outputs }}"}
  - id: each
    uses: test.echo
    foreach: "${{ [1, 2] }}"
    with: {value: "${{ item | string }}"}
  - {id: end, uses: test.echo, with: {value: "${{ steps.count.outputs.text }}${{ steps.each.outputs | length }}"}}
outputs:
  words: "${{ steps.count.outputs.count }}"
"""


@pytest.fixture
def plan(compile_text: Compile) -> Plan:
    return compile_text(MISSION, "draw.yaml")


def test_plan_carries_the_mission_settings(plan: Plan) -> None:
    assert (plan.mission, plan.mission_version, plan.concurrency, plan.source_path) == (
        "draw.me",
        "2.1.0",
        3,
        "draw.yaml",
    )
    assert plan.budget is not None and (plan.budget.max_cost, plan.budget.max_duration) == (1.5, 600.0)
    assert plan.inputs["mode"].required and not plan.inputs["n"].required


def test_plan_json_round_trips(plan: Plan) -> None:
    text = plan.to_json()
    again = Plan.model_validate_json(text)

    assert again.model_dump() == plan.model_dump()
    assert again.to_json() == text
    assert plan_hash(again) == plan.hash
    step = again.step("count")
    assert step.retry is not None and step.retry.backoff == "fixed"
    assert step.timeout == 30.0


def test_plan_json_uses_the_mission_spelling_of_if(plan: Plan) -> None:
    data = json.loads(plan.to_json())
    count = next(s for s in data["steps"] if s["id"] == "count")

    assert count["if"] == "${{ steps.fetch.outputs == 'x' && inputs.mode != 'slow' }}"
    assert "if_" not in count


def test_a_round_tripped_plan_still_evaluates_its_expressions(plan: Plan) -> None:
    again = Plan.model_validate_json(plan.to_json())
    context = {"inputs": {"mode": "fast"}, "steps": {"fetch": {"outputs": "x"}, "count": {"outputs": {"count": 4}}}}

    condition = again.step("count").condition
    assert condition is not None and condition.evaluate(context) is True
    assert again.step("count").argument_template.render(context) == {"text": "x"}
    assert again.step("each").foreach_template is not None
    assert again.step("each").foreach_template.render(context) == [1, 2]
    assert again.output_template.render(context) == {"words": 4}


def test_the_graph_has_an_edge_per_dependency(plan: Plan) -> None:
    graph = plan.graph()

    assert set(graph.nodes) == {"fetch", "count", "each", "end"}
    assert set(graph.edges) == {("fetch", "count"), ("count", "end"), ("each", "end")}
    assert graph.nodes["count"] == {"tool": "test.count@1.0.0", "runtime": "process"}


def test_dot_names_every_step_tool_runtime_and_edge(plan: Plan) -> None:
    dot = plan.to_dot()

    assert dot.startswith('digraph "draw.me" {\n')
    assert dot.endswith("}\n")
    assert '"count" [label="count\\ntest.count@1.0.0\\n[process]"];' in dot
    assert '"fetch" [label="fetch\\ntest.echo@1.0.0\\n[inprocess]"];' in dot
    assert '"fetch" -> "count";' in dot
    assert '"count" -> "end";' in dot
    assert '"each" -> "end";' in dot
    assert dot.count("->") == 3


def test_mermaid_names_every_step_and_edge(plan: Plan) -> None:
    mermaid = plan.to_mermaid()
    lines = mermaid.splitlines()

    assert lines[0] == "flowchart LR"
    assert '  fetch["fetch<br/>test.echo@1.0.0"]' in lines
    assert '  count["count<br/>test.count@1.0.0"]' in lines
    assert "  fetch --> count" in lines
    assert mermaid.count("-->") == 3


def test_mermaid_does_not_use_its_keywords_as_node_ids(plan: Plan) -> None:
    # `end` closes a subgraph in Mermaid: a step of that name must get another node id.
    lines = plan.to_mermaid().splitlines()

    assert '  step_end["end<br/>test.echo@1.0.0"]' in lines
    assert "  count --> step_end" in lines
    assert not any(line.split("[")[0].strip() == "end" for line in lines)


# -- inputs -----------------------------------------------------------------------------------------


def inputs_plan() -> Plan:
    return Plan(
        mission="m",
        steps=[],
        inputs={
            "n": InputSpec(type="integer", default=2),
            "mode": InputSpec(type="string", enum=["fast", "slow"]),
            "flag": InputSpec(type="boolean", default=False),
            "x": InputSpec(type="number", default=1.5),
            "tags": InputSpec(type="array", default=[]),
            "cfg": InputSpec(type="object", default={}),
        },
    )


def test_bind_inputs_applies_defaults() -> None:
    assert inputs_plan().bind_inputs({"mode": "fast"}) == {
        "n": 2,
        "mode": "fast",
        "flag": False,
        "x": 1.5,
        "tags": [],
        "cfg": {},
    }


def test_bind_inputs_coerces_command_line_text_to_the_declared_types() -> None:
    bound = inputs_plan().bind_inputs(
        {"mode": "slow", "n": "7", "flag": "yes", "x": "2", "tags": '["a"]', "cfg": '{"k": 1}'}, from_text=True
    )

    assert bound == {"n": 7, "mode": "slow", "flag": True, "x": 2.0, "tags": ["a"], "cfg": {"k": 1}}
    assert isinstance(bound["x"], float)


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("On", True), ("1", True), ("no", False), ("FALSE", False), ("off", False)]
)
def test_booleans_from_text(text: str, value: bool) -> None:
    assert coerce_input(text, InputSpec(type="boolean"), from_text=True) is value


def test_text_is_not_coerced_unless_asked() -> None:
    with pytest.raises(DiagnosticError) as info:
        inputs_plan().bind_inputs({"mode": "fast", "n": "7"})

    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "input 'n': expected an integer, got a string '7'"


def test_a_string_input_keeps_text_as_it_is() -> None:
    assert coerce_input("007", InputSpec(type="string"), from_text=True) == "007"


def test_booleans_are_not_integers() -> None:
    with pytest.raises(ValueError, match="expected an integer, got a boolean True"):
        coerce_input(True, InputSpec(type="integer"))


def test_integers_are_numbers() -> None:
    assert coerce_input(3, InputSpec(type="number")) == 3


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"mode": "medium"}, "input 'mode': 'medium' is not one of ['fast', 'slow']"),
        ({"mode": "fast", "n": "seven"}, "input 'n': 'seven' is not a valid integer"),
        ({"mode": "fast", "flag": "maybe"}, "input 'flag': 'maybe' is not a valid boolean"),
        ({"mode": "fast", "tags": "[1"}, "input 'tags': '[1' is not a valid array"),
        ({"mode": "fast", "tags": '{"a": 1}'}, "input 'tags': expected an array (list), got an object (mapping)"),
    ],
)
def test_bad_inputs_say_what_was_expected(given: dict[str, Any], message: str) -> None:
    with pytest.raises(DiagnosticError) as info:
        inputs_plan().bind_inputs(given, from_text=True)

    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message.startswith(message)


def test_unknown_and_missing_inputs_are_reported_together_with_hints() -> None:
    with pytest.raises(DiagnosticError) as info:
        inputs_plan().bind_inputs({"mdoe": "fast"})

    unknown, missing = info.value.diagnostics
    assert unknown.message == "unknown input 'mdoe'; this mission takes: n, mode, flag, x, tags, cfg"
    assert unknown.hint == "did you mean `mode`?"
    assert missing.message == "missing required input 'mode' (string)"
    assert missing.hint is not None and "-i mode=" in missing.hint


def test_a_mission_without_inputs_says_so() -> None:
    with pytest.raises(DiagnosticError, match="this mission takes: no inputs"):
        Plan(mission="m", steps=[]).bind_inputs({"x": 1})


def _whole_text_hash(plan: Plan) -> str:
    """The plan hash as it was first defined: the digest of the whole plan body as one JSON text."""
    import hashlib

    body = plan.model_dump(mode="json", by_alias=True, exclude={"hash", "source_path", "description"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def test_the_hash_fed_in_chunks_is_the_digest_of_the_whole_plan(plan: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolnexus.mission.compiler import steps

    assert plan.hash == _whole_text_hash(plan)
    monkeypatch.setattr(steps, "_HASH_CHUNK", 3)  # the four steps in two chunks
    assert plan_hash(plan) == plan.hash


def test_compiled_steps_hold_every_field_as_set_and_share_that_set(plan: Plan) -> None:
    first, second = plan.steps[0], plan.steps[1]
    assert first.model_fields_set == set(type(first).model_fields)
    assert first.model_fields_set is second.model_fields_set
    first.name = "renamed"  # assigning a field keeps the shared set as it was
    assert second.model_fields_set == set(type(second).model_fields)


def test_steps_written_before_what_they_need_are_ordered_after_it(compile_text: Compile) -> None:
    plan = compile_text("""
        mission: reordered
        steps:
          - {id: late, uses: test.echo, needs: [early], with: {value: a}}
          - {id: free, uses: test.echo, with: {value: b}}
          - {id: early, uses: test.echo, with: {value: c}}
    """)
    assert [s.id for s in plan.steps] == ["free", "early", "late"]


# -- steps made by the compiler ------------------------------------------------------------------------------


def compiled_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": "a", "tool": "t.x", "version": "1.0.0", "runtime": "inprocess", "tier": SafetyTier.SIDE_EFFECTING,
        "arguments": {"v": [1, {"k": "${{ inputs.n }}"}]}, "needs": ["b", "c"], "if_": "${{ steps.b.outputs }}",
        "foreach": [1, 2], "retry": RetryPolicy(attempts=2), "timeout": 2.5, "continue_on_error": True,
        "cache": False, "name": "A",
    }
    return {**fields, **changes}


@pytest.mark.parametrize(
    "changes",
    [{}, {"timeout": 3}, {"timeout": None, "retry": None, "foreach": None, "if_": None, "name": None},
     {"if_": False, "foreach": "${{ inputs.items }}", "arguments": {}, "needs": []}],
)
def test_a_compiled_step_is_the_step_validating_its_fields_makes(changes: dict[str, Any]) -> None:
    fields = compiled_fields(**changes)

    made, validated = PlanStep.compiled(**fields), PlanStep(**fields)

    assert made == validated
    assert repr(made) == repr(validated)
    assert made.model_dump() == validated.model_dump()
    assert made.model_fields_set == set(PlanStep.model_fields)
    assert type(made.timeout) is type(validated.timeout)


def test_a_compiled_step_holds_copies_of_the_missions_mappings_and_lists() -> None:
    fields = compiled_fields()

    made = PlanStep.compiled(**fields)

    assert made.arguments == fields["arguments"] and made.arguments is not fields["arguments"]
    assert made.foreach == fields["foreach"] and made.foreach is not fields["foreach"]
    assert made.needs is not fields["needs"]


def test_a_compiled_step_parses_its_expressions_once_prepared() -> None:
    made = PlanStep.compiled(**compiled_fields()).prepare()

    assert made.condition is not None and made.condition.refs == PlanStep(**compiled_fields()).condition.refs
    assert made.foreach_template is not None and made.argument_template is not None


def test_compiled_steps_share_the_keys_of_their_fields() -> None:
    # A 100,000-step plan is mostly its steps' field dicts: each compiled step's shares its keys with the others'.
    made = [PlanStep.compiled(**compiled_fields(id=f"s{i}")) for i in range(3)]

    assert list(made[2].__dict__) == list(PlanStep.model_fields)
    assert sys.getsizeof(made[2].__dict__) < sys.getsizeof(dict(made[2].__dict__))
