"""text.render: sandboxed Jinja2 with strict undefined names."""

from __future__ import annotations

import pytest

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
