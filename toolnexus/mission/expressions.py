"""``${{ … }}`` expressions, evaluated by Jinja2's sandbox (never ``eval``).

Plain references (``steps.fetch.outputs.text``, ``inputs.region``, ``item.name``) take a fast path: a
walk over the context with no template machinery, which keeps per-step overhead low. Anything else
(operators, filters, functions) is compiled lazily by a sandboxed Jinja environment. GitHub Actions'
``&&``, ``||``, ``!`` and ``null`` are accepted and mean ``and``, ``or``, ``not`` and ``none``.

Evaluation is bounded (:mod:`toolnexus.core.templating`), since it runs on the engine's event loop where
nothing could stop it: a budget of steps (calls and filter calls), a cap on every value an expression builds
(checked before building: ``'x' * 10**10``, ``2 ** 10**9``, ``'{:>999999999}'.format(1)``,
``range(10**9)``…) and on its result as JSON, and a deadline; one budget covers the expressions of one
value (a step's ``with:``, its ``if:``, the mission's ``outputs``). Past a bound, an ExpressionError says
which, and what to do.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError

from toolnexus.core.bounds import Bounds, Budget, json_lower_bound
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.core.remote import inside_remote_message, is_remote
from toolnexus.core.templating import SIZED_FILTER, TEXT_FILTER, BoundedEnvironment, current_budget, evaluating
from toolnexus.errors import InvalidInput

TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_SIMPLE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\]|\['[^'\]]*'\]|\[\"[^\"\]]*\"\])*$")
_SEGMENT = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]|\['([^'\]]*)'\]|\[\"([^\"\]]*)\"\]")
_STRINGS = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
_GH_OPERATORS = [
    (re.compile(r"&&"), " and "),
    (re.compile(r"\|\|"), " or "),
    (re.compile(r"!(?!=)"), " not "),
    (re.compile(r"(?<![.\w])null\b"), "none"),
]
# Names that are constants, not references: they never take the fast path.
_LITERALS = frozenset({"none", "None", "null", "true", "True", "false", "False"})

STATUS_FUNCTIONS = ("always", "success", "failure", "cancelled")

MAX_VALUE = 16 * 2**20  # characters or items of any value an expression builds, and of its result as JSON
MAX_STEPS = 1_000_000  # calls and filter calls, across the expressions of one value
EVALUATION_TIMEOUT = 2.0  # seconds, across the expressions of one value
LIMIT_ADVICE = "compute less in one expression (a tool step can do the heavy work)"

# Attributes that reach from a value into the interpreter (frames, code, the class hierarchy): the
# sandbox refuses them at run time, and the compiler refuses them before anything runs. Names that
# start with "_" are refused too.
_INTERNAL_ATTRIBUTES = frozenset(
    {
        "mro",
        "f_back", "f_builtins", "f_code", "f_globals", "f_locals",
        "tb_frame", "tb_next",
        "co_code",
        "gi_code", "gi_frame", "gi_yieldfrom",
        "cr_await", "cr_code", "cr_frame",
        "ag_await", "ag_code", "ag_frame",
        "func_code", "func_globals",
        "im_class", "im_func", "im_self",
    }
)  # fmt: skip


class ExpressionError(InvalidInput, ValueError):
    """An expression that cannot be parsed or evaluated; the message says which and why."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ExpressionLimitError(ExpressionError):
    """An expression refused past a bound of its evaluation (steps, size, time)."""


class _Environment(BoundedEnvironment):
    # A mapping's keys win over its methods, so `outputs.items` means the key "items".
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        if is_remote(obj):
            raise ToolFailure(inside_remote_message("a step's output", obj))
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if is_remote(obj) and not (isinstance(argument, str) and argument in obj):
            raise ToolFailure(inside_remote_message("a step's output", obj))
        return super().getitem(obj, argument)


_env = _Environment(undefined=StrictUndefined)
# The filters an expression may name (not those the bounds add around its values).
_FILTERS = frozenset(_env.filters) - {TEXT_FILTER, SIZED_FILTER}


