"""Compiling a mission: tool resolution, dependencies, deterministic order, static checks, the plan hash."""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.mission import (
    InputSpec,
    Mission,
    Plan,
    RetryPolicy,
    compile_mission,
    load_mission,
    parse_mission,
    plan_hash,
)
from toolnexus.mission.plan import PlanStep
from toolnexus.registry import Registry

Compile = Callable[..., Plan]
Problems = Callable[[str], list[str]]


def test_steps_come_in_a_deterministic_topological_order(compile_text: Compile) -> None:
    # Written out of order: `report` first, needing `clean`, which needs `fetch`; `other` is independent.
    plan = compile_text("""
        mission: order
        steps:
          - id: report
            uses: test.echo
            with: {value: "${{ steps.clean.outputs }}"}
          - id: fetch
            uses: test.echo
            with: {value: x}
          - id: clean
            uses: test.echo
            with: {value: "${{ steps.fetch.outputs }}"}
          - id: other
            uses: test.echo
            with: {value: y}
    """)

    # Kahn's order, ties broken by position in the file: the earliest ready step goes first.
    assert [s.id for s in plan.steps] == ["fetch", "clean", "report", "other"]


def test_order_and_hash_do_not_change_between_compiles(compile_text: Compile) -> None:
    # Twenty steps; every third one reads the step two before it, the rest are independent.
    lines = ["mission: wide", "steps:"]
    for i in range(20):
        value = f"${{{{ steps.s{i - 2}.outputs }}}}" if i % 3 == 2 else f"v{i}"
        lines.append(f'  - {{id: s{i}, uses: test.echo, with: {{value: "{value}"}}}}')
    text = "\n".join(lines) + "\n"

    plans = [compile_text(text) for _ in range(3)]

    orders = {tuple(s.id for s in p.steps) for p in plans}
    assert len(orders) == 1
    assert len({p.hash for p in plans}) == 1
    # Every step's dependency is earlier in the file, so file order is already topological and kept.
    assert orders.pop() == tuple(f"s{i}" for i in range(20))
    assert plans[0].step("s5").needs == ["s3"]


def test_every_step_comes_after_what_it_needs(compile_text: Compile) -> None:
    plan = compile_text("""
        mission: diamond
        steps:
          - {id: join, uses: test.echo, with: {value: "${{ steps.left.outputs }}${{ steps.right.outputs }}"}}
          - {id: right, uses: test.echo, with: {value: "${{ steps.top.outputs }}"}}
          - {id: left, uses: test.echo, with: {value: "${{ steps.top.outputs }}"}}
          - {id: top, uses: test.echo, with: {value: start}}
    """)
    position = {s.id: i for i, s in enumerate(plan.steps)}

    for step in plan.steps:
        assert all(position[need] < position[step.id] for need in step.needs)
    assert [s.id for s in plan.steps] == ["top", "right", "left", "join"]


def test_needs_come_from_expressions_needs_if_and_foreach(compile_text: Compile) -> None:
    plan = compile_text("""
        mission: deps
        inputs:
          n: {type: integer, default: 2}
        steps:
          - {id: a, uses: test.echo, with: {value: a}}
          - {id: b, uses: test.echo, with: {value: b}}
          - {id: c, uses: test.echo, with: {value: c}}
          - {id: d, uses: test.echo, with: {value: d}}
          - id: e
            uses: test.echo
            needs: a
            if: "${{ steps.b.outputs != 'x' && inputs.n > 1 }}"
            foreach: "${{ [steps.c.outputs] }}"
            with: {value: "${{ item }}-${{ steps.d.status }}"}
    """)

    assert plan.step("e").needs == ["a", "b", "c", "d"]
    assert plan.step("a").needs == []


def test_outputs_are_checked_but_make_no_step_depend(compile_text: Compile, problems: Problems) -> None:
    plan = compile_text("""
        mission: outs
        steps:
          - {id: a, uses: test.echo, with: {value: a}}
        outputs:
          result: "${{ steps.a.outputs }}"
    """)

    assert plan.outputs == {"result": "${{ steps.a.outputs }}"}
    assert plan.output_template.render({"steps": {"a": {"outputs": "A"}}}) == {"result": "A"}
    assert problems("""
        mission: outs
        steps:
          - {id: a, uses: test.echo, with: {value: a}}
        outputs:
          result: "${{ steps.b.outputs }}"
    """) == ["6:11 unknown step `b` in `${{ steps.b.outputs }}`"]


