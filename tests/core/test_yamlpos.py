"""YAML loading with positions: where every value and key sits, and syntax errors that say how to fix them."""

from __future__ import annotations

from textwrap import dedent

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.yamlpos import DEFAULT_LIMITS, Positions, YamlLimits, decode, load_yaml, validation_diagnostics

DOC = dedent("""\
    name: demo
    items:
      - first
      - {key: 1, other: [a, b]}
    nested:
      deep:
        value: true
    number: 3.5
""")


def test_values_come_back_as_plain_data() -> None:
    data, _ = load_yaml(DOC)

    assert data == {
        "name": "demo",
        "items": ["first", {"key": 1, "other": ["a", "b"]}],
        "nested": {"deep": {"value": True}},
        "number": 3.5,
    }
    assert type(data) is dict and type(data["items"]) is list


@pytest.mark.parametrize(
    ("path", "position"),
    [
        ((), (1, 1)),
        (("name",), (1, 7)),
        (("items",), (3, 3)),
        (("items", 0), (3, 5)),
        (("items", 1), (4, 5)),
        (("items", 1, "key"), (4, 11)),
        (("items", 1, "other", 1), (4, 25)),
        (("nested", "deep", "value"), (7, 12)),
        (("number",), (8, 9)),
    ],
)
def test_positions_of_values_are_one_based(path: tuple[str | int, ...], position: tuple[int, int]) -> None:
    _, positions = load_yaml(DOC)

    assert positions.at(path) == position


def test_positions_of_keys() -> None:
    _, positions = load_yaml(DOC)

    assert positions.at(("items", 1, "other"), key=True) == (4, 14)
    assert positions.at(("nested", "deep"), key=True) == (6, 3)
    assert positions.at(("nested", "deep")) == (7, 5)  # the value, when the key is not asked for


def test_a_missing_path_falls_back_to_its_nearest_ancestor() -> None:
    _, positions = load_yaml(DOC)

    assert positions.at(("items", 1, "missing", 3)) == (4, 5)
    assert positions.at(("nowhere",)) == (1, 1)
    assert Positions("f").at(("a",)) == (None, None)


def test_diagnostic_carries_file_and_position() -> None:
    _, positions = load_yaml(DOC, "doc.yaml")

    diagnostic = positions.diagnostic(("items", 1, "key"), "bad key", "fix it")

    assert diagnostic == Diagnostic(message="bad key", file="doc.yaml", line=4, column=11, hint="fix it")
    assert str(diagnostic) == "doc.yaml:4:11: bad key (fix it)"


@pytest.mark.parametrize("derived", ["{<<: *base, b: 3}", "{b: 3, <<: *base}", "{<<: [*base, *more], b: 3}"])
def test_merge_keys_are_expanded_and_explicit_keys_win_without_being_duplicates(derived: str) -> None:
    problems: list[Diagnostic] = []
    data, _ = load_yaml(
        f"base: &base {{a: 1, b: 2}}\nmore: &more {{a: 9, c: 4}}\nderived: {derived}\n", problems=problems
    )

    assert problems == []
    assert data["derived"]["a"] == 1 and data["derived"]["b"] == 3
    if "more" in derived:
        assert data["derived"]["c"] == 4  # the first source of a key wins


def test_empty_document_is_none() -> None:
    assert load_yaml("# only a comment\n")[0] is None


def test_duplicate_keys_raise_unless_collected() -> None:
    text = "a: 1\nb: 2\na: 3\n"
    with pytest.raises(DiagnosticError) as info:
        load_yaml(text, "d.yaml")
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.message) == (3, 1, "duplicate key 'a'")

    problems: list[Diagnostic] = []
    data, _ = load_yaml(text, "d.yaml", problems)
    assert data == {"a": 3, "b": 2}
    assert [p.message for p in problems] == ["duplicate key 'a'"]