def _bounds() -> Bounds:
    # Read at each evaluation, so that a test (or an embedder) may lower a bound by setting the constant.
    return Bounds(subject="expression", counted="calls and filter calls", verb="evaluate", advice=LIMIT_ADVICE,
                  max_value=MAX_VALUE, max_steps=MAX_STEPS, timeout=EVALUATION_TIMEOUT)


def _budget() -> Budget | None:
    """The expressions' budget under way (one value's), or None."""
    budget = current_budget()
    return budget if budget is not None and budget.bounds.subject == "expression" else None

# Functions an expression may call anywhere (Jinja's globals); `always()` & co. only in `if:`.
GLOBAL_FUNCTIONS = frozenset(_env.globals)


def _syntax_message(source: str, exc: TemplateSyntaxError) -> str:
    # The expression is parsed inside "{{ … }}": speak of the expression, not of Jinja's wrapper.
    message = exc.message or "syntax error"
    message = message.replace("expected token 'end of print statement'", "expected the end of the expression")
    message = message.replace("'end of print statement'", "end of expression")
    message = message.replace("end of print statement", "end of expression")
    message = message.replace("unexpected '}'", "unexpected end of expression")
    message = re.sub(r"unexpected char (.*) at \d+$", r"unexpected character \1", message)
    return f"cannot parse `{source}`: {message}"


SYNTAX_HINT = "write Jinja-style expressions, e.g. `steps.fetch.outputs.size > 0 and inputs.ok` or `x | length`"


def unsafe_attribute(name: str) -> bool:
    """Whether ``.name`` in an expression would reach Python internals rather than data."""
    return name.startswith("_") or name in _INTERNAL_ATTRIBUTES


def _dunder(value: object) -> bool:
    return isinstance(value, str) and value.startswith("__") and value.endswith("__") and len(value) > 4


def _refuse_unsafe(source: str, names: list[tuple[str, bool]]) -> ExpressionError:
    """The refusal of ``names`` (each with whether it was written as a key, ``['name']``), in source order."""
    names = sorted(dict.fromkeys(names), key=lambda found: source.find(found[0]))
    written = ", ".join(f"`['{name}']`" if key else f"`.{name}`" for name, key in names)
    hint = "expressions read data (inputs, step outputs, item), not Python internals"
    name, key = names[0]
    if not key and not _dunder(name):
        hint += f"; for a key of that name write `['{name}']`"
    return ExpressionError(f"`{source}` reaches for {written}, which expressions may not use", hint)


def _check_fast_path(source: str, segments: list[tuple[str | None, str | int]]) -> None:
    """Refuse ``.__class__``, ``._x``, ``.mro`` and ``['__class__']`` in a plain reference."""
    unsafe = [(str(key), attribute is None) for attribute, key in segments
              if (attribute is not None and unsafe_attribute(attribute)) or _dunder(key)]
    if unsafe:
        raise _refuse_unsafe(source, unsafe)


def _check_tree(source: str, tree: nodes.Node) -> None:
    """Refuse unsafe attributes anywhere in a parsed expression, including filters' string arguments
    (``x | attr('__class__')``, ``map(attribute='__globals__')``)."""
    unsafe: list[tuple[str, bool]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Test, nodes.Call)):
        if isinstance(node, nodes.Getattr) and unsafe_attribute(node.attr):
            unsafe.append((node.attr, False))
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and _dunder(node.arg.value):
            unsafe.append((node.arg.value, True))
        elif isinstance(node, nodes.Filter | nodes.Test | nodes.Call) and (name := _unsafe_argument(node)):
            unsafe.append((name, False))
    if unsafe:
        raise _refuse_unsafe(source, unsafe)


