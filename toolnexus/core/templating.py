"""Jinja2's sandbox, bounded: the environment ``text.render`` and mission expressions evaluate user input in.

Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` keeps a template from Python's internals, not from
asking for more than a machine has. :class:`BoundedEnvironment` adds the checks of
:mod:`toolnexus.core.bounds`, against the :class:`~toolnexus.core.bounds.Budget` of the evaluation under way
(:func:`evaluating`):

- every call and every filter call (those ``map`` makes too) is a step;
- ``*``, ``**``, ``%``, ``str.format``, string methods, ``range``, ``lipsum`` and the filters that build
  text (``center``, ``indent``, ``format``, ``join``, ``tojson``, ``batch``…) are checked before they build,
  and every value they give is measured;
- a value made text (``~``, ``string``, a format field) is measured first as the text it will be, so a
  list that shares its parts cannot stand for gigabytes.

With no evaluation under way every hook refuses, so Jinja2 folds no constant at compile time (unchecked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import update_wrapper
from numbers import Number
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

from toolnexus.core.bounds import Budget, joined_size, json_lower_bound, replaced_size

_budget: ContextVar[Budget] = ContextVar("toolnexus_evaluation_budget")


def current_budget() -> Budget | None:
    """The budget of the evaluation under way, if one is."""
    return _budget.get(None)


@contextmanager
def evaluating(budget: Budget) -> Iterator[Budget]:
    """Run an evaluation under ``budget``: the environment's hooks check against it."""
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


# -- checks of filters, before they run ------------------------------------------------------------------------
# Each takes the filter's value and arguments, and gives back the value to filter (the same, or an iterator
# it measured made a list).


def _check_center(budget: Budget, value: Any, width: int = 80, *args: Any, **kwargs: Any) -> Any:
    budget.within(width if isinstance(width, int) else 0, "a centred text")
    return value


def _check_indent(budget: Budget, value: Any, width: int | str = 4, *args: Any, **kwargs: Any) -> Any:
    size = width if isinstance(width, int) else len(str(width))
    budget.within(len(str(value)) + (str(value).count("\n") + 1) * size, "an indented text")
    return value


def _check_replace(budget: Budget, value: Any, old: Any = "", new: Any = "", *args: Any, **kwargs: Any) -> Any:
    budget.within(replaced_size(str(value), str(old), str(new)), "a replaced text")
    return value


def _check_format(budget: Budget, value: Any, *args: Any, **kwargs: Any) -> Any:
    budget.check_percent_format(str(value), kwargs or args)
    return value


def _check_wordwrap(budget: Budget, value: Any, width: int = 79, break_long_words: bool = True,
                    wrapstring: Any = None, *args: Any, **kwargs: Any) -> Any:
    budget.within(len(str(value)) * (1 + len(str(wrapstring or "\n"))), "a wrapped text")
    return value


def _check_join(budget: Budget, value: Any, d: Any = "", *args: Any, **kwargs: Any) -> Any:
    items = value if isinstance(value, list | tuple) else list(budget.counted(value))
    for item in items:
        budget.text_of(item, "a joined text")
    budget.within(joined_size(str(d), [i if isinstance(i, str) else "" for i in items]), "a joined text")
    return items


def _check_tojson(budget: Budget, value: Any, indent: Any = None, *args: Any, **kwargs: Any) -> Any:
    size = json_lower_bound(value, budget.bounds.max_value)
    budget.within(size * (1 + indent) if isinstance(indent, int) and indent > 0 else size, "a JSON text")
    return value


def _check_count(budget: Budget, value: Any, count: Any = 0, *args: Any, **kwargs: Any) -> Any:
    """``batch`` and ``slice`` make lists of a length (or as many lists as) they are asked."""
    count = kwargs.get("linecount", kwargs.get("slices", count))  # the count may be named
    budget.within(count if isinstance(count, int) else 0, "a batch or slice")
    return value


def _check_sum(budget: Budget, value: Any, attribute: Any = None, start: Any = 0) -> Any:
    items = value if isinstance(value, list | tuple) else list(budget.counted(value))
    if not isinstance(start, Number):
        # Summing lists or texts copies every partial sum: count them all.
        budget.within(len(items) * json_lower_bound(items, budget.bounds.max_value) // 16,
                      "a sum of lists (its partial sums counted)")
    return items


def _check_text(budget: Budget, value: Any, *args: Any, **kwargs: Any) -> Any:
    """A filter that makes its value text: measure the text first."""
    budget.text_of(value)
    return value


_FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _check_center, "indent": _check_indent, "replace": _check_replace, "format": _check_format,
    "wordwrap": _check_wordwrap, "join": _check_join, "tojson": _check_tojson, "batch": _check_count,
    "slice": _check_count, "sum": _check_sum,
    **{name: _check_text for name in (
        "capitalize", "e", "escape", "forceescape", "lower", "pprint", "safe", "string", "striptags", "title",
        "trim", "truncate", "upper", "urlencode", "urlize", "wordcount", "xmlattr")},
}


