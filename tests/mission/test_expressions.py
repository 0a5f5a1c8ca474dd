"""The ``${{ … }}`` expression engine: references, the Jinja sandbox, GitHub operators, templates, truth."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.measure import run_measured
from toolnexus.mission import expressions
from toolnexus.mission.expressions import (
    Expression,
    ExpressionError,
    ExpressionLimitError,
    Template,
    expression,
    truthy,
)

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


# -- bounds: work, size and time ---------------------------------------------------------------------------

BIG = {"n": 10**10, "w": 999_999_999, "e": 10**9, "r": 10**9, "k": 1000}


def shared_list(depth: int) -> list[Any]:
    """A list that holds one list twice, ``depth`` levels deep: small in memory, 2**depth values as text."""
    value: list[Any] = [0]
    for _ in range(depth):
        value = [value, value]
    return value


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("'x' * inputs.n", "a repeated value of 10,000,000,000"),
        ("[0] * inputs.n", "a repeated value of 10,000,000,000"),
        ("'{:>' ~ inputs.w ~ '}'", None),  # builds the spec only: allowed
        ("('{:>' ~ inputs.w ~ '}').format(1)", "a formatted field of 999,999,999"),
        ("'%*d' % (inputs.w, 1)", "a formatted text"),
        ("2 ** inputs.e", "a number of over 65,536 bits"),
        ("range(inputs.r) | list", "range() of 1,000,000,000 numbers"),
        ("lipsum(inputs.r)", "lorem ipsum"),
        ("'x' | center(inputs.n)", "a centred text"),
        ("'x'.ljust(inputs.n)", "a padded text"),
        ("[1] | batch(inputs.n, 0) | list", "a batch or slice"),
        ("[1] | slice(slices=inputs.n) | list", "a batch or slice"),
        ("('x' * 9000) | replace('x', 'y' * inputs.k * 9)", "a replaced text of 81,000,000"),
        ("[1, 2] | tojson(inputs.e)", "a JSON text"),
        ("[[[0] * inputs.k] * inputs.k] * inputs.k", "a repeated value of 3,002,002,000"),
        ("inputs.shared | string", "a text of"),
        ("inputs.shared ~ ''", "a joined text"),
        ("'{}'.format(inputs.shared)", "a formatted field"),
        ("[inputs.shared]", "a result (as JSON)"),
    ],
)
def test_expressions_that_would_build_too_much_are_refused_before_building(source: str, message: str | None) -> None:
    context = {"inputs": {**BIG, "shared": shared_list(60)}}
    started = time.monotonic()
    if message is None:
        assert evaluate(source, context) == "{:>999999999}"
        return
    with pytest.raises(ExpressionLimitError) as refused:
        evaluate(source, context)
    assert message in str(refused.value)
    assert str(refused.value).startswith(f"`{source}` is refused: expression ")
    assert str(refused.value).endswith(expressions.LIMIT_ADVICE)
    assert time.monotonic() - started < 5  # refused before the work, not after it


def test_nested_loops_in_a_filter_chain_count_their_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expressions, "MAX_STEPS", 10_000)
    source = "range(1000) | map('string') | map('list') | map('length') | sum"
    with pytest.raises(ExpressionLimitError, match=r"more than 10,000 steps \(calls and filter calls\)"):
        evaluate(source + " + (range(10000) | map('string') | map('length') | sum)")
    assert evaluate(source) == 2890  # within the budget: the same chain works


def test_an_expression_past_its_deadline_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expressions, "EVALUATION_TIMEOUT", 0.0)
    with pytest.raises(ExpressionLimitError, match=r"took longer than 0s to evaluate"):
        evaluate("range(100000) | map('string') | map('length') | sum")


def test_the_default_deadline_stops_a_slow_chain_in_seconds() -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionLimitError, match=r"took longer than 2s to evaluate"):
        evaluate("range(100000) | map('string') | map('center', 3000) | map('wordwrap', 1) | map('length') | sum")
    assert time.monotonic() - started < 10


def test_one_budget_covers_the_expressions_of_one_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expressions, "MAX_STEPS", 150)
    one = "${{ range(100) | map('string') | list | length }}"
    assert Template({"a": one}).render(CONTEXT) == {"a": 100}
    with pytest.raises(ExpressionLimitError, match=r"more than 150 steps"):
        Template({"a": one, "b": one}).render(CONTEXT)


def test_a_text_that_repeats_a_long_value_is_refused_before_it_is_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expressions, "MAX_VALUE", 1000)
    context = {"inputs": {"s": "x" * 400}}
    assert len(Template("${{ inputs.s }} ${{ inputs.s }}").render(context)) == 801
    with pytest.raises(ExpressionLimitError, match=r"the text around `inputs.s` would be over the 1,000-character cap"):
        Template("${{ inputs.s }} ${{ inputs.s }} ${{ inputs.s }}").render(context)


def test_a_shared_value_put_into_text_is_measured_before_it_is_written() -> None:
    with pytest.raises(ExpressionLimitError, match=r"`inputs.shared` is over the 16,777,216-character cap as text"):
        Template("value: ${{ inputs.shared }}").render({"inputs": {"shared": shared_list(60)}})


def test_values_within_the_bounds_still_build() -> None:
    assert evaluate("'ab' * 3") == "ababab"
    assert evaluate("[0] * 3") == [0, 0, 0]
    assert evaluate("2 ** 10") == 1024
    assert evaluate("'{:>5}'.format(1)") == "    1"
    assert evaluate("'%03d' % 7") == "007"
    assert evaluate("steps.fetch.outputs.items | join(',')") == "10,20"
    assert evaluate("steps.fetch.outputs.items ~ ''") == "[10, 20]"
    assert evaluate("range(3) | map('string') | list") == ["0", "1", "2"]
    assert evaluate("[[1], [2]] | sum(start=[])") == [1, 2]


def test_a_constant_expression_past_a_bound_is_refused_when_parsed() -> None:
    with pytest.raises(ExpressionLimitError, match=r"a repeated value of 10,000,000,000"):
        Expression("'x' * 10**10")
    with pytest.raises(ExpressionLimitError, match=r"a number of over 65,536 bits"):
        Expression("2 ** (10**9) > 0")
    assert Expression("1 / 0").refs == []  # other errors of a constant wait for the run, as before


def test_validate_reports_a_constant_expression_past_a_bound_with_its_position(workspace: Path) -> None:
    from typer.testing import CliRunner

    from toolnexus.cli import app

    (workspace / "const.yaml").write_text(
        "mission: const\nsteps:\n  - id: blow\n    uses: text.render\n"
        "    with: {template: \"${{ '{:>999999999}'.format(1) }}\"}\n")
    result = CliRunner().invoke(app, ["validate", "const.yaml"])
    assert result.exit_code == 2
    assert "const.yaml:5:" in result.stderr + result.stdout
    assert "a formatted field of 999,999,999 characters" in result.stderr + result.stdout


BOMB = """\
mission: bomb
inputs:
  n: {type: integer, default: 10000000000}
steps:
  - id: first
    uses: text.render
    with: {template: ok}
  - id: blow
    uses: text.render
    needs: first
    with: {template: "${{ 'x' * inputs.n }}"}
"""


def test_a_run_with_a_hostile_expression_fails_cleanly_in_seconds_and_stays_small(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("[tracking]\nenabled = false\n")
    (workspace / "bomb.yaml").write_text(BOMB)
    with open(workspace / "err.log", "wb") as log:
        measured = run_measured([sys.executable, "-m", "toolnexus.cli", "run", "bomb.yaml", "--no-progress"],
                                cwd=workspace, stdout=subprocess.DEVNULL, stderr=log)
    text = (workspace / "err.log").read_text()
    assert measured.returncode == 1, text
    assert "step blow (text.render) failed" in text
    assert "`'x' * inputs.n` is refused: expression would build a repeated value" in text
    assert "Traceback" not in text
    assert measured.seconds < 60  # a generous bound: the refusal itself takes none
    assert measured.peak_bytes < 512 * 2**20  # the 10 GB text was never built
