"""text.render: sandboxed Jinja2 with strict undefined names."""

from __future__ import annotations

import pytest

from toolnexus.builtins import text
from toolnexus.builtins.text import render_text
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import spec_of

render = spec_of(render_text).callable


def test_render_fills_in_data():
    template = "{% for r in rows %}{{ r.name }}={{ r.n }}\n{% endfor %}"
    rows = [{"name": "a", "n": 1}, {"name": "b", "n": 2}]
    assert render({"template": template, "data": {"rows": rows}}) == {"text": "a=1\nb=2\n"}
    assert render({"template": "plain"}) == {"text": "plain"}


def test_undefined_variable_is_named():
    with pytest.raises(ToolFailure) as failure:
        render({"template": "Hello {{ name }}!", "data": {"other": 1}})
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert "'name' is undefined" in failure.value.error.message


def test_syntax_error_gives_the_line():
    with pytest.raises(ToolFailure) as failure:
        render({"template": "ok\n{% if x %}never closed"})
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert "line 2" in failure.value.error.message


def test_sandbox_blocks_attribute_escapes():
    with pytest.raises(ToolFailure) as failure:
        render({"template": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    assert failure.value.error.kind is ErrorKind.DENIED
    assert "unsafe" in failure.value.error.message


# -- bounds: a hostile template ends quickly with limit_exceeded ----------------------------------------------


def limit_failure(template: str, data: dict | None = None) -> str:
    """The message of the limit_exceeded failure rendering ``template`` gives."""
    with pytest.raises(ToolFailure) as failure:
        render({"template": template, "data": data or {}})
    assert failure.value.error.kind is ErrorKind.LIMIT_EXCEEDED, failure.value.error
    return failure.value.error.message


def test_a_range_over_the_cap_is_refused():
    message = limit_failure("{% for i in range(10**8) %}x{% endfor %}")
    assert "range() of 100,000,000 numbers" in message
    assert render({"template": "{{ range(3) | list }}"}) == {"text": "[0, 1, 2]"}


def test_nested_loops_share_one_budget_of_steps():
    # Each range is within its cap; together they would be 10**10 iterations that produce no text.
    message = limit_failure("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
    assert f"more than {text.MAX_STEPS:,} steps" in message


def test_loops_over_data_count_too():
    rows = list(range(1000))
    message = limit_failure("{% for a in rows %}{% for b in rows %}{% for c in rows %}{% endfor %}{% endfor %}"
                            "{% endfor %}", {"rows": rows})
    assert "steps" in message


def test_macros_that_call_themselves_in_two_are_bounded(monkeypatch):
    monkeypatch.setattr(text, "MAX_STEPS", 10_000)  # the same bound, reached sooner
    message = limit_failure("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                            "{{ f(60) }}")
    assert "more than 10,000 steps" in message
    assert "recursed too deeply" in limit_failure("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")


def test_output_over_the_cap_is_refused():
    message = limit_failure("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}")
    assert f"output is over the {text.MAX_OUTPUT:,}-character cap" in message


def test_text_written_into_a_block_counts_against_the_cap():
    message = limit_failure("{% set x %}{% for i in range(100000) %}{{ s }}{% endfor %}{% endset %}"
                            "{{ x | length }}", {"s": "y" * 1_000_000})
    assert f"wrote more than {text.MAX_WRITTEN:,} characters" in message


@pytest.mark.parametrize("template", [
    "{{ 'x' * 10**10 }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{0:{1}}'.format(1, 999999999) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '%0999999999d' | format(1) }}",
    "{{ 'x' | center(999999999) }}",
    "{{ 'x'.rjust(999999999) }}",
    "{{ ('x' * 1000000) | replace('', 'yyyyyyyyyy') }}",
    "{{ ('x' * 1000000).join(['a'] * 100000) }}",
    "{{ 'a\tb'.expandtabs(999999999) }}",
    "{{ lipsum(10**6) }}",
], ids=["repeat", "concat", "plus", "format-width", "format-nested-width", "percent-width", "percent-star",
        "format-filter", "center-filter", "rjust-method", "replace-empty", "join-method", "expandtabs", "lipsum"])
def test_values_over_the_cap_are_refused_before_they_are_built(template):
    message = limit_failure(template)
    assert f"{text.MAX_OUTPUT:,} cap" in message


def test_huge_numbers_are_refused():
    assert "65,536 bits" in limit_failure("{{ 2 ** 1000000 }}")
    assert "bits" in limit_failure("{{ (2 ** 60000) * (2 ** 60000) }}")
    assert render({"template": "{{ 2 ** 100 }}"}) == {"text": str(2**100)}


def test_a_render_past_its_deadline_is_stopped(monkeypatch):
    monkeypatch.setattr(text, "RENDER_TIMEOUT", 0.0)  # every look at the clock is past the deadline
    message = limit_failure("{% for i in range(100000) %}{% endfor %}")
    assert "longer than 0s to render" in message


def test_a_deadline_is_checked_between_output_chunks(monkeypatch):
    monkeypatch.setattr(text, "RENDER_TIMEOUT", 0.0)
    assert "longer than 0s" in limit_failure("{{ x }}", {"x": 1})


def test_a_template_nested_too_deeply_is_refused_with_a_message():
    with pytest.raises(ToolFailure) as failure:
        render({"template": "{{ " + "(" * 10000 + "1" + ")" * 10000 + " }}"})
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert "nests too deeply" in failure.value.error.message


def test_ordinary_templates_render_as_before():
    template = ("{% for r in rows %}{{ loop.index }}/{{ loop.length }}:{{ r }};{% endfor %}"
                "{{ '{:>4}'.format(3) }}|{{ '%3d' % 7 }}|{{ 'ab' | center(6) }}|{{ [1, 2] | join('-') }}|"
                "{{ 'a-b' | replace('-', '+') }}|{% filter upper %}hey{% endfilter %}|{{ 'x' ~ 'y' }}|"
                "{{ range(3) | map('string') | join(',') }}|{{ '+'.join(range(3) | map('string')) }}")
    assert render({"template": template, "data": {"rows": ["a", "b"]}}) == {
        "text": "1/2:a;2/2:b;   3|  7|  ab  |1-2|a+b|HEY|xy|0,1,2|0+1+2"}
