"""Progressive disclosure: three nested levels, as data and as text, with the same facts in both."""

from __future__ import annotations

import json

import pytest

from toolnexus.builtins import builtin_specs
from toolnexus.core.spec import Lifecycle, ToolSpec
from toolnexus.registry import spec_of, tool
from toolnexus.registry.disclosure import Level, arguments, describe, parse_level, render_text


@tool(name="demo.scale", version="2.1.0", tier="side_effecting", cost={"kind": "per_call", "amount": 0.02},
      timeout="5s", tags=["math"], lifecycle="experimental", register=False,
      examples=[{"arguments": {"values": [1, 2]}, "result": [3, 6], "description": "triple"}])
def scale(values: list[float], factor: float = 3.0, unit: str | None = None) -> list[float]:
    """Multiply numbers by a factor.

    Every value is multiplied; the unit is kept.

    Args:
        values: the numbers
        factor: what to multiply by
        unit: the unit of the numbers
    """
    return [v * factor for v in values]


SPEC: ToolSpec = spec_of(scale)


def test_levels_nest_listing_in_card_in_schema() -> None:
    listing, card, schema = (describe(SPEC, level) for level in Level)
    assert listing == {"name": "demo.scale", "version": "2.1.0", "summary": "Multiply numbers by a factor.",
                       "tier": "side_effecting"}
    assert listing.items() <= card.items()
    assert {k: v for k, v in card.items()}.items() <= schema.items()
    assert "input_schema" not in card and "examples" not in card


def test_the_card_says_how_to_call_and_what_it_costs() -> None:
    card = describe(SPEC, "card")
    assert card["arguments"] == [
        {"name": "values", "type": "array[number]", "required": True, "description": "the numbers"},
        {"name": "factor", "type": "number", "required": False, "default": 3.0, "description": "what to multiply by"},
        {"name": "unit", "type": "string | null", "required": False, "default": None,
         "description": "the unit of the numbers"},
    ]
    assert card["cost"] == {"kind": "per_call", "amount": 0.02}
    assert card["limits"]["timeout"] == 5.0
    assert card["lifecycle"] == Lifecycle.EXPERIMENTAL.value


def test_the_schema_level_has_the_full_schemas_and_the_examples() -> None:
    schema = describe(SPEC, Level.SCHEMA)
    assert schema["input_schema"] == SPEC.input_schema and schema["output_schema"] == SPEC.output_schema
    assert schema["examples"] == [{"arguments": {"values": [1, 2]}, "result": [3, 6], "description": "triple"}]


def test_listing_text_is_one_line() -> None:
    text = render_text(SPEC, "listing")
    assert text == "demo.scale@2.1.0  [side_effecting]  Multiply numbers by a factor."


def test_card_text_shows_every_argument_with_its_type_and_default() -> None:
    text = render_text(SPEC, Level.CARD)
    for arg in arguments(SPEC):
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{arg['name']}:"))
        assert arg["type"] in line and arg["description"] in line
        assert ("required" in line) == arg["required"]
    assert "default 3.0" in text and "Every value is multiplied" in text
    assert "0.02 USD per call" in text and "lifecycle: experimental" in text
    assert "input schema" not in text


def test_schema_text_carries_the_schemas_as_json_and_the_examples() -> None:
    text = render_text(SPEC, Level.SCHEMA)
    start = text.index("input schema:\n") + len("input schema:\n")
    end = text.index("\n\noutput schema:")
    assert json.loads(text[start:end]) == SPEC.input_schema
    assert 'example 1: triple\n  arguments: {"values": [1, 2]}\n  result: [3, 6]' in text


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda s: s.name)
@pytest.mark.parametrize("level", list(Level))
def test_every_builtin_renders_at_every_level(spec: ToolSpec, level: Level) -> None:
    text = render_text(spec, level)
    assert text.startswith(f"{spec.ref}  [{spec.tier.value}]")
    assert json.dumps(describe(spec, level))  # JSON-ready at every level


def test_an_unknown_level_names_the_three_levels() -> None:
    with pytest.raises(ValueError, match="unknown level 'full': use one of listing, card, schema"):
        parse_level("full")
    with pytest.raises(ValueError, match="unknown level"):
        describe(SPEC, "full")