def test_tool_versions_are_resolved_exactly(registry: Registry, compile_text: Compile) -> None:
    base = registry.get("test.echo")
    for version in ("1.2.0", "1.10.1", "2.0.0"):
        registry.register(base.model_copy(update={"version": version}))

    def resolved(uses: str) -> str:
        plan = compile_text(f"mission: v\nsteps:\n  - {{id: a, uses: {uses}, with: {{value: x}}}}\n")
        return plan.steps[0].version

    assert resolved("test.echo") == "2.0.0"
    assert resolved("test.echo@latest") == "2.0.0"
    assert resolved("test.echo@1") == "1.10.1"
    assert resolved("test.echo@1.2") == "1.2.0"
    assert resolved("test.echo@1.0.0") == "1.0.0"


def test_plan_step_settings_come_from_the_step_the_mission_and_the_tool(compile_text: Compile) -> None:
    plan = compile_text("""
        mission: settings
        steps:
          - id: plain
            uses: test.echo
            with: {value: x}
          - id: tuned
            uses: test.count
            runtime: process
            timeout: 1m
            cache: true
            continue_on_error: true
            retry: {attempts: 4, backoff: fixed, delay: 2s}
            with: {text: x}
          - id: isolated
            uses: test.spawn_and_wait
            with: {pidfile: p}
    """)
    plain, tuned, isolated = plan.step("plain"), plan.step("tuned"), plan.step("isolated")

    assert (plain.tool, plain.version, plain.runtime, plain.cache) == ("test.echo", "1.0.0", "inprocess", True)
    assert plain.timeout is None and plain.retry is None and not plain.continue_on_error
    assert (tuned.runtime, tuned.timeout, tuned.cache, tuned.continue_on_error) == ("process", 60.0, True, True)
    assert tuned.retry is not None
    assert (tuned.retry.attempts, tuned.retry.backoff, tuned.retry.delay) == (4, "fixed", 2.0)
    assert isolated.runtime == "process"  # the tool's own runtime


def test_a_mission_runtime_raises_isolation_for_steps_that_name_none(compile_text: Compile) -> None:
    plan = compile_text("""
        mission: isolated
        runtime: process
        steps:
          - {id: a, uses: test.echo, with: {value: x}}
          - {id: b, uses: test.echo, runtime: inprocess, with: {value: y}}
    """)

    assert plan.step("a").runtime == "process"
    assert plan.step("b").runtime == "inprocess"


def test_a_step_timeout_defaults_to_the_tool_limit(registry: Registry, compile_text: Compile) -> None:
    spec = registry.get("test.echo")
    registry.register(
        spec.model_copy(update={"version": "3.0.0", "limits": spec.limits.model_copy(update={"timeout": 12.5})})
    )

    plan = compile_text("mission: t\nsteps:\n  - {id: a, uses: test.echo@3, with: {value: x}}\n")

    assert plan.steps[0].timeout == 12.5


def test_type_of_a_typed_tool_output_is_checked_against_the_argument(problems: Problems) -> None:
    # test.count returns {count: int, text: str}; test.echo takes value: str.
    found = problems("""
        mission: typed
        steps:
          - {id: count, uses: test.count, with: {text: a b}}
          - {id: ok, uses: test.echo, with: {value: "${{ steps.count.outputs.text }}"}}
          - {id: bad, uses: test.echo, with: {value: "${{ steps.count.outputs.count }}"}}
          - {id: embedded, uses: test.echo, with: {value: "n=${{ steps.count.outputs.count }}"}}
          - {id: converted, uses: test.echo, with: {value: "${{ steps.count.outputs.count | string }}"}}
    """)

    assert found == ["6:46 step `bad`: argument `value` expects string but `steps.count.outputs.count` is integer"]


def test_integers_fit_number_parameters(problems: Problems, compile_text: Compile) -> None:
    compile_text("""
        mission: widening
        inputs:
          n: {type: integer, default: 1}
        steps:
          - {id: s, uses: test.sleep, with: {seconds: "${{ inputs.n }}"}}
    """)
    assert problems("""
        mission: narrowing
        inputs:
          x: {type: number, default: 1.5}
        steps:
          - {id: s, uses: test.tokens, with: {n: "${{ inputs.x }}"}}
    """) == ["6:42 step `s`: argument `n` expects integer but `inputs.x` is number"]


def test_literal_arguments_are_validated_against_the_schema(problems: Problems) -> None:
    assert problems("""
        mission: literal
        steps:
          - {id: s, uses: test.sleep, with: {seconds: soon}}
    """) == ["4:47 step `s`: argument `seconds`: 'soon' is not of type 'number'"]