def _bounded_filter(original: Callable[..., Any], check: Callable[..., Any] | None) -> Callable[..., Any]:
    """``original`` (a Jinja2 filter) as a step of the budget, with ``check`` called on its value and arguments
    first and what it gives measured."""
    if getattr(original, "jinja_pass_arg", None) is None:
        def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
            budget = _budget.get()
            budget.step()
            if check is not None:
                value = check(budget, value, *args, **kwargs)
            return budget.sized(original(value, *args, **kwargs))
    else:  # the filter takes a context, an eval context or the environment first
        def bounded(passed: Any, value: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            budget = _budget.get()
            budget.step()
            if check is not None:
                value = check(budget, value, *args, **kwargs)
            return budget.sized(original(passed, value, *args, **kwargs))
    return update_wrapper(bounded, original)  # keeps ``jinja_pass_arg``


# -- formatting ------------------------------------------------------------------------------------------------


class _BoundedFormatter(SandboxedFormatter):
    """``str.format``: no field padded beyond the cap, no value made text over it, nor the fields together."""

    built = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.built = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = _budget.get()
        budget.check_format_spec(format_spec)
        budget.text_of(value, "a formatted field")
        field = super().format_field(value, format_spec)
        self.built += len(field)
        budget.within(self.built, "a formatted text")
        return field


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    """The same for ``Markup.format``, which escapes its fields."""


def _one_mapping(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if kwargs or len(args) != 1:
        raise TypeError("format_map() takes exactly one mapping argument")
    return args[0]


# -- globals -----------------------------------------------------------------------------------------------------


def _bounded_range(*args: int) -> range:
    return _budget.get().bounded_range(*args)


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    _budget.get().within(n * max * 12, "lorem ipsum")  # words of at most a dozen characters
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


# -- rewriting what Jinja2 builds without a hook -----------------------------------------------------------------

TEXT_FILTER, SIZED_FILTER = "tn_bounded_text", "tn_bounded_sized"


def _text_filter(value: Any) -> Any:
    _budget.get().text_of(value, "a joined text")
    return value


def _sized_filter(value: Any) -> Any:
    return _budget.get().sized(value)


def wrap(node: nodes.Expr, name: str) -> nodes.Filter:
    """``node`` passed through the filter ``name``."""
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class BoundedTransformer(NodeTransformer):
    """Rewrites a parsed template or expression so that ``~`` measures what it joins, as text, before joining,
    and what it built."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        """Measure each operand of ``a ~ b`` as the text it becomes, then the joined result."""
        node = self.generic_visit(node)
        node.nodes = [wrap(child, TEXT_FILTER) for child in node.nodes]
        return wrap(node, SIZED_FILTER)


# -- the environment ---------------------------------------------------------------------------------------------


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox with every call and filter call a step of the budget and what they build checked."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.update(range=_bounded_range, lipsum=_bounded_lipsum)
        for name, original in list(self.filters.items()):
            self.filters[name] = _bounded_filter(original, _FILTER_CHECKS.get(name))
        # Ours are not steps (the rewriting adds them around values already counted).
        self.filters.update({TEXT_FILTER: _text_filter, SIZED_FILTER: _sized_filter})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Jinja2's hook for ``*``, ``**``, ``%`` and ``+``: refuse one that would build too much, measure the rest."""
        budget = _budget.get()
        budget.check_binop(operator, left, right)
        return budget.sized(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Jinja2's hook for every call in a template: one step of the budget, string methods checked first,
        and what it returns measured."""
        budget = _budget.get()
        budget.step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes):
            args = budget.check_method(getattr(__obj, "__name__", ""), owner, args, kwargs)
        return budget.sized(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja2's hook for ``str.format`` and ``format_map``: a replacement that measures each field it fills
        (None for any other callable)."""
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

    def compile_bounded(self, source: str, transformer: NodeTransformer | None = None) -> Any:
        """The template ``source``, rewritten by ``transformer`` (a :class:`BoundedTransformer`)."""
        tree = (transformer or BoundedTransformer()).visit(self.parse(source))
        return self.template_class.from_code(self, self.compile(tree), self.make_globals(None), None)

    def compile_bounded_expression(self, source: str) -> TemplateExpression:
        """What ``compile_expression(source, undefined_to_none=False)`` gives, rewritten by
        :class:`BoundedTransformer`; raises TemplateSyntaxError."""
        parser = Parser(self, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
        expr = BoundedTransformer().visit(expr)
        expr.set_environment(self)
        body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
        return TemplateExpression(self.from_string(nodes.Template(body, lineno=1)), False)


__all__ = ["SIZED_FILTER", "TEXT_FILTER", "BoundedEnvironment", "BoundedTransformer", "current_budget", "evaluating",
           "wrap"]