def _unsafe_argument(node: nodes.Filter | nodes.Test | nodes.Call) -> str | None:
    """A string argument naming an attribute to read that is unsafe: any dunder, and ``attr('_x')``."""
    for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
        value = arg.value if isinstance(arg, nodes.Const) else None
        attr_filter = isinstance(node, nodes.Filter) and node.name == "attr"
        if isinstance(value, str) and (_dunder(value) or (attr_filter and unsafe_attribute(value))):
            return value
    return None


def _translate(source: str) -> str:
    parts = _STRINGS.split(source)
    for i in range(0, len(parts), 2):  # even parts are outside string literals
        for pattern, replacement in _GH_OPERATORS:
            parts[i] = pattern.sub(replacement, parts[i])
    return "".join(parts)


Ref = tuple[str | int, ...]


def _chain(node: nodes.Node) -> Ref | None:
    path: list[str | int] = []
    while True:
        if isinstance(node, nodes.Getattr):
            path.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            path.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            path.append(node.name)
            return tuple(reversed(path))
        else:
            return None


def _collect(node: nodes.Node, refs: list[Ref], calls: set[str]) -> None:
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        chain = _chain(node)
        if chain is not None:
            refs.append(chain)
            return
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        calls.add(node.node.name)
        for child in node.iter_child_nodes(exclude=("node",)):
            _collect(child, refs, calls)
        return
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        # A method call (`steps.a.outputs.text.split()`) reads the object, not a field named `split`.
        _collect(node.node.node, refs, calls)
        for child in node.iter_child_nodes(exclude=("node",)):
            _collect(child, refs, calls)
        return
    for child in node.iter_child_nodes():
        _collect(child, refs, calls)


class Expression:
    """One ``${{ … }}`` expression: its references (for the DAG) and a way to evaluate it."""

    __slots__ = ("_compiled", "calls", "path", "refs", "source", "text")

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        if not self.source:
            raise ExpressionError("empty expression")
        self.calls: set[str] = set()
        self._compiled: Callable[..., Any] | None = None
        first = re.match(r"[A-Za-z_]\w*", self.source)
        if _SIMPLE.match(self.source) and first is not None and first.group(0) not in _LITERALS:
            found: list[tuple[str | None, str | int]] = [(None, first.group(0))]  # the root: a name, checked later
            for m in _SEGMENT.finditer(self.source, first.end()):
                attr, index, sq, dq = m.groups()
                found.append((attr, int(index) if index is not None else (attr or sq or dq or "")))
            _check_fast_path(self.source, found)
            self.path: Ref | None = tuple(segment for _, segment in found)
            self.refs: list[Ref] = [self.path]
            self.text = self.source
            return
        self.path = None
        self.text = _translate(self.source)
        try:
            tree = _env.parse("{{ " + self.text + " }}")
        except TemplateSyntaxError as exc:
            raise ExpressionError(_syntax_message(self.source, exc), SYNTAX_HINT) from None
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number; brackets nested too deep
            raise _too_complex(self.source, exc) from None
        try:
            self._analyse(tree)
        except RecursionError as exc:  # `a and a and …` a thousand times
            raise _too_complex(self.source, exc) from None
        if not self.refs and self.calls <= GLOBAL_FUNCTIONS:
            self._check_constant()

    def _check_constant(self) -> None:
        """Evaluate an expression that reads nothing now, so that one past a bound (``'x' * 10**10``) is
        refused when the mission is checked; its other errors wait for the run, as any expression's do."""
        try:
            self.evaluate({})
        except ExpressionLimitError:
            raise
        except ExpressionError:
            pass

    def _analyse(self, tree: nodes.Node) -> None:
        """Check the parsed expression's names and attributes, and find its references."""
        _check_tree(self.source, tree)
        for node in tree.find_all((nodes.Filter, nodes.Test)):
            known = _FILTERS if isinstance(node, nodes.Filter) else _env.tests
            if node.name not in known:
                kind = "filter" if isinstance(node, nodes.Filter) else "test"
                close = difflib.get_close_matches(node.name, list(known), n=1)
                raise ExpressionError(
                    f"unknown {kind} `{node.name}` in `{self.source}`",
                    f"did you mean `{close[0]}`?" if close else f"see the Jinja2 built-in {kind}s",
                )
        self.refs = []
        _collect(tree, self.refs, self.calls)
        # A call's name (e.g. `always()`) is a function, not a reference to look up.
        self.refs = [r for r in self.refs if not (len(r) == 1 and r[0] in self.calls)]

    @property
    def roots(self) -> set[str]:
        """The names the expression's references start from (``steps``, ``inputs``…)."""
        return {str(r[0]) for r in self.refs}

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The expression's value in ``context``; raises ExpressionError with the reason."""
        if self.path is not None:
            return _walk(self.path, context, self.source)
        if self._compiled is None:
            self._compiled = _compile(self.text, self.source)
        budget = _budget()
        if budget is None:
            with evaluating(Budget(_bounds())) as budget:
                return self._evaluate(self._compiled, context, budget)
        return self._evaluate(self._compiled, context, budget)

    def _evaluate(self, compiled: Callable[..., Any], context: Mapping[str, Any], budget: Budget) -> Any:
        try:
            result = compiled(**context)
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
            _check_result(result, budget)
            return result
        except ToolFailure as exc:  # a bound of the evaluation
            if exc.error.kind != ErrorKind.LIMIT_EXCEEDED:
                raise ExpressionError(f"`{self.source}` failed: {exc.error.message}") from None
            raise _refused(f"`{_shown(self.source)}` is refused: {exc.error.message}") from None
        except UndefinedError as exc:
            raise ExpressionError(f"`{self.source}`: {exc.message}") from None
        except SecurityError as exc:
            raise ExpressionError(f"`{self.source}` is not allowed: {exc}") from None
        except Exception as exc:  # an operator on the wrong types, a bad filter argument, …
            raise ExpressionError(f"`{self.source}` failed: {type(exc).__name__}: {exc}") from None


