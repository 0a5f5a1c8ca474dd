"""``@tool``: schemas from type hints and Google docstrings, output schema from the return type, settings."""

from __future__ import annotations

import time
from typing import Any, Literal

import anyio
import pytest
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict

from toolnexus.core.bounds import capping_output
from toolnexus.core.call import ToolCall
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.core.spec import CostModel, Lifecycle, Limits, SafetyTier, ToolExample, ToolSpec
from toolnexus.registry import Registry, decorator, follow_decorated, spec_of, tool
from toolnexus.sandbox.inprocess import InProcessRuntime


class Total(BaseModel):
    total: int
    label: str


class Point(TypedDict):
    x: float
    y: float


@tool(
    name="demo.add",
    version="1.2.3",
    tier="side_effecting",
    timeout="30s",
    memory="256MB",
    cost={"kind": "per_call", "amount": 0.1},
    tags=["math", "demo"],
    deterministic=True,
    register=False,
    examples=[{"arguments": {"a": 1, "b": 2}, "result": {"total": 3, "label": "x"}}],
)
def add(a: int, b: int = 2, mode: Literal["x", "y"] = "x") -> Total:
    """Add two numbers.

    Adds them exactly, with no rounding.

    Args:
        a: The first number.
        b: The second number.
        mode: How to label the total.

    Returns:
        The total and its label.
    """
    return Total(total=a + b, label=mode)


@tool(register=False)
async def doubled(values: list[int], point: Point | None = None) -> list[int]:
    """Double each value."""
    await anyio.lowlevel.checkpoint()
    return [v * 2 for v in values]


@tool(register=False)
def undocumented(flag: bool, *extra: int, **options: str) -> None:
    return None


def test_input_schema_comes_from_hints_defaults_and_docstring_args() -> None:
    schema = spec_of(add).input_schema

    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["a"]
    assert schema["properties"]["a"] == {"type": "integer", "title": "A", "description": "The first number."}
    assert schema["properties"]["b"]["default"] == 2
    assert schema["properties"]["b"]["description"] == "The second number."
    assert schema["properties"]["mode"]["enum"] == ["x", "y"]
    assert "title" not in schema


def test_output_schema_comes_from_the_return_type_and_the_returns_section() -> None:
    output = spec_of(add).output_schema

    assert output is not None
    assert output["type"] == "object"
    assert output["required"] == ["total", "label"]
    assert output["properties"]["total"]["type"] == "integer"
    assert output["description"] == "The total and its label."


def test_typed_dicts_and_lists_give_precise_schemas() -> None:
    spec = spec_of(doubled)

    assert spec.output_schema == {"type": "array", "items": {"type": "integer"}}
    point = spec.input_schema["properties"]["point"]
    assert point["default"] is None
    assert "Point" in str(point)  # a $ref to the TypedDict's definition
    assert spec.input_schema["$defs"]["Point"]["properties"]["x"]["type"] == "number"


def test_summary_and_description_come_from_the_docstring() -> None:
    spec = spec_of(add)

    assert spec.summary == "Add two numbers."
    assert spec.description == "Add two numbers.\n\nAdds them exactly, with no rounding."


def test_no_docstring_no_return_and_var_args_are_fine() -> None:
    spec = spec_of(undocumented)

    assert spec.name == "undocumented"
    assert spec.summary == "" and spec.description == ""
    assert spec.output_schema is None
    assert list(spec.input_schema["properties"]) == ["flag"]  # *extra and **options are not arguments


def test_settings_are_parsed() -> None:
    spec = spec_of(add)

    assert (spec.name, spec.version, spec.tier) == ("demo.add", "1.2.3", SafetyTier.SIDE_EFFECTING)
    assert spec.limits.timeout == 30.0
    assert spec.limits.memory == 256_000_000
    assert spec.cost == CostModel(kind="per_call", amount=0.1)
    assert spec.tags == ["math", "demo"]
    assert spec.deterministic is True
    assert spec.runtime == "inprocess"
    assert spec.examples[0].arguments == {"a": 1, "b": 2}
    assert spec.entry.kind == "python"
    assert spec.entry.target == f"{__name__}:add"
    assert spec.source == f"python:{__name__}:add"


def test_defaults_of_a_plain_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decorator, "_decorated", [])  # a bare @tool registers globally: keep that local

    @tool
    def bare(text: str) -> str:
        """Echo."""
        return text

    spec = spec_of(bare)
    assert decorator._decorated == [spec]

    assert (spec.name, spec.version, spec.tier, spec.runtime) == ("bare", "1.0.0", SafetyTier.READ_ONLY, "inprocess")
    assert spec.cost == CostModel()
    assert spec.limits.timeout is None and spec.limits.memory is None
    assert not spec.deterministic


def test_the_function_is_returned_unchanged_and_still_callable() -> None:
    assert add(1, 2) == Total(total=3, label="x")
    assert isinstance(spec_of(add), ToolSpec)
    assert spec_of(len) is None


