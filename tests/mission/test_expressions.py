"""The ``${{ … }}`` expression engine: references, the Jinja sandbox, GitHub operators, templates, truth."""

from __future__ import annotations

from typing import Any

import pytest

from toolnexus.mission.expressions import Expression, ExpressionError, Template, expression, truthy

CONTEXT: dict[str, Any] = {
    "inputs": {"region": "emea", "n": 3, "flag": False, "missing_value": None, "null": "a key named null"},
    "steps": {
        "fetch": {
            "outputs": {"text": "a b c", "items": [10, 20], "rows": [{"name": "x"}], "size": 5},
            "status": "succeeded",
            "error": None,
        },
    },
    "item": {"name": "first"},
    "index": 0,
}


def evaluate(source: str, context: dict[str, Any] = CONTEXT) -> Any:
    return expression(source).evaluate(context)


# -- plain references: the fast path ----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("inputs.region", ("inputs", "region")),
        ("steps.fetch.outputs.items[1]", ("steps", "fetch", "outputs", "items", 1)),
        ("steps.fetch.outputs['text']", ("steps", "fetch", "outputs", "text")),
        ('steps.fetch.outputs["a key"]', ("steps", "fetch", "outputs", "a key")),
        ("item.name", ("item", "name")),
    ],
)
def test_plain_references_take_the_fast_path(source: str, path: tuple[Any, ...]) -> None:
    expr = Expression(source)

    assert expr.path == path
    assert expr.refs == [path]
    assert expr.calls == set()


def test_fast_path_values_keep_their_types() -> None:
    assert evaluate("steps.fetch.outputs.items") == [10, 20]
    assert evaluate("steps.fetch.outputs.items[1]") == 20
    assert evaluate("steps.fetch.outputs.rows[0].name") == "x"
    assert evaluate("inputs.n") == 3
    assert evaluate("inputs.missing_value") is None
    assert evaluate("index") == 0


def test_fast_path_does_not_compile_a_jinja_template() -> None:
    expr = Expression("steps.fetch.outputs.size")
    expr.evaluate(CONTEXT)

    assert expr._compiled is None  # the walk needs no template machinery


def test_a_mapping_key_wins_over_a_method_of_the_same_name() -> None:
    context = {"steps": {"s": {"outputs": {"items": "the key", "keys": [1]}}}}

    assert evaluate("steps.s.outputs.items", context) == "the key"
    assert evaluate("steps.s.outputs.items ~ '!'", context) == "the key!"  # the sandbox path too
    assert evaluate("steps.s.outputs.keys | length", context) == 1


@pytest.mark.parametrize("source", ["null", "none", "None", "true", "True", "false", "False"])
def test_constants_are_not_references(source: str) -> None:
    expr = Expression(source)

    assert expr.path is None
    assert expr.refs == []
    assert (
        expr.evaluate({})
        is {"null": None, "none": None, "None": None, "true": True, "True": True, "false": False, "False": False}[
            source
        ]
    )


def test_a_key_named_null_is_still_a_reference() -> None:
    assert evaluate("inputs.null") == "a key named null"
    assert evaluate("inputs.null ~ '!'") == "a key named null!"


# -- errors name what is missing --------------------------------------------------------------


def test_missing_key_error_names_the_key_and_what_exists() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("inputs.regoin")

    message = str(info.value)
    assert "`inputs.regoin`" in message
    assert "inputs has no 'regoin'" in message
    assert "region" in message  # what it has instead


def test_missing_item_error_names_the_index_and_the_length() -> None:
    with pytest.raises(ExpressionError, match=r"steps.fetch.outputs.items has no item 5 \(it has 2 items\)"):
        evaluate("steps.fetch.outputs.items[5]")


def test_reading_into_null_says_it_is_null() -> None:
    with pytest.raises(ExpressionError, match=r"inputs\.missing_value is null, so it has no 'x'"):
        evaluate("inputs.missing_value.x")


def test_unknown_root_says_what_the_context_has() -> None:
    with pytest.raises(ExpressionError, match=r"the context has no 'stepz' \(it has: index, inputs, item, steps\)"):
        evaluate("stepz.fetch")


def test_undefined_name_in_a_sandboxed_expression_is_named() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("steps.fetch.outputs.nope | length")

    assert "steps.fetch.outputs.nope | length" in str(info.value)
    assert "nope" in str(info.value)


def test_type_errors_in_operators_become_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="TypeError"):
        evaluate("inputs.n + 'a'")