def test_non_scalar_keys_are_refused() -> None:
    with pytest.raises(DiagnosticError, match="a mapping key must be a plain scalar"):
        load_yaml("? [a, b]\n: 1\n")


def test_scalar_keys_become_strings_and_yes_is_not_a_boolean() -> None:
    # YAML 1.2: only true/false are booleans, so `yes` (or `no`, a country code) stays text.
    assert load_yaml("1: one\ntrue: yes\nno: false\n")[0] == {"1": "one", "True": "yes", "no": False}


@pytest.mark.parametrize(
    ("text", "position", "message", "hint"),
    [
        ("a: b: c\n", (1, 5), "mapping values are not allowed", "check indentation"),
        ("a: 'open\nb: 1\n", (1, 4), "unclosed quote", "close the quote"),
        ('a: "open\n', (1, 4), "unclosed quote", "close the quote"),
        ("a:\n\tb: 1\n", (2, 1), "a tab character", "indent with spaces"),
        ("a: [1, 2\n", (2, 1), "flow sequence that starts at line 1, column 4", "close the list with `]`"),
        ("a: {b: 1\n", (2, 1), "flow mapping that starts at line 1, column 4", "close the mapping with `}`"),
        ("a: *nope\n", (1, 4), "found undefined alias", "define the anchor"),
        ("a: 1\n---\nb: 2\n", (2, 1), "one YAML document, but a second one starts here", "remove the `---` line"),
        ("a:\n  - b\n c: 1\n", (3, 2), "did not find expected key while parsing a block mapping", "check indentation"),
    ],
)
def test_syntax_errors_are_positioned_and_explained(
    text: str, position: tuple[int, int], message: str, hint: str
) -> None:
    with pytest.raises(DiagnosticError) as info:
        load_yaml(text, "bad.yaml")

    (diagnostic,) = info.value.diagnostics
    assert diagnostic.file == "bad.yaml"
    assert (diagnostic.line, diagnostic.column) == position
    assert diagnostic.message.startswith("invalid YAML: ")
    assert message in diagnostic.message
    assert diagnostic.hint is not None and hint in diagnostic.hint


# -- pydantic errors onto positions ---------------------------------------------------------------------


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int
    mode: str | bool = "x"


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    inner: Inner
    items: list[Inner] = []


def diagnostics(text: str, **kwargs: object) -> list[Diagnostic]:
    data, positions = load_yaml(dedent(text), "m.yaml")
    with pytest.raises(ValidationError) as info:
        Outer.model_validate(data)
    return validation_diagnostics(info.value, positions, **kwargs)  # type: ignore[arg-type]


def test_validation_errors_are_positioned_and_sorted() -> None:
    found = diagnostics(
        """\
        inner: {count: many}
        items:
          - {count: 1, extra: 2}
          - {mode: [1]}
    """,
        known_fields=lambda path: ["count", "mode"] if path else ["name", "inner", "items"],
    )

    assert [(d.line, d.column, d.message, d.hint) for d in found] == [
        (1, 1, "missing required key 'name' in document", None),
        (1, 16, "inner.count: expected an integer, got a string 'many'", None),
        (3, 16, "unknown key 'extra' in items.0", "allowed here: count, mode"),
        (4, 5, "missing required key 'count' in items.1", None),
        (4, 12, "items.1.mode: expected a string or a boolean (true/false), got a list", None),
    ]


def test_unknown_keys_get_a_did_you_mean() -> None:
    (found,) = diagnostics("name: n\ninner: {count: 1, mdoe: x}\n", known_fields=lambda path: ["count", "mode"])

    assert found.message == "unknown key 'mdoe' in inner"
    assert found.hint == "did you mean `mode`?"
    assert (found.line, found.column) == (2, 19)  # the key, not its value


def test_hints_for_fields_can_be_supplied() -> None:
    (found,) = diagnostics("name: n\ninner: 5\n", hint_for=lambda path, kind: f"{'.'.join(map(str, path))}/{kind}")

    assert found.message == "inner: expected a mapping (key: value), got an integer 5"
    assert found.hint == "inner/model_type"


