"""``text.render``: Jinja2 templates in a sandbox, with undefined names as errors, bounded in work, size and time.

A template is user input: besides Jinja2's sandbox (no unsafe attributes), a render is bounded by

- a budget of steps across the whole render (every loop iteration and every call counts), so nested
  loops and recursive macros end however their counts multiply;
- a cap on text: on the output, on all the text a render writes (into macros and ``set`` blocks too), and
  on every value it builds (``*``, ``+``, ``~``, ``%``, ``**``, formatting, string methods and filters are
  checked before they build something over the cap);
- a deadline, checked as the render steps and between output chunks.

Each is a ``limit_exceeded`` error that says which bound and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SecurityError
from typing_extensions import TypedDict

from toolnexus.core.bounds import MAX_INT_BITS, Bounds, Budget, exceeded
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.core.templating import BoundedEnvironment, BoundedTransformer, current_budget, evaluating, wrap
from toolnexus.registry.decorator import tool

MAX_OUTPUT = 4 * 2**20  # characters: the rendered text, and any one value a template builds
MAX_WRITTEN = 4 * MAX_OUTPUT  # characters written across the render, into macros and blocks included
MAX_STEPS = 1_000_000  # loop iterations and calls, across the whole render
RENDER_TIMEOUT = 10.0  # seconds


class RenderResult(TypedDict):
    """The rendered text."""

    text: str


def _bounds() -> Bounds:
    # Read at each render, so that a test (or an embedder) may lower a bound by setting the module's constant.
    return Bounds(subject="template", counted="loop iterations and calls", verb="render",
                  advice="render less at once", max_value=MAX_OUTPUT, max_steps=MAX_STEPS, timeout=RENDER_TIMEOUT,
                  max_int_bits=MAX_INT_BITS)


class _RenderBudget(Budget):
    """A render's budget: also the characters written (into macros and blocks too)."""

    def __init__(self) -> None:
        super().__init__(_bounds())
        self.written = 0

    def write(self, size: int) -> None:
        self.written += size
        if self.written > MAX_WRITTEN:
            raise exceeded(f"template wrote more than {MAX_WRITTEN:,} characters (its macros and blocks "
                           "included); render less at once", max_written=MAX_WRITTEN)


def _render_budget() -> _RenderBudget:
    budget = current_budget()
    if not isinstance(budget, _RenderBudget):
        raise LookupError("no render under way")  # Jinja2 folding a constant at compile time: not folded
    return budget


# -- hooks the instrumented template calls -------------------------------------------------------------------


# pass_context keeps Jinja2 from calling these at compile time on constants (a constant loop stays a loop).
@pass_context
def _loop_filter(context: Context, items: Iterable[Any]) -> Iterator[Any]:
    return _render_budget().counted(items)


@pass_context
def _written_filter(context: Context, value: Any) -> Any:
    budget = _render_budget()
    if not isinstance(value, str):
        budget.text_of(value, "an output")  # before str() makes it text
    budget.write(len(value) if isinstance(value, str) else len(str(value)))
    return value


_LOOP, _WRITTEN = "tn_budget_loop", "tn_budget_written"


class _Instrument(BoundedTransformer):
    """Rewrites a parsed template so that its loops step the budget and its text is measured as written."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = wrap(node.iter, _LOOP)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)
        node.nodes = [wrap(nodes.Const(child.data, lineno=child.lineno) if isinstance(child, nodes.TemplateData)
                           else child, _WRITTEN) for child in node.nodes]
        return node


class _TextEnvironment(BoundedEnvironment):
    """The bounded sandbox, with undefined names as errors and the render's own hooks."""

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.filters.update({_LOOP: _loop_filter, _WRITTEN: _written_filter})


_environment = _TextEnvironment()


# -- the tool ----------------------------------------------------------------------------------------------


@tool(name="text.render", version="1.0.0", tier="read_only", tags=["text", "template"], deterministic=True,
      register=False,
      examples=[{"arguments": {"template": "Hello {{ name }}!", "data": {"name": "world"}},
                 "result": {"text": "Hello world!"}}])
def render_text(template: str, data: dict[str, Any] = {}) -> RenderResult:  # noqa: B006 - never mutated
    """Render a Jinja2 template with data; every name it uses must be defined.

    A render is bounded: 4 MiB of text, a million steps (loop iterations and calls) and ten seconds;
    past a bound it fails with ``limit_exceeded``.

    Args:
        template: Jinja2 template text, e.g. ``Hello {{ name }}!``.
        data: The variables the template may use.
    """
    compiled = _compile(template)
    try:
        with evaluating(_RenderBudget()) as budget:
            return {"text": _render(compiled, data, budget)}
    except UndefinedError as exc:
        raise ToolFailure(f"template uses something undefined: {exc.message} (pass it in data)",
                          kind=ErrorKind.INVALID_ARGUMENTS) from None
    except SecurityError as exc:
        raise ToolFailure(f"template did something the sandbox forbids: {exc}",
                          kind=ErrorKind.DENIED) from None
    except TemplateError as exc:
        raise ToolFailure(f"template failed: {exc}", kind=ErrorKind.INVALID_ARGUMENTS) from None
    except RecursionError:
        raise exceeded("template recursed too deeply (a macro calling itself without end?)") from None


def _compile(template: str) -> Any:
    try:
        return _environment.compile_bounded(template, _Instrument())
    except TemplateSyntaxError as exc:
        raise ToolFailure(f"template syntax error on line {exc.lineno}: {exc.message}",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"line": exc.lineno}) from None
    except (RecursionError, SyntaxError, MemoryError):
        # Jinja2's parser and Python's compiler recurse on nesting: a hostile depth ends here.
        raise ToolFailure("template nests too deeply to compile; flatten it", kind=ErrorKind.INVALID_ARGUMENTS,
                          ) from None


def _render(compiled: Any, data: dict[str, Any], budget: Budget) -> str:
    """Stream the render, stopping as soon as the text is over the cap or the time is up."""
    chunks: list[str] = []
    size = 0
    for chunk in compiled.generate(data):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise exceeded(f"template output is over the {MAX_OUTPUT:,}-character cap; render less at once",
                           max_output=MAX_OUTPUT)
        budget.check_time()
        chunks.append(chunk)
    return "".join(chunks)


__all__ = ["MAX_OUTPUT", "MAX_STEPS", "MAX_WRITTEN", "RENDER_TIMEOUT", "RenderResult", "render_text"]
