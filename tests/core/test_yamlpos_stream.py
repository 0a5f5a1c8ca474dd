"""The event loader (``load_yaml``) gives the data and problems of composing the node tree and building it."""

from __future__ import annotations

from typing import Any

import pytest

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.yamlpos import DEFAULT_LIMITS, YamlLimits, compose, load_yaml
from toolnexus.core.yamlpos.build import _build
from toolnexus.core.yamlpos.resolver import _yaml

DOCUMENTS = {
    "bad scalar anchored in a dropped entry, aliased later": "? [x]\n: &v !!int abc\nport: *v\n",
    "bad scalar anchored, aliased twice": "a: &v !!int abc\nb: *v\nc: *v\n",
    "mission": "mission: m\nconcurrency: 64\nsteps:\n  - id: a\n    uses: t\n    needs: [b, c]\n",
    "scalars": "a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf: on\ng: yes\nh: 0o17\ni: 0x1f\nj: '1'\nk: .inf\nl: -.nan\nm:\n",
    "tags": "a: !!str 1\nb: !!int '7'\nc: !!float x\nd: !custom v\ne: !!int abc\nf: !!binary aGk=\n",
    "duplicates": "a: 1\nb: 2\na: 3\nnested: {x: 1, x: 2}\n",
    "keys": "1: a\ntrue: b\nnull: c\n1.5: d\n[x, y]: e\n{k: v}: f\ng: 7\n",
    "dropped value": "[a]: !!int nope\n{k: v}: {d: 1, d: 2}\nok: 1\n",
    "merge": "base: &b {x: 1, y: 2}\nmore: &m {z: 3}\nc:\n  <<: *b\n  y: 9\nd:\n  <<: [*b, *m]\n  x: 0\n",
    "merge written first": "base: &b {x: 1}\nc:\n  x: 5\n  <<: *b\n",
    "merge value position": "a: <<\n",
    "aliases": "a: &a [1, {k: v}]\nb: *a\nc: &s text\nd: *s\ne: &bad !!int nope\nf: *bad\n",
    "aliased keys": "x: &k key\n*k : 1\ny: &l [1]\n*l : 2\n",
    "anchor redefined inside": "a: &a [&a 1, 2]\nb: *a\n",
    "alias of problems": "a: &a {x: 1, x: 2, n: !!float z}\nb: *a\nc: *a\n",
    "sequence top": "- 1\n- [2, 3]\n- {a: b}\n",
    "scalar top": "just text\n",
    "empty": "",
    "comments only": "# nothing\n",
    "explicit tags on collections": "a: !!set {x, y}\nb: !!omap [{x: 1}]\nc: !thing [1]\n",
    "big int": "n: " + "9" * 5000 + "\n",
    "flow and block": "a: [1, [2, [3, {b: [4]}]]]\nc: |\n  text\n  more\nd: >\n  folded\n",
    # plain strings that start as a rule's match may (`n` as null, `t` as true), read again once resolved
    "strings starting like rules": "name: a\nnull: b\nn: nothing\nnothing: n\nnull: c\nname: d\nt: [true, t, t]\n",
    "duplicates after a merge": "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 5\n  x: 6\n  y: 7\n  y: 8\n",
    "duplicates in a list's mappings": "- {a: 1, a: 2}\n- [x, x]\n- {b: {c: 1, c: 2}, b: 3}\n",
}


def _tree(text: str) -> tuple[Any, list[Diagnostic]]:
    """The node tree's data and problems (the way positions are worked out)."""
    yaml = _yaml()
    node = compose(text, "f.yaml", DEFAULT_LIMITS, yaml)
    problems: list[Diagnostic] = []
    data = _build(node, (), None, yaml.constructor, problems, "f.yaml") if node is not None else None
    return data, problems


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (NaN is not equal to itself)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("text", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_events_give_the_data_and_problems_of_the_node_tree(text: str) -> None:
    problems: list[Diagnostic] = []
    data, _ = load_yaml(text, "f.yaml", problems)
    expected, expected_problems = _tree(text)
    assert _same(data, expected)
    assert problems == expected_problems


def test_every_alias_is_a_copy_of_its_value() -> None:
    data, _ = load_yaml("a: &a {k: [1]}\nb: *a\nc: *a\n")
    data["b"]["k"].append(2)
    assert data["a"] == data["c"] == {"k": [1]}


def test_problems_inside_an_aliased_value_are_said_at_each_alias() -> None:
    problems: list[Diagnostic] = []
    load_yaml("a: &a {x: 1, x: 2}\nb: *a\n", "f.yaml", problems)
    assert [(p.message, p.line, p.column) for p in problems] == [("duplicate key 'x'", 1, 14)] * 2


def test_the_value_of_a_dropped_key_is_not_read() -> None:
    problems: list[Diagnostic] = []
    data, _ = load_yaml("[a]: {d: 1, d: 2}\nok: 1\n", "f.yaml", problems)
    assert data == {"ok": 1}
    assert [p.message for p in problems] == ["a mapping key must be a plain scalar"]


def test_equal_strings_are_one_object() -> None:
    data, _ = load_yaml("- {id: a, uses: tool}\n- {id: b, uses: tool, needs: [a]}\n")
    assert data[0]["uses"] is data[1]["uses"]
    assert data[1]["needs"][0] is data[0]["id"]


REFUSED = {
    "deep": ("a: " + "[" * 20 + "]" * 20 + "\n", YamlLimits(max_depth=10)),
    "many values": ("[" + ", ".join("x" * 30) + "]\n", YamlLimits(max_nodes=10)),
    "alias bomb": ("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", YamlLimits(max_alias_nodes=20)),
    "alias inside its value": ("a: &a [1, *a]\n", DEFAULT_LIMITS),
    "undefined alias": ("a: *nope\n", DEFAULT_LIMITS),
    "two documents": ("a: 1\n---\nb: 2\n", DEFAULT_LIMITS),
    "syntax": ("a: [1, 2\n", DEFAULT_LIMITS),
}


@pytest.mark.parametrize(("text", "limits"), REFUSED.values(), ids=REFUSED.keys())
def test_events_refuse_what_the_node_tree_refuses_with_the_same_diagnostic(text: str, limits: YamlLimits) -> None:
    with pytest.raises(DiagnosticError) as loaded:
        load_yaml(text, "f.yaml", [], limits)
    with pytest.raises(DiagnosticError) as composed:
        compose(text, "f.yaml", limits)
    assert loaded.value.diagnostics == composed.value.diagnostics


@pytest.mark.parametrize("limit", range(1, 75))
def test_aliases_stand_for_as_many_values_as_in_the_node_tree(limit: int) -> None:
    text = "a: &a [x, {k: v}, x]\nb: &b [*a, {m: *a}, [y, z]]\nc: [*b, *a, {n: *b}]\n"
    limits = YamlLimits(max_alias_nodes=limit)

    try:
        load_yaml(text, "f.yaml", [], limits)
        loaded: list[Diagnostic] = []
    except DiagnosticError as exc:
        loaded = exc.diagnostics
    try:
        compose(text, "f.yaml", limits)
        composed: list[Diagnostic] = []
    except DiagnosticError as exc:
        composed = exc.diagnostics

    assert loaded == composed