def test_an_unpositioned_document_still_gets_diagnostics() -> None:
    with pytest.raises(ValidationError) as info:
        Outer.model_validate({"name": 1, "inner": {"count": 1}})

    (found,) = validation_diagnostics(info.value, Positions(None))
    assert found.message == "name: expected a string, got an integer 1"
    assert (found.line, found.column) == (None, None)


SCALARS = [
    "plain", "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "yes", "no", "on", "off", "y",
    "0", "-0", "+12", "0o17", "0x1F", "017", "0b101", "1_000", "3.5", "-.5", ".5", "1e3", "-1.5E-3", ".inf",
    "-.Inf", ".NaN", "2024-01-02", "2024-01-02T03:04:05Z", "1:20", "10.0.0.1", "!", "! 12", "'quoted 1'", '"2"',
    "!!str 12", "!!int '7'", "!!float 1", "[1, two, 3.0, null]", "{k: 3}",
]


@pytest.mark.parametrize("scalar", SCALARS)
def test_scalars_resolve_as_ruamel_yaml_1_2_does(scalar: str) -> None:
    # The loader looks YAML 1.2's implicit rules up once rather than per scalar: same answers as
    # ruamel.yaml's own resolver for a YAML 1.2 document.
    from ruamel.yaml import YAML

    reference = YAML(typ="safe", pure=False)
    reference.version = (1, 2)
    text = f"value: {scalar}\n"
    expected = reference.load(text)["value"]
    got = load_yaml(text)[0]["value"]
    if expected != expected:  # NaN
        assert got != got
    else:
        assert got == expected and type(got) is type(expected), (scalar, got, expected)


# -- bounds on hostile input ----------------------------------------------------------------------


def refusal(text: str, limits: YamlLimits = DEFAULT_LIMITS) -> Diagnostic:
    with pytest.raises(DiagnosticError) as info:
        load_yaml(text, "f.yaml", limits=limits)
    (found,) = info.value.diagnostics
    assert found.file == "f.yaml"
    return found


def nested(depth: int) -> str:
    """A document whose innermost list is ``depth`` levels deep (the top-level mapping is 1)."""
    return "a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"


def test_nesting_up_to_the_bound_loads_and_one_level_more_is_refused_where_it_starts() -> None:
    limits = YamlLimits(max_depth=10)

    assert load_yaml(nested(10), limits=limits)[0] == {"a": [[[[[[[[[]]]]]]]]]}
    found = refusal(nested(11), limits)

    assert (found.line, found.column) == (1, 13)  # the eleventh level: the tenth `[`
    assert "more than 10 levels deep" in found.message
    assert found.hint is not None and "max_depth" in found.hint


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 100_000,
        "- " * 100_000 + "x\n",
        "".join(" " * i + f"k{i}:\n" for i in range(200)),
        "a: " + "{b: " * 100_000,
    ],
    ids=["flow lists", "block lists", "indented mappings", "flow mappings"],
)
def test_deep_nesting_of_every_style_is_refused_without_reading_it_all(text: str) -> None:
    found = refusal(text)

    assert "more than 128 levels deep" in found.message
    assert found.line is not None


def test_aliases_within_the_bound_expand_into_values_of_their_own() -> None:
    data, _ = load_yaml("base: &b {x: [1, 2]}\nuse: *b\nmerged: {<<: *b, y: 3}\n")

    assert data == {"base": {"x": [1, 2]}, "use": {"x": [1, 2]}, "merged": {"x": [1, 2], "y": 3}}
    assert data["use"] is not data["base"] and data["use"]["x"] is not data["base"]["x"]