def test_empty_expression_is_refused() -> None:
    with pytest.raises(ExpressionError, match="empty expression"):
        Expression("   ")


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("inputs.n +", "unexpected end of expression"),
        ("inputs.n inputs.flag", "expected the end of the expression, got 'inputs'"),
        ("(inputs.n", "expected ')'"),
        ("'unclosed", "unexpected character"),
    ],
)
def test_syntax_errors_speak_of_the_expression_not_of_jinja(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        Expression(source)

    message = str(info.value)
    assert message.startswith(f"cannot parse `{source}`")
    assert fragment in message
    assert "print statement" not in message
    assert info.value.hint is not None


def test_unknown_filter_is_caught_when_parsed_with_a_suggestion() -> None:
    with pytest.raises(ExpressionError, match="unknown filter `lenght`") as info:
        Expression("steps.fetch.outputs.items | lenght")

    assert info.value.hint == "did you mean `length`?"


def test_unknown_test_is_caught_when_parsed() -> None:
    with pytest.raises(ExpressionError, match="unknown test `evn`"):
        Expression("inputs.n is evn")


# -- the sandbox ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "inputs.region.__class__.__mro__",
        "().__class__.__bases__[0].__subclasses__()",
        "(inputs.region | attr('__class__'))",
        "(cycler).__init__.__globals__",
        "range(1).__class__",
        "steps.fetch.outputs.items.__class__",
    ],
)
def test_the_sandbox_refuses_dunder_access(source: str) -> None:
    with pytest.raises(ExpressionError, match="__"):
        evaluate(source)


@pytest.mark.parametrize(
    ("source", "reached"),
    [
        ("inputs.region.__class__", ".__class__"),
        ("().__class__.__bases__", ".__class__"),
        ("inputs.region._private", "._private"),
        ("inputs.region.mro", ".mro"),
        ("(inputs.region).f_globals", ".f_globals"),
        ("inputs['__class__']", "['__class__']"),
        ("inputs.region | attr('__class__')", ".__class__"),
        ("inputs.region | attr('_x')", "._x"),
        ("steps.fetch.outputs.rows | map(attribute='__class__') | list", ".__class__"),
    ],
)
def test_unsafe_attributes_are_refused_when_parsed_before_anything_runs(source: str, reached: str) -> None:
    with pytest.raises(ExpressionError, match="may not use") as info:
        Expression(source)

    assert f"`{reached}`" in str(info.value)
    assert info.value.hint is not None and "not Python internals" in info.value.hint


def test_a_refused_attribute_that_may_be_a_key_says_how_to_read_the_key() -> None:
    with pytest.raises(ExpressionError) as info:
        Expression("steps.fetch.outputs._id")

    assert info.value.hint is not None and "['_id']" in info.value.hint


def test_keys_that_only_look_internal_are_still_read_by_index() -> None:
    context = {"inputs": {"_id": 7, "mro": "m"}}

    assert evaluate("inputs['_id']", context) == 7
    assert evaluate("inputs['mro'] ~ '!'", context) == "m!"
    assert evaluate("'__init__' ~ inputs['mro']", context) == "__init__m"


def test_an_attribute_named_at_run_time_is_still_refused_by_the_sandbox() -> None:
    context = {**CONTEXT, "inputs": {"name": "__class__", "region": "emea"}}

    with pytest.raises(ExpressionError, match=r"is not allowed: .*unsafe"):
        evaluate("inputs.region | attr(inputs.name)", context)


@pytest.mark.parametrize(
    "source",
    ["1 + " + "9" * 5000, "(" * 3000 + "1" + ")" * 3000, "[" * 300 + "]" * 300, " and ".join(["inputs.flag"] * 3000)],
    ids=["5000-digit number", "3000 parentheses", "300 brackets", "3000 operands"],
)
def test_hostile_expressions_are_refused_with_a_reason_not_a_crash(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"too many digits|too deeply nested"):
        Expression(source)


def test_safe_method_calls_and_filters_still_work() -> None:
    assert evaluate("inputs.region.upper()") == "EMEA"
    assert evaluate("steps.fetch.outputs.text.split() | length") == 3
    assert evaluate("steps.fetch.outputs.items | sum") == 30
    assert evaluate("range(3) | list") == [0, 1, 2]
    assert evaluate("steps.fetch.outputs.nothing | default('d')") == "d"


# -- GitHub operators -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("inputs.n > 2 && !inputs.flag", True),
        ("inputs.flag || inputs.n", 3),
        ("!inputs.flag", True),
        ("inputs.n != 3", False),  # `!=` is not a negation
        ("inputs.region == 'emea' && inputs.n >= 3", True),
        ("steps.fetch.error == null", True),
        ("'a && b || !c'", "a && b || !c"),  # operators inside string literals stay as written
        ("\"x || y\" ~ '!'", "x || y!"),
    ],
)
def test_github_operators_mean_and_or_not(source: str, value: Any) -> None:
    assert evaluate(source) == value