def test_literal_argument_problems_are_located_by_json_pointer(registry: Registry, problems: Problems) -> None:
    # The same path format as the invocation pipeline's argument problems (``/a/0``), through $defs.
    registry.register(
        ToolSpec.model_validate(
            {
                "name": "cmd.points",
                "runtime": "process",
                "entry": {"kind": "command", "argv": ["true"]},
                "input_schema": {
                    "type": "object",
                    "properties": {"points": {"type": "array", "items": {"$ref": "#/$defs/Point"}}},
                    "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
                },
            }
        )
    )

    assert problems("""
        mission: pointers
        steps:
          - {id: s, uses: cmd.points, with: {points: [{x: 1}, {x: one}]}}
    """) == ["4:46 step `s`: argument `points`: /1/x: 'one' is not of type 'integer'"]


def test_literal_argument_problems_quote_a_long_value_shortened(problems: Problems) -> None:
    found = problems("mission: long\nsteps:\n  - {id: s, uses: test.echo, with: {value: [" + "1, " * 5000 + "1]}}\n")

    assert len(found) == 1 and " … " in found[0] and len(found[0]) < 400


def test_arguments_are_not_checked_for_an_unknown_tool_but_their_references_are(problems: Problems) -> None:
    found = problems("""
        mission: unknown
        steps:
          - {id: s, uses: test.nope, with: {x: "${{ steps.zz.outputs }}"}}
    """)

    assert len(found) == 2
    assert "no tool named 'test.nope'" in found[0]
    assert "unknown step `zz`" in found[1]


def test_item_and_index_are_fine_inside_foreach_but_not_in_the_foreach_itself(
    problems: Problems, compile_text: Compile
) -> None:
    plan = compile_text("""
        mission: fan
        steps:
          - id: each
            uses: test.echo
            foreach: [a, b]
            if: "${{ index < 5 }}"
            with: {value: "${{ item }}-${{ index }}"}
    """)
    assert plan.steps[0].foreach == ["a", "b"]

    found = problems("""
        mission: fan
        steps:
          - id: each
            uses: test.echo
            foreach: "${{ item }}"
            with: {value: x}
    """)
    assert found == ["6:14 `item` is only defined in a step with `foreach:`"]


def test_status_and_error_of_a_step_may_be_read(compile_text: Compile) -> None:
    plan = compile_text("""
        mission: status
        steps:
          - {id: a, uses: test.fail, continue_on_error: true}
          - id: report
            uses: test.echo
            if: "${{ always() }}"
            with: {value: "${{ steps.a.status }}: ${{ steps.a.error.message }}"}
    """)

    assert plan.step("report").needs == ["a"]
    assert plan.step("report").wants_status
    assert not plan.step("a").wants_status


def test_every_problem_is_reported_in_one_pass_sorted_by_position(problems: Problems) -> None:
    found = problems("""
        mission: many
        inputs:
          n: {type: integer, default: x}
        steps:
          - {id: a, uses: test.echoo, with: {value: "${{ inputs.m }}"}}
          - {id: b, uses: test.echo, needs: [c], with: {valeu: x}}
          - {id: a, uses: test.echo, with: {value: x}}
    """)

    assert [f.split(" ", 1)[0] for f in found] == ["4:31", "6:19", "6:45", "7:37", "7:48", "7:49", "8:10"]
    assert len(found) == 7


def test_compiling_a_mission_object_works_like_compiling_text(registry: Registry) -> None:
    mission = Mission.model_validate(
        {
            "mission": "from-python",
            "steps": [
                {"id": "a", "uses": "test.echo", "with": {"value": "x"}},
                {"id": "b", "uses": "test.echo", "with": {"value": "${{ steps.a.outputs }}"}},
            ],
        }
    )

    plan = compile_mission(mission, registry.get)

    assert [(s.id, s.needs) for s in plan.steps] == [("a", []), ("b", ["a"])]


def test_a_mission_object_with_problems_raises_unpositioned_diagnostics(registry: Registry) -> None:
    mission = Mission.model_validate({"mission": "m", "steps": [{"id": "a", "uses": "nope"}]})

    with pytest.raises(DiagnosticError, match="no tool named 'nope'"):
        compile_mission(mission, registry.get)


