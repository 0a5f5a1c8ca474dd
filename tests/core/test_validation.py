"""One cache of compiled validators and one path format (JSON pointer) for every schema check."""

from __future__ import annotations

from toolnexus.core.spec import ToolSpec
from toolnexus.core.validation import argument_validator, compiled_validator, schema_problems, validator


def command_tool(name: str, input_schema: dict) -> ToolSpec:
    entry = {"kind": "command", "argv": ["true"]}
    return ToolSpec.model_validate({"name": name, "runtime": "process", "entry": entry, "input_schema": input_schema})


SCHEMA = {
    "type": "object",
    "properties": {"points": {"type": "array", "items": {"$ref": "#/$defs/Point"}}, "free": True},
    "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
}


def test_equal_schemas_share_one_compiled_validator() -> None:
    first, second = command_tool("a.tool", SCHEMA), command_tool("b.tool", SCHEMA)

    assert validator(first, "input") is validator(second, "input")
    assert argument_validator(first, "points") is argument_validator(second, "points")
    assert argument_validator(first, "points") is argument_validator(first, "points")


def test_an_undeclared_argument_has_no_validator() -> None:
    assert argument_validator(command_tool("a.tool", SCHEMA), "nope") is None
    assert argument_validator(command_tool("a.tool", {}), "points") is None


def test_problems_are_located_by_json_pointer_in_path_order() -> None:
    check = argument_validator(command_tool("a.tool", SCHEMA), "points")
    assert check is not None

    found = schema_problems(check, [{"x": "two"}, {"x": 1}, {"x": "one"}])

    assert [(p["path"], p["message"]) for p in found] == [
        ("/0/x", "'two' is not of type 'integer'"),
        ("/2/x", "'one' is not of type 'integer'"),
    ]
    assert schema_problems(compiled_validator({"type": "string"}), 1)[0]["path"] == "/"


def test_a_message_quoting_a_huge_value_is_shortened() -> None:
    (problem,) = schema_problems(compiled_validator({"type": "string"}), list(range(100_000)))

    assert len(problem["message"]) < 250
    assert problem["message"].startswith("[0, 1, 2") and problem["message"].endswith("is not of type 'string'")