def test_references_are_collected_from_operators() -> None:
    expr = Expression("steps.a.outputs.x == steps.b.outputs['y'][0] && !inputs.z")

    assert sorted(expr.refs) == [("inputs", "z"), ("steps", "a", "outputs", "x"), ("steps", "b", "outputs", "y", 0)]
    assert expr.roots == {"inputs", "steps"}


def test_status_function_calls_are_calls_not_references() -> None:
    expr = Expression("always() && steps.a.status == 'failed'")

    assert expr.calls == {"always"}
    assert expr.refs == [("steps", "a", "status")]


def test_status_functions_are_evaluated_from_the_context() -> None:
    assert evaluate("failure() || inputs.flag", {**CONTEXT, "failure": lambda: True}) is True
    assert evaluate("success() && inputs.n", {**CONTEXT, "success": lambda: False}) is False


def test_identical_sources_share_one_parsed_expression() -> None:
    assert expression("inputs.region ~ 'x'") is expression("inputs.region ~ 'x'")


# -- templates --------------------------------------------------------------------------------


def test_a_whole_value_template_keeps_the_type() -> None:
    assert Template("${{ steps.fetch.outputs.items }}").render(CONTEXT) == [10, 20]
    assert Template("${{ inputs.n }}").render(CONTEXT) == 3
    assert Template("  ${{ inputs.flag }}  ").render(CONTEXT) is False
    assert Template("${{ steps.fetch.error }}").render(CONTEXT) is None
    assert Template("${{ inputs.n * 2 }}").render(CONTEXT) == 6


def test_embedded_templates_are_formatted_into_text() -> None:
    template = Template(
        "n=${{ inputs.n }} f=${{ inputs.flag }} items=${{ steps.fetch.outputs.items }}"
        " none=[${{ steps.fetch.error }}] row=${{ steps.fetch.outputs.rows[0] }}"
    )

    assert template.render(CONTEXT) == 'n=3 f=false items=[10, 20] none=[] row={"name": "x"}'


def test_two_adjacent_expressions_make_text() -> None:
    assert Template("${{ inputs.region }}${{ inputs.n }}").render(CONTEXT) == "emea3"


def test_templates_walk_nested_values_and_leave_constants_alone() -> None:
    value = {"a": ["${{ inputs.n }}", {"b": "x-${{ item.name }}"}], "c": 5, "d": None, "e": "plain"}
    template = Template(value)

    assert template.render(CONTEXT) == {"a": [3, {"b": "x-first"}], "c": 5, "d": None, "e": "plain"}
    assert [(path, expr.source) for path, expr in template.expressions] == [
        (("a", 0), "inputs.n"),
        (("a", 1, "b"), "item.name"),
    ]
    assert value["a"][0] == "${{ inputs.n }}"  # rendering does not mutate the mission


def test_a_constant_template_renders_to_the_same_object() -> None:
    value = {"a": [1, 2], "b": "no expressions here"}
    template = Template(value)

    assert template.constant
    assert template.render(CONTEXT) is value


def test_unclosed_template_is_an_error_naming_the_text() -> None:
    with pytest.raises(ExpressionError, match=r"unclosed `\$\{\{` in 'Hello \$\{\{ inputs.region'"):
        Template({"greeting": "Hello ${{ inputs.region"})


def test_unclosed_template_after_a_closed_one_is_still_an_error() -> None:
    with pytest.raises(ExpressionError, match="unclosed"):
        Template("${{ inputs.n }} and ${{ inputs.region")


def test_errors_in_templates_name_the_expression() -> None:
    with pytest.raises(ExpressionError, match=r"`steps\.other\.outputs`"):
        Template({"x": "${{ steps.other.outputs }}"}).render(CONTEXT)


# -- truth ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "false", "False ", "0", "no", "off", "none", "null", 0, None, [], {}, False])
def test_falsy_values(value: Any) -> None:
    assert truthy(value) is False


@pytest.mark.parametrize("value", ["true", "yes", "1", "anything", 1, [0], {"a": 1}, True, 0.5])
def test_truthy_values(value: Any) -> None:
    assert truthy(value) is True


def test_a_method_call_reads_the_object_not_a_field_named_after_the_method() -> None:
    expr = Expression("steps.a.outputs.text.split(',') | length > inputs.n")

    assert sorted(expr.refs) == [("inputs", "n"), ("steps", "a", "outputs", "text")]
