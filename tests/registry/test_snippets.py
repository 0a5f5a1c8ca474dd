"""Snippets: a mission step and a Python call for a tool, filled from its example or with placeholders."""

from __future__ import annotations

import ast

from ruamel.yaml import YAML

from toolnexus.core.spec import ToolExample, ToolSpec
from toolnexus.registry.snippets import mission_step, python_call, starter_arguments, step_id

SCHEMA = {"type": "object", "required": ["text", "count", "mode", "from"],
          "properties": {"text": {"type": "string"}, "count": {"type": "integer"},
                         "mode": {"enum": ["fast", "slow"]}, "from": {"type": "string"},
                         "tags": {"type": "array", "items": {"type": "string"}, "default": []}}}


def test_required_arguments_get_typed_placeholders_and_optional_ones_their_defaults() -> None:
    spec = ToolSpec(name="x.y", input_schema=SCHEMA)
    assert starter_arguments(spec) == ({"text": "", "count": 0, "mode": "fast", "from": ""}, {"tags": []})


def test_the_first_example_fills_what_it_gives() -> None:
    spec = ToolSpec(name="x.y", input_schema=SCHEMA,
                    examples=[ToolExample(arguments={"text": "hi", "tags": ["a"]})])
    assert starter_arguments(spec) == ({"text": "hi", "count": 0, "mode": "fast", "from": "", "tags": ["a"]}, {})


def test_a_step_is_yaml_with_a_pinned_tool_and_its_arguments() -> None:
    spec = ToolSpec(name="my-ns.2fast", version="1.2.0", input_schema=SCHEMA)
    step = YAML(typ="safe").load(mission_step(spec))
    assert step == [{"id": "step_2fast", "uses": "my-ns.2fast@1.2.0",
                     "with": {"text": "", "count": 0, "mode": "fast", "from": ""}}]
    assert "# tags: []" in mission_step(spec)
    assert step_id(ToolSpec(name="files.read")) == "read"


def test_a_python_call_uses_keywords_or_a_dict_when_a_name_is_not_an_identifier() -> None:
    keyworded = ToolSpec(name="t", input_schema={"type": "object", "properties": {"a": {"type": "integer"}},
                                                 "required": ["a"]})
    call = next(n for n in ast.walk(ast.parse(python_call(keyworded))) if isinstance(n, ast.Call)
                and getattr(n.func, "attr", "") == "acall")
    assert [kw.arg for kw in call.keywords] == ["a"]
    # `from` is a keyword: the arguments go as a dict
    code = python_call(ToolSpec(name="x.y", input_schema=SCHEMA))
    call = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)
                and getattr(n.func, "attr", "") == "acall")
    assert ast.literal_eval(call.args[1]) == {"text": "", "count": 0, "mode": "fast", "from": ""}
