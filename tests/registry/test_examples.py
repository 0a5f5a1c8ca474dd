"""Tool examples: valid against their tool's schemas, and the built-ins' read-only ones hold when run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jsonschema import Draft202012Validator

import toolnexus as tn
from toolnexus.builtins import builtin_specs
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.registry import Registry, load_entry_points, spec_of


def registered_specs() -> list[ToolSpec]:
    """Every tool any workspace registers (built-ins, installed packages' tools) plus the test tools."""
    from tests.fixtures.tools import ALL

    registry = Registry(builtin_specs())
    load_entry_points(registry)
    return registry.list(all_versions=True) + [spec_of(fn) for fn in ALL]


def problems(schema: dict, value: object) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(value)]


@pytest.mark.parametrize("spec", registered_specs(), ids=lambda s: s.ref)
def test_examples_are_valid_against_the_tool_schemas(spec: ToolSpec) -> None:
    for number, example in enumerate(spec.examples, 1):
        assert not problems(spec.input_schema, example.arguments), (spec.ref, number)
        if spec.output_schema is not None and example.result is not None:
            assert not problems(spec.output_schema, example.result), (spec.ref, number)


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda s: s.name)
def test_every_builtin_has_an_example(spec: ToolSpec) -> None:
    assert spec.examples, f"{spec.name} has no example"


# Files the built-in examples read (files.read's notes, files.list's CSV extracts).
EXAMPLE_FILES = {"data/notes.txt": "hello\n", "data/emea.csv": "region\nemea\n", "data/apac.csv": "region\napac\n"}


@pytest.fixture(scope="module")
def example_nexus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tn.Nexus]:
    root = tmp_path_factory.mktemp("examples")
    for path, text in EXAMPLE_FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    with tn.Nexus(root, store=False, overrides={"tracking": {"enabled": False}}) as nexus:
        yield nexus


READ_ONLY_OFFLINE = [s for s in builtin_specs() if s.tier is SafetyTier.READ_ONLY and "network" not in s.tags]


def test_the_offline_read_only_builtins_are_the_ones_expected() -> None:
    assert sorted(s.name for s in READ_ONLY_OFFLINE) == ["files.list", "files.read", "json.query", "text.render"]


@pytest.mark.anyio
@pytest.mark.parametrize("spec", READ_ONLY_OFFLINE, ids=lambda s: s.name)
async def test_read_only_builtin_examples_give_their_stated_result(spec: ToolSpec, example_nexus: tn.Nexus) -> None:
    for example in spec.examples:
        result = await example_nexus.acall(spec.ref, example.arguments)
        assert result.ok, result.error
        assert result.output == example.result
