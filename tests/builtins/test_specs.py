"""builtin_specs(): names, tiers and schemas of the built-in tools, and that their examples hold."""

from __future__ import annotations

import importlib

import pytest

from toolnexus.builtins import builtin_specs
from toolnexus.registry import decorator

EXPECTED = {
    "files.read": ("read_only", "inprocess"),
    "files.write": ("side_effecting", "inprocess"),
    "files.list": ("read_only", "inprocess"),
    "json.query": ("read_only", "inprocess"),
    "text.render": ("read_only", "inprocess"),
    "shell.run": ("side_effecting", "inprocess"),
    "python.exec": ("side_effecting", "process"),
    "http.fetch": ("read_only", "inprocess"),
}
ASYNC = {"shell.run", "http.fetch"}


def test_names_versions_tiers_and_runtimes():
    specs = builtin_specs()
    assert {s.name: (s.tier.value, s.runtime) for s in specs} == EXPECTED
    assert {s.version for s in specs} == {"1.0.0"}
    assert {s.name for s in specs if s.callable.is_async} == ASYNC


def test_builtins_are_not_in_the_global_decorated_list():
    sources = [s.source or "" for s in decorator._decorated]
    assert not any(source.startswith("python:toolnexus.builtins") for source in sources)


def test_specs_are_fresh_copies_bound_to_their_callables():
    first, second = builtin_specs(), builtin_specs()
    assert all(a is not b and a == b and a.callable is b.callable for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda s: s.name)
def test_schemas_are_documented(spec):
    assert spec.summary.endswith(".")
    properties = spec.input_schema["properties"]
    assert properties and all(p.get("description") for p in properties.values()), spec.name
    assert spec.output_schema is not None
    if spec.name != "json.query":  # its output is any JSON value
        assert spec.output_schema["type"] == "object" and spec.output_schema["properties"]


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda s: s.name)
def test_entry_target_is_importable_by_a_worker(spec):
    module, _, qualname = spec.entry.target.partition(":")
    assert getattr(importlib.import_module(module), qualname).__toolnexus_spec__.name == spec.name


@pytest.mark.parametrize("spec", [s for s in builtin_specs() if s.deterministic], ids=lambda s: s.name)
def test_examples_of_deterministic_tools_hold(spec):
    assert spec.examples
    for example in spec.examples:
        assert spec.callable(example.arguments) == example.result