def test_the_bound_callable_validates_json_arguments_and_dumps_json_output() -> None:
    call = spec_of(add).callable
    assert call is not None

    assert call({"a": 1}) == {"total": 3, "label": "x"}
    assert call({"a": "4", "b": 1, "mode": "y"}) == {"total": 5, "label": "y"}
    with pytest.raises(ValidationError):
        call({"a": "four"})
    with pytest.raises(ValidationError):
        call({"a": 1, "c": 2})  # unknown arguments are refused


def test_async_functions_are_awaited_through_acall() -> None:
    call = spec_of(doubled).callable
    assert call is not None and call.is_async

    assert anyio.run(call.acall, {"values": [1, 2]}) == [2, 4]
    assert not spec_of(add).callable.is_async


def shared_list(depth: int) -> list[Any]:
    """A list that holds one list twice, ``depth`` levels deep: small in memory, 2**depth values as JSON."""
    value: list[Any] = [0]
    for _ in range(depth):
        value = [value, value]
    return value


@tool(register=False)
def shared_result(depth: int) -> list[Any]:
    """Return a list that shares its parts."""
    return shared_list(depth)


class Holder(BaseModel):
    rows: list[Any]


@tool(register=False)
def shared_model(depth: int) -> Holder:
    """Return a model whose field shares its parts."""
    return Holder.model_construct(rows=shared_list(depth))


@pytest.mark.parametrize("fn", [shared_result, shared_model], ids=["list", "model"])
def test_a_result_that_shares_its_parts_is_refused_before_pydantic_expands_it(fn: Any) -> None:
    call = spec_of(fn).callable
    started = time.monotonic()
    with pytest.raises(ToolFailure) as refused:
        call({"depth": 60})  # 2**60 values once converted: pydantic would hang, holding the GIL
    assert refused.value.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert refused.value.error.details == {"max_output": 16 * 2**20}
    assert "output is over the 16777216-byte cap (as JSON)" in refused.value.error.message
    assert time.monotonic() - started < 5


def test_the_result_is_measured_against_the_cap_of_the_call_under_way() -> None:
    call = spec_of(shared_result).callable
    assert len(call({"depth": 4})) == 2  # 16 values: well within the default cap
    with capping_output(20), pytest.raises(ToolFailure, match="over the 20-byte cap"):
        call({"depth": 4})
    with capping_output(None):  # no cap of ours: converted as it is
        assert call({"depth": 4}) == shared_list(4)


@pytest.mark.anyio
async def test_the_in_process_runtime_refuses_a_shared_result_over_the_calls_cap() -> None:
    spec = spec_of(shared_result)
    limits = spec.limits.merged(Limits(max_output=1000))
    with anyio.fail_after(30):
        outcome = await InProcessRuntime().invoke(spec, ToolCall(tool=spec.name, arguments={"depth": 60}), limits)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert outcome.error.details == {"max_output": 1000}  # the call's cap reached the tool's wrapper


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": "one"}, "'one' is not a version"),
        ({"tier": "superuser"}, "superuser"),
        ({"timeout": "soon"}, "'soon' is not a duration"),
        ({"memory": "lots"}, "'lots' is not a size"),
        ({"name": "has space"}, "is not a tool name"),
        ({"lifecycle": "beta"}, "unknown lifecycle 'beta' \\(use one of experimental, active, deprecated, retired\\)"),
        ({"examples": [{"result": 1}]}, "example 1 is not .*arguments: Field required"),
        ({"examples": [{"arguments": {}}, {"arguments": [1]}]}, "example 2 is not .*arguments: Input should be"),
    ],
)
def test_bad_settings_fail_at_decoration_with_a_clear_message(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):

        @tool(register=False, **kwargs)  # type: ignore[call-overload]
        def broken(x: int) -> int:
            return x


def test_decorated_tools_reach_followers_old_and_new(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decorator, "_decorated", [])
    monkeypatch.setattr(decorator, "_decorated_listeners", [])

    @tool(name="probe.first")
    def first() -> int:
        return 1

    registry = Registry()
    follow_decorated(registry.register)
    assert registry.names() == ["probe.first"]

    @tool(name="probe.second")
    def second() -> int:
        return 2

    @tool(name="probe.private", register=False)
    def private() -> int:
        return 3

    assert registry.names() == ["probe.first", "probe.second"]


def test_lifecycle_and_examples_are_declared_on_the_decorator() -> None:
    @tool(name="demo.new", lifecycle="experimental", register=False,
          examples=[ToolExample(arguments={"x": 1}, result=2, description="doubles"), {"arguments": {"x": 0}}])
    def new(x: int) -> int:
        return 2 * x

    spec = spec_of(new)
    assert spec.lifecycle is Lifecycle.EXPERIMENTAL
    assert [(e.arguments, e.result, e.description) for e in spec.examples] == [({"x": 1}, 2, "doubles"),
                                                                               ({"x": 0}, None, None)]
    assert spec_of(add).lifecycle is Lifecycle.ACTIVE
