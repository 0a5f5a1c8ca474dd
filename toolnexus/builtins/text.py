"""``text.render``: Jinja2 templates in a sandbox, with undefined names as errors."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from typing_extensions import TypedDict

from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import tool


class RenderResult(TypedDict):
    """The rendered text."""

    text: str


_environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@tool(name="text.render", version="1.0.0", tier="read_only", tags=["text", "template"], deterministic=True,
      register=False,
      examples=[{"arguments": {"template": "Hello {{ name }}!", "data": {"name": "world"}},
                 "result": {"text": "Hello world!"}}])
def render_text(template: str, data: dict[str, Any] = {}) -> RenderResult:  # noqa: B006 - never mutated
    """Render a Jinja2 template with data; every name it uses must be defined.

    Args:
        template: Jinja2 template text, e.g. ``Hello {{ name }}!``.
        data: The variables the template may use.
    """
    try:
        compiled = _environment.from_string(template)
    except TemplateSyntaxError as exc:
        raise ToolFailure(f"template syntax error on line {exc.lineno}: {exc.message}",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"line": exc.lineno}) from None
    try:
        return {"text": compiled.render(data)}
    except UndefinedError as exc:
        raise ToolFailure(f"template uses something undefined: {exc.message} (pass it in data)",
                          kind=ErrorKind.INVALID_ARGUMENTS) from None
    except SecurityError as exc:
        raise ToolFailure(f"template did something the sandbox forbids: {exc}",
                          kind=ErrorKind.DENIED) from None
    except TemplateError as exc:
        raise ToolFailure(f"template failed: {exc}", kind=ErrorKind.INVALID_ARGUMENTS) from None