def _check_result(result: Any, budget: Budget) -> None:
    """Refuse a result over the cap as JSON (a list that shares its parts counted out in full)."""
    if isinstance(result, dict | list | tuple):
        budget.within(json_lower_bound(result, budget.bounds.max_value), "a result (as JSON)")


def _refused(message: str) -> ExpressionLimitError:
    """A bound's refusal: its message says what to do (the engine reports the message alone)."""
    return ExpressionLimitError(message if message.endswith(LIMIT_ADVICE) else f"{message}; {LIMIT_ADVICE}")


def _shown(source: str) -> str:
    return source if len(source) <= 60 else source[:57] + "..."


def _too_complex(source: str, exc: BaseException) -> ExpressionError:
    shown = _shown(source)
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return ExpressionError(f"`{shown}` holds a number with too many digits", "write at most 4,300 digits")
    return ExpressionError(f"`{shown}` is too deeply nested or too long to evaluate", "split it into simpler ones")


@lru_cache(maxsize=4096)
def _compile(text: str, source: str) -> Callable[..., Any]:
    try:
        compiled = _env.compile_bounded_expression(text)
    except TemplateSyntaxError as exc:
        raise ExpressionError(_syntax_message(source, exc), SYNTAX_HINT) from None
    except (ValueError, RecursionError, SyntaxError, MemoryError) as exc:  # Python's own compiler's bounds
        raise _too_complex(source, exc) from None
    return compiled


def _walk(path: Ref, context: Mapping[str, Any], source: str) -> Any:
    value: Any = context
    for i, part in enumerate(path):
        try:
            if isinstance(value, Mapping) or (isinstance(value, list | tuple) and isinstance(part, int)):
                value = value[part]
            else:
                raise KeyError(part)
        except (KeyError, IndexError):
            where = ".".join(str(p) for p in path[:i]) or "the context"
            if is_remote(value):
                raise ExpressionError(f"`{source}`: {inside_remote_message(where, value)}") from None
            if isinstance(value, list | tuple) and isinstance(part, int):
                raise ExpressionError(f"`{source}`: {where} has no item {part} (it has {len(value)} items)") from None
            if value is None:
                raise ExpressionError(f"`{source}`: {where} is null, so it has no {part!r}") from None
            if isinstance(value, Mapping) and value:
                keys = ", ".join(sorted(map(str, value))[:10])
                raise ExpressionError(f"`{source}`: {where} has no {part!r} (it has: {keys})") from None
            raise ExpressionError(f"`{source}`: {where} has no {part!r}") from None
    return value