def test_loaded_mission_keeps_what_validated_when_the_whole_did_not() -> None:
    loaded = parse_mission(
        dedent("""
        mission: partial
        runtime: process
        inputs:
          good: {type: integer, default: 1}
          bad: 5
        steps:
          - {id: fine, uses: x}
          - {id: broken, uses: x, timeout: never}
        outputs: {o: "${{ steps.fine.outputs }}"}
    """),
        "m.yaml",
    )

    assert loaded.mission is None
    assert [s.id for _, s in loaded.steps] == ["fine"]
    assert loaded.declared_ids == ["fine", "broken"]
    assert set(loaded.inputs) == {"good"} and loaded.input_names == {"good", "bad"}
    assert loaded.outputs == {"o": "${{ steps.fine.outputs }}"}
    assert loaded.runtime == "process"
    assert len(loaded.diagnostics) == 2
    with pytest.raises(DiagnosticError):
        loaded.require()


def test_duplicate_keys_are_reported_with_the_other_problems(compile_text: Compile) -> None:
    with pytest.raises(DiagnosticError) as info:
        compile_text("""
            mission: dup
            steps:
              - {id: a, uses: test.echo, with: {value: x}, with: {value: y}}
              - {id: b, uses: test.nope}
        """)

    messages = [d.message for d in info.value.diagnostics]
    assert messages == ["duplicate key 'with'", "step `b`: no tool named 'test.nope'"]


def test_unknown_runtime_lists_the_available_ones(registry: Registry) -> None:
    from toolnexus.mission import compile_source

    with pytest.raises(DiagnosticError) as info:
        compile_source(
            "mission: r\nsteps:\n  - {id: a, uses: test.echo, runtime: docker, with: {value: x}}\n",
            "m.yaml",
            registry.get,
            runtimes=("inprocess", "process", "wasm"),
        )

    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "step `a`: unknown runtime `docker`"
    assert diagnostic.hint == "available: inprocess, process, wasm"


def test_a_higher_runtime_is_allowed_when_available(registry: Registry) -> None:
    from toolnexus.mission import compile_source

    plan = compile_source(
        "mission: r\nsteps:\n  - {id: a, uses: python.exec, runtime: wasm, with: {code: x}}\n",
        "m.yaml",
        registry.get,
        runtimes=("inprocess", "process", "wasm"),
    )

    assert plan.steps[0].runtime == "wasm"


def test_command_tools_cannot_run_in_process(registry: Registry, problems: Problems) -> None:
    registry.register(
        ToolSpec.model_validate(
            {"name": "cmd.tool", "runtime": "inprocess", "entry": {"kind": "command", "argv": ["true"]}}
        )
    )

    assert problems("mission: c\nsteps:\n  - {id: a, uses: cmd.tool}\n") == [
        "3:19 step `a`: command tool cmd.tool@1.0.0 cannot run in-process"
    ]


# -- the plan hash --------------------------------------------------------------------------------


HASHED = """
    mission: hashed
    description: {description}
    steps:
      - {{id: a, uses: {uses}, with: {{value: {value}}}}}
"""


def hashed(
    compile_text: Compile, *, uses: str = "test.echo", value: str = "x", description: str = "one", file: str = "a.yaml"
) -> str:
    return compile_text(HASHED.format(uses=uses, value=value, description=description), file).hash


def test_plan_hash_is_stable_across_loads_and_files(compile_text: Compile) -> None:
    first = hashed(compile_text)

    assert len(first) == 16
    assert hashed(compile_text) == first
    assert hashed(compile_text, file="elsewhere/b.yaml") == first
    assert hashed(compile_text, description="a different description") == first


def test_plan_hash_is_the_same_for_a_mission_loaded_from_a_file(
    compile_text: Compile, registry: Registry, tmp_path: Path
) -> None:
    text = dedent(HASHED.format(uses="test.echo", value="x", description="one"))
    path = tmp_path / "m.yaml"
    path.write_text(text)

    assert compile_mission(load_mission(path), registry.get).hash == compile_text(text).hash


def test_plan_hash_changes_with_an_argument(compile_text: Compile) -> None:
    assert hashed(compile_text, value="y") != hashed(compile_text, value="x")


def test_plan_hash_changes_when_the_resolved_tool_version_changes(compile_text: Compile, registry: Registry) -> None:
    before = hashed(compile_text, uses="test.echo@1")
    registry.register(registry.get("test.echo").model_copy(update={"version": "1.0.1"}))

    after = hashed(compile_text, uses="test.echo@1")

    assert after != before
    assert hashed(compile_text, uses="test.echo@1.0.0") == before


