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

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import update_wrapper
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, SandboxedEnvironment, SandboxedFormatter, SecurityError
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup
from typing_extensions import TypedDict

from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import tool

MAX_OUTPUT = 4 * 2**20  # characters: the rendered text, and any one value a template builds
MAX_WRITTEN = 4 * MAX_OUTPUT  # characters written across the render, into macros and blocks included
MAX_STEPS = 1_000_000  # loop iterations and calls, across the whole render
RENDER_TIMEOUT = 10.0  # seconds
MAX_INT_BITS = 2**16  # the largest integer ``*`` and ``**`` may build (about 20,000 digits)
_CLOCK_EVERY = 256  # steps between looks at the clock


class RenderResult(TypedDict):
    """The rendered text."""

    text: str


def _exceeded(message: str, **details: Any) -> ToolFailure:
    return ToolFailure(message, kind=ErrorKind.LIMIT_EXCEEDED, details=details)


class _Budget:
    """What one render may still do: steps, characters written, and time."""

    def __init__(self) -> None:
        self.steps = 0
        self.written = 0
        self.deadline = time.monotonic() + RENDER_TIMEOUT

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _exceeded(f"template took more than {MAX_STEPS:,} steps (loop iterations and calls); "
                            "render less at once", max_steps=MAX_STEPS)
        if self.steps % _CLOCK_EVERY == 0:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _exceeded(f"template took longer than {RENDER_TIMEOUT:g}s to render; render less at once",
                            timeout=RENDER_TIMEOUT)

    def write(self, size: int) -> None:
        self.written += size
        if self.written > MAX_WRITTEN:
            raise _exceeded(f"template wrote more than {MAX_WRITTEN:,} characters (its macros and blocks "
                            "included); render less at once", max_written=MAX_WRITTEN)


_budget: ContextVar[_Budget] = ContextVar("text_render_budget")


def _sized(value: Any) -> Any:
    """``value``, if it is within :data:`MAX_OUTPUT` (as text or as a number of items)."""
    if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > MAX_OUTPUT:
        raise _exceeded(f"template built a value of {len(value):,} characters or items, over the "
                        f"{MAX_OUTPUT:,} cap", max_output=MAX_OUTPUT)
    return value


def _within(size: int, what: str) -> None:
    """Refuse to build ``what`` when it would be ``size`` characters or items, over the cap."""
    if size > MAX_OUTPUT:
        raise _exceeded(f"template would build {what} of {size:,} characters or items, over the "
                        f"{MAX_OUTPUT:,} cap", max_output=MAX_OUTPUT)


# -- hooks the instrumented template calls -------------------------------------------------------------------


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    budget = _budget.get()
    for item in items:
        budget.step()
        yield item


# pass_context keeps Jinja2 from calling these at compile time on constants (a constant loop stays a loop).
@pass_context
def _loop_filter(context: Context, items: Iterable[Any]) -> Iterator[Any]:
    return _counted(items)


@pass_context
def _written_filter(context: Context, value: Any) -> Any:
    _budget.get().write(len(value) if isinstance(value, str) else len(str(value)))
    return value


@pass_context
def _sized_filter(context: Context, value: Any) -> Any:
    return _sized(value)


_LOOP, _WRITTEN, _SIZED = "tn_budget_loop", "tn_budget_written", "tn_budget_sized"