class Template:
    """A value from the mission (any JSON shape) whose strings may hold expressions.

    A string that is exactly one ``${{ … }}`` keeps the expression's type; expressions embedded in
    longer text are formatted into it.
    """

    __slots__ = ("expressions", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.expressions: list[tuple[tuple[str | int, ...], Expression]] = []
        _find(value, (), self.expressions)

    @classmethod
    def of_parts(cls, value: dict[str, Any], parts: dict[str, Template]) -> Template:
        """The template of a mapping whose values were parsed one by one (no second parse)."""
        template = cls.__new__(cls)
        template.value = value
        template.expressions = [((name, *sub), expr) for name, part in parts.items() for sub, expr in part.expressions]
        return template

    @property
    def constant(self) -> bool:
        """Whether the value holds no ``${{ }}`` expression (it renders as itself)."""
        return not self.expressions

    def render(self, context: Mapping[str, Any]) -> Any:
        """The value with its expressions evaluated in ``context`` (under one budget); raises ExpressionError."""
        if not self.expressions:
            return self.value
        if _budget() is not None or all(expr.path is not None for _, expr in self.expressions):
            return _render(self.value, context)  # plain references build nothing: no budget to keep
        with evaluating(Budget(_bounds())):
            return _render(self.value, context)


def _find(value: Any, path: tuple[str | int, ...], out: list[tuple[tuple[str | int, ...], Expression]]) -> None:
    if isinstance(value, str):
        if "${{" in value:
            found = 0
            for match in TEMPLATE.finditer(value):
                out.append((path, expression(match.group(1))))
                found += 1
            if value.count("${{") != found:
                raise ExpressionError(f"unclosed `${{{{` in {value!r}: end the expression with `}}}}`")
    elif isinstance(value, dict):
        for k, v in value.items():
            _find(v, (*path, k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _find(v, (*path, i), out)


@lru_cache(maxsize=65536)
def expression(source: str) -> Expression:
    """A parsed expression, shared between identical sources."""
    return Expression(source)


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        if "${{" not in value:
            return value
        match = TEMPLATE.fullmatch(value.strip())
        if match and value.strip().count("${{") == 1:
            return expression(match.group(1)).evaluate(context)
        return _embed(value, context)
    if isinstance(value, dict):
        return {k: _render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, context) for v in value]
    return value


def _embed(text: str, context: Mapping[str, Any]) -> str:
    """``text`` with the value of each of its expressions put in its place, refused over :data:`MAX_VALUE`
    characters before it is joined (a text may repeat a long value many times)."""
    parts: list[str] = []
    size = end = 0
    for match in TEMPLATE.finditer(text):
        parts += (text[end:match.start()], _as_text(expression(match.group(1)).evaluate(context), match.group(1)))
        end = match.end()
        size += len(parts[-2]) + len(parts[-1])
        if size > MAX_VALUE:
            raise _refused(f"the text around `{_shown(match.group(1).strip())}` would be over the "
                           f"{MAX_VALUE:,}-character cap")
    parts.append(text[end:])
    return "".join(parts)


def _as_text(value: Any, source: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        if json_lower_bound(value, MAX_VALUE) > MAX_VALUE:  # measured before json.dumps writes it out
            raise _refused(f"`{_shown(source.strip())}` is over the {MAX_VALUE:,}-character cap as text")
        return json.dumps(value, sort_keys=True)
    return str(value)


def truthy(value: Any) -> bool:
    """The truth of an ``if:`` value; the strings "false", "0" and "" are false, as in Actions."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off", "none", "null")
    return bool(value)