def test_alias_expansion_is_counted_as_written_out_and_refused_past_the_bound() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"  # each *a stands for 4 values: the list and its items

    assert load_yaml(text, limits=YamlLimits(max_alias_nodes=12))[0]["b"] == [[1, 2, 3]] * 3
    found = refusal(text, YamlLimits(max_alias_nodes=11))

    assert (found.line, found.column) == (2, 13)  # the third alias
    assert "stand for more than 11 values" in found.message
    assert found.hint is not None and "max_alias_nodes" in found.hint


def test_an_alias_bomb_is_refused_before_anything_is_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 20)]

    found = refusal("\n".join(lines) + "\n")  # 10**19 values written out

    assert "stand for more than 100,000 values" in found.message
    assert found.line == 5  # a4's eighth alias: each *a3 stands for 11,111 values


@pytest.mark.parametrize(
    ("text", "where"),
    [("a: &a [*a]\n", (1, 8)), ("a: &a {k: [1, *a]}\n", (1, 15)), ("&a [&b x, *b, *a]\n", (1, 15))],
)
def test_an_alias_inside_the_value_it_names_is_refused(text: str, where: tuple[int, int]) -> None:
    found = refusal(text)

    assert (found.line, found.column) == where
    assert "inside the value it names" in found.message


def test_an_anchor_redefined_inside_its_value_names_the_inner_value() -> None:
    # YAML: an alias names the most recent node with that anchor, here the complete inner scalar.
    assert load_yaml("&a [&a x, *a]\n")[0] == ["x", "x"]


def test_the_number_of_values_is_bounded() -> None:
    found = refusal("a: [" + "x, " * 20 + "]\n", YamlLimits(max_nodes=20))

    assert (found.line, found.column) == (1, 56)  # the 21st value: the mapping, `a`, the list, its 18th item
    assert "more than 20 values" in found.message


def test_the_size_is_bounded_in_utf8_bytes_and_the_crossing_point_is_reported() -> None:
    limits = YamlLimits(max_bytes=1024)
    text = "a: x\nb: " + "é" * 600 + "\n"  # 607 characters, 1,208 bytes

    found = refusal(text, limits)

    assert (found.line, found.column) == (2, 4 + (1024 - 8) // 2)
    assert "larger than 1 KB" in found.message
    assert load_yaml("a: " + "é" * 500 + "\n", limits=limits)[0] == {"a": "é" * 500}


def test_a_number_with_too_many_digits_is_a_positioned_problem() -> None:
    found = refusal("a: 1\nb: " + "7" * 5000 + "\n")

    assert (found.line, found.column) == (2, 4)
    assert "5,000 digits" in found.message
    assert found.hint is not None and "quote it" in found.hint


def test_a_scalar_its_tag_cannot_construct_is_a_positioned_problem() -> None:
    found = refusal("a: !!float nope\n")

    assert (found.line, found.column) == (1, 4)
    assert "nope" in found.message


def test_invalid_utf8_is_reported_with_its_line_column_and_byte_offset() -> None:
    with pytest.raises(DiagnosticError) as info:
        decode("a: é\nb: caf\xe9\n".encode("latin-1").replace(b"a: \xe9", "a: é".encode()), "f.yaml")

    (found,) = info.value.diagnostics
    assert (found.line, found.column) == (2, 7)
    assert "invalid byte 0xe9 at byte offset 12" in found.message
    assert found.hint is not None and "UTF-8" in found.hint


def test_a_control_character_is_reported_at_its_character_column() -> None:
    found = refusal("é: ok\nb: 'x\x07'\n")

    assert (found.line, found.column) == (2, 6)
    assert "U+0007" in found.message


def test_a_lone_surrogate_in_text_given_directly_is_a_positioned_problem() -> None:
    found = refusal("a: b\nc: \ud800\n")

    assert (found.line, found.column) == (2, 4)


@pytest.mark.parametrize("bad", [{"max_depth": 0}, {"max_depth": 201}, {"max_nodes": 0}, {"max_alias_nodes": -1}])
def test_limits_out_of_range_are_refused_when_made(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="max_"):
        YamlLimits(**bad)