def test_plan_hash_changes_with_the_step_settings(compile_text: Compile) -> None:
    base = compile_text("mission: h\nsteps:\n  - {id: a, uses: test.echo, with: {value: x}}\n").hash
    retried = compile_text(
        "mission: h\nsteps:\n  - {id: a, uses: test.echo, retry: {attempts: 2}, with: {value: x}}\n"
    ).hash

    assert base != retried



PINNED = """
    mission: pinned
    version: "1.0"
    inputs:
      n: {type: integer, default: 2}
    outputs: {last: "${{ steps.d.outputs }}"}
    budget: {max_cost: 1.5}
    concurrency: 3
    steps:
      - {id: a, uses: test.echo, name: Première, timeout: 30s, with: {value: "é ${{ inputs.n }}"}}
      - {id: b, uses: test.echo, needs: a, retry: {attempts: 2, delay: 2s}, with: {value: x}}
      - id: c
        uses: test.echo
        foreach: [1, 2.5, z, {k: [true, null]}]
        if: "${{ steps.a.outputs }}"
        continue_on_error: true
        with: {value: "${{ item }}"}
      - {id: d, uses: test.noop, needs: [b, c], if: false, cache: true, runtime: process}
"""


def test_plan_hash_keeps_its_value_across_versions(compile_text: Compile) -> None:
    # A run is resumed only if its mission still compiles to the hash its record holds, so the value itself is
    # kept: this one was computed by the first release's plan_hash.
    assert compile_text(PINNED).hash == "aa846f64ff1026d3"


def reference_hash(plan: Plan) -> str:
    """The plan hash as defined: the digest of the plan's JSON dump, sorted, in one piece."""
    body = plan.model_dump(mode="json", by_alias=True, exclude={"hash", "source_path", "description"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Text(str):
    """A string subclass (a dump may write a subclass otherwise than its base)."""


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"with": {"text": "plain", "n": 1, "big": 10**30, "x": 1e16, "zero": -0.0, "flag": True, "none": None}},
        {"with": {"nested": {"b": [1, {"z": "é", "a": "\u2028"}], "a": []}}, "foreach": [1, "two", {"k": None}]},
        {"with": {"inf": float("inf"), "nan": float("nan")}},  # dumped as null, not as json writes them
        {"with": {"when": datetime.date(2024, 1, 2), "at": datetime.datetime(2024, 1, 2, 3, 4, 5)}},
        {"with": {"bytes": b"xy", "tuple": (1, 2), "keys": {10: "a", 9: "b"}, "sub": Text("s")}},
        {"retry": RetryPolicy(attempts=2, delay=1.5), "timeout": 3, "if_": True, "name": "Ünï"},
        {"if_": "${{ always() }}", "foreach": "${{ inputs.items }}", "continue_on_error": True, "cache": True},
    ],
)
def test_plan_hash_is_the_digest_of_the_plans_json(values: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "tool": "t.x", "version": "1.0.0", "runtime": "inprocess", "tier": SafetyTier.READ_ONLY, "arguments": {},
        "needs": [], "if_": None, "foreach": None, "retry": None, "timeout": None, "continue_on_error": False,
        "cache": False, "name": None,
    }
    fields.update({"arguments": values.pop("with", {}), **values})
    steps = [PlanStep(id=f"s{i}", **fields) for i in range(3)]
    steps.append(PlanStep.compiled(**{**fields, "id": "c", "needs": ["s0", "s2"]}))
    steps.append(PlanStep(id="plain", tool="t.y", version="2", runtime="process", tier=SafetyTier.PRIVILEGED))
    plan = Plan(mission="m", inputs={"n": InputSpec(type="integer", default=2)}, steps=steps, outputs={"o": "x"})

    assert plan_hash(plan) == reference_hash(plan)


def test_plan_hash_of_more_steps_than_one_chunk_is_the_digest_of_the_plans_json() -> None:
    steps = [
        PlanStep(id=f"s{i}", tool="t.x", version="1", runtime="inprocess", tier=SafetyTier.READ_ONLY,
                 needs=[f"s{i - 1}"] if i else [], arguments={"i": i} if i % 7 else {"i": float("inf")})
        for i in range(2500)
    ]

    plan = Plan(mission="m", steps=steps)

    assert plan_hash(plan) == reference_hash(plan)

# -- scale ------------------------------------------------------------------------------------------