def _wrap(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Instrument(NodeTransformer):
    """Rewrites a parsed template so that its loops step the budget and its text and values are measured."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = _wrap(node.iter, _LOOP)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)
        node.nodes = [_wrap(nodes.Const(child.data, lineno=child.lineno) if isinstance(child, nodes.TemplateData)
                            else child, _WRITTEN) for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        return _wrap(self.generic_visit(node), _SIZED)

    def visit_Filter(self, node: nodes.Filter) -> nodes.Node:
        node = self.generic_visit(node)
        # A filter block's filter (no node of its own) takes the block's text, which is measured as written.
        return node if node.node is None or node.name in (_LOOP, _WRITTEN, _SIZED) else _wrap(node, _SIZED)


# -- checks before building --------------------------------------------------------------------------------

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _check_percent_format(text: str, args: Any) -> None:
    """``text % args`` stays within the cap: its text, its arguments and its fields' widths together
    (a ``*`` width comes from ``args``)."""
    given = args if isinstance(args, tuple) else (args,)
    star = max((abs(a) for a in given if isinstance(a, int)), default=0)
    padding = sum(star if width == "*" else int(width)
                  for match in _PERCENT_SPEC.finditer(text) for width in match.groups() if width)
    _within(len(text) + padding + sum(len(a) if isinstance(a, str) else 24 for a in given), "a formatted text")


def _check_format_spec(spec: str) -> None:
    """A ``str.format`` spec pads (width) or extends (precision) no field beyond the cap."""
    for width in _DIGITS.findall(spec):
        _within(int(width), "a formatted field")


def _joined_size(separator: Any, items: list[Any] | tuple[Any, ...]) -> int:
    return len(separator) * max(len(items) - 1, 0) + sum(len(i) if isinstance(i, str) else 8 for i in items)


def _check_method(name: str, text: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """String methods that can build far more than they are given, checked before they run; the arguments
    to call them with (what ``join`` joins, made a list: measuring must not use up an iterator)."""
    if name == "join" and args and not isinstance(args[0], list | tuple):
        args = (list(_counted(args[0])), *args[1:])
    given = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill"):
        _within(max([a for a in given if isinstance(a, int)], default=0), f"a padded text ({name})")
    elif name == "expandtabs":
        size = max([a for a in given if isinstance(a, int)], default=8)
        _within(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * size, "an expanded text")
    elif name == "replace" and len(given) >= 2:
        _within(_replaced_size(text, given[0], given[1]), "a replaced text")
    elif name == "join" and args:
        _within(_joined_size(text, args[0]), "a joined text")
    elif name == "translate" and given and isinstance(given[0], dict):
        longest = max((len(v) for v in given[0].values() if isinstance(v, str)), default=1)
        _within(len(text) * longest, "a translated text")
    return args


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    if not isinstance(text, str | bytes) or not type(text) is type(old) is type(new):
        return 0  # a mix of types fails in replace itself
    count = len(text) + 1 if not old else text.count(old)
    return len(text) + count * (len(new) - len(old))


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        _check_product(left, right)
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if max(abs(left).bit_length(), 1) * right > MAX_INT_BITS and abs(left) > 1:
            raise _exceeded(f"template would build a number of over {MAX_INT_BITS:,} bits",
                            max_int_bits=MAX_INT_BITS)
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left, right)


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise _exceeded(f"template would build a number of over {MAX_INT_BITS:,} bits",
                            max_int_bits=MAX_INT_BITS)
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
            _within(len(sequence) * times, "a repeated value")


# -- the environment ---------------------------------------------------------------------------------------


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` for templates: no field is padded beyond the cap, nor are the fields together over it."""

    built = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.built = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_format_spec(format_spec)
        field = super().format_field(value, format_spec)
        self.built += len(field)
        _within(self.built, "a formatted text")
        return field


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    """The same for ``Markup.format``, which escapes its fields."""


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _exceeded(f"range() of {len(numbers):,} numbers is over the {MAX_RANGE:,} a template may make",
                        max_range=MAX_RANGE)
    return numbers


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    _within(n * max * 12, "lorem ipsum")  # words of at most a dozen characters
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def _bounded_filter(original: Callable[..., Any], check: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` (a Jinja2 filter) with ``check`` called on its value and arguments first; ``check`` gives
    back the value to filter (the same, or an iterator it measured made a list)."""
    if getattr(original, "jinja_pass_arg", None) is None:
        def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
            return original(check(value, *args, **kwargs), *args, **kwargs)
    else:  # the filter takes a context, an eval context or the environment first
        def bounded(passed: Any, value: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            return original(passed, check(value, *args, **kwargs), *args, **kwargs)
    return update_wrapper(bounded, original)  # keeps ``jinja_pass_arg``


def _check_center(value: Any, width: int = 80) -> Any:
    _within(width if isinstance(width, int) else 0, "a centred text")
    return value


def _check_indent(value: Any, width: int | str = 4, *args: Any, **kwargs: Any) -> Any:
    size = width if isinstance(width, int) else len(str(width))
    _within(len(str(value)) + (str(value).count("\n") + 1) * size, "an indented text")
    return value


def _check_replace(value: Any, old: Any = "", new: Any = "", *args: Any) -> Any:
    _within(_replaced_size(str(value), str(old), str(new)), "a replaced text")
    return value


def _check_format(value: Any, *args: Any, **kwargs: Any) -> Any:
    _check_percent_format(str(value), kwargs or args)
    return value


def _check_wordwrap(value: Any, width: int = 79, break_long_words: bool = True, wrapstring: Any = None,
                    *args: Any, **kwargs: Any) -> Any:
    _within(len(str(value)) * (1 + len(str(wrapstring or "\n"))), "a wrapped text")
    return value


def _check_join(value: Any, d: Any = "", *args: Any, **kwargs: Any) -> Any:
    items = value if isinstance(value, list | tuple) else list(_counted(value))
    _within(_joined_size(str(d), [i if isinstance(i, str) else "" for i in items]), "a joined text")
    return items


_FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _check_center, "indent": _check_indent, "replace": _check_replace, "format": _check_format,
    "wordwrap": _check_wordwrap, "join": _check_join,
}


class _BoundedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox with every call stepping the budget and the operators that build values checked."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.globals.update(range=_bounded_range, lipsum=_bounded_lipsum)
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _bounded_filter(self.filters[name], check)
        self.filters.update({_LOOP: _loop_filter, _WRITTEN: _written_filter, _SIZED: _sized_filter})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget.get().step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes):
            args = _check_method(getattr(__obj, "__name__", ""), owner, args, kwargs)
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None  # not a str.format or str.format_map
        text = value.__self__
        formatter: _BoundedFormatter = (
            _BoundedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup) else _BoundedFormatter(self))
        if value.__name__ == "format_map":
            def bounded(*args: Any, **kwargs: Any) -> str:
                return type(text)(formatter.vformat(text, (), _one_mapping(args, kwargs)))
        else:
            def bounded(*args: Any, **kwargs: Any) -> str:
                return type(text)(formatter.vformat(text, args, kwargs))
        return update_wrapper(bounded, value)

    def compile_bounded(self, source: str) -> Any:
        """The template ``source``, instrumented (see :class:`_Instrument`)."""
        tree = _Instrument().visit(self.parse(source))
        return self.template_class.from_code(self, self.compile(tree), self.make_globals(None), None)


def _one_mapping(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if kwargs or len(args) != 1:
        raise TypeError("format_map() takes exactly one mapping argument")
    return args[0]


_environment = _BoundedEnvironment()


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
    token = _budget.set(_Budget())
    try:
        return {"text": _render(compiled, data)}
    except UndefinedError as exc:
        raise ToolFailure(f"template uses something undefined: {exc.message} (pass it in data)",
                          kind=ErrorKind.INVALID_ARGUMENTS) from None
    except SecurityError as exc:
        raise ToolFailure(f"template did something the sandbox forbids: {exc}",
                          kind=ErrorKind.DENIED) from None
    except TemplateError as exc:
        raise ToolFailure(f"template failed: {exc}", kind=ErrorKind.INVALID_ARGUMENTS) from None
    except RecursionError:
        raise _exceeded("template recursed too deeply (a macro calling itself without end?)") from None
    finally:
        _budget.reset(token)


def _compile(template: str) -> Any:
    try:
        return _environment.compile_bounded(template)
    except TemplateSyntaxError as exc:
        raise ToolFailure(f"template syntax error on line {exc.lineno}: {exc.message}",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"line": exc.lineno}) from None
    except (RecursionError, SyntaxError, MemoryError):
        # Jinja2's parser and Python's compiler recurse on nesting: a hostile depth ends here.
        raise ToolFailure("template nests too deeply to compile; flatten it", kind=ErrorKind.INVALID_ARGUMENTS,
                          ) from None


def _render(compiled: Any, data: dict[str, Any]) -> str:
    """Stream the render, stopping as soon as the text is over the cap or the time is up."""
    budget = _budget.get()
    chunks: list[str] = []
    size = 0
    for chunk in compiled.generate(data):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise _exceeded(f"template output is over the {MAX_OUTPUT:,}-character cap; render less at once",
                            max_output=MAX_OUTPUT)
        budget.check_time()
        chunks.append(chunk)
    return "".join(chunks)


__all__ = ["MAX_OUTPUT", "MAX_STEPS", "MAX_WRITTEN", "RENDER_TIMEOUT", "RenderResult", "render_text"]