def test_a_generated_thousand_step_mission_compiles(compile_text: Compile) -> None:
    lines = ["mission: big", "steps:"]
    for i in range(1000):
        # a chain with fan-in: each step needs its predecessor and, every tenth, the step ten back
        value = "start" if i == 0 else f"${{{{ steps.s{i - 1}.outputs }}}}"
        if i >= 10 and i % 10 == 0:
            value += f"${{{{ steps.s{i - 10}.outputs }}}}"
        lines += [f"  - id: s{i}", "    uses: test.echo", f'    with: {{value: "{value}"}}']

    plan = compile_text("\n".join(lines) + "\n")

    assert [s.id for s in plan.steps] == [f"s{i}" for i in range(1000)]
    assert plan.step("s20").needs == ["s10", "s19"]
    assert plan.graph().number_of_edges() == 999 + 99


# -- fields of typed outputs ---------------------------------------------------------------------------


def test_fields_of_a_python_tools_typed_output_are_checked(problems: Problems) -> None:
    # test.count returns the TypedDict {count: int, text: str}
    found = problems("""
        mission: fields
        steps:
          - {id: c, uses: test.count, with: {text: a b}}
          - id: show
            uses: test.echo
            with:
              value: >-
                ${{ steps.c.outputs.text }} ${{ steps.c.outputs.text.upper() }} ${{ steps.c.outputs['count'] }}
                ${{ steps.c.outputs.cuont }} ${{ steps.c.outputs.count.digits }}
    """)

    assert [f.split(" ", 1)[1] for f in found] == [
        "`steps.c.outputs` has no field `cuont` (test.count@1.0.0 returns: count, text)",
        "`steps.c.outputs.count` is an integer, so it has no `digits`",
    ]


def test_open_output_schemas_are_not_second_guessed(registry: Registry, compile_text: Compile) -> None:
    # A command tool's schema lists some fields, but may print more; untyped outputs may hold anything.
    registry.register(
        ToolSpec.model_validate(
            {
                "name": "cmd.report",
                "runtime": "process",
                "entry": {"kind": "command", "argv": ["true"]},
                "output_schema": {"type": "object", "properties": {"rows": {"type": "integer"}}},
            }
        )
    )

    plan = compile_text("""
        mission: open
        steps:
          - {id: r, uses: cmd.report}
          - {id: t, uses: test.tokens, with: {n: 1}}
          - id: show
            uses: test.echo
            with: {value: "${{ steps.r.outputs.extra }} ${{ steps.t.outputs.usage.cost }}"}
    """)

    assert plan.step("show").needs == ["r", "t"]


def test_a_closed_output_schema_is_checked_for_any_tool(registry: Registry, problems: Problems) -> None:
    registry.register(
        ToolSpec.model_validate(
            {
                "name": "cmd.closed",
                "runtime": "process",
                "entry": {"kind": "command", "argv": ["true"]},
                "output_schema": {
                    "type": "object",
                    "properties": {"rows": {"type": "integer"}},
                    "additionalProperties": False,
                },
            }
        )
    )

    found = problems("""
        mission: closed
        steps:
          - {id: r, uses: cmd.closed}
          - {id: show, uses: test.echo, with: {value: "${{ steps.r.outputs.row }}"}}
    """)

    assert len(found) == 1 and "`steps.r.outputs` has no field `row`" in found[0]


def test_each_tool_is_resolved_once_per_compile(registry: Registry) -> None:
    asked: list[str] = []

    def lookup(ref: str) -> ToolSpec:
        asked.append(ref)
        return registry.get(ref)

    steps = "".join(f"  - id: s{i}\n    uses: test.echo\n    with: {{value: v{i}}}\n" for i in range(30))
    steps += "".join(f"  - id: u{i}\n    uses: test.nope\n" for i in range(3))
    with pytest.raises(DiagnosticError) as info:
        compile_mission(parse_mission(f"mission: many\nsteps:\n{steps}", "m.yaml"), lookup)
    assert sorted(asked) == ["test.echo", "test.nope"]
    # An unknown tool is still reported at every step that uses it.
    assert [d.line for d in info.value.diagnostics if "test.nope" in d.message] == [94, 96, 98]  # each `uses:` line


def test_each_step_asking_for_the_same_unusable_runtime_is_reported(problems: Callable[[str], list[str]]) -> None:
    found = problems("""
        mission: r
        runtime: docker
        steps:
          - {id: a, uses: test.echo, with: {value: x}}
          - {id: b, uses: test.echo, with: {value: y}}
          - {id: c, uses: test.echo, runtime: inprocess, with: {value: z}}
    """)
    assert found == ["3:10 step `a`: unknown runtime `docker`", "3:10 step `b`: unknown runtime `docker`"]
