"""``@tool``: a typed Python function becomes a tool, its schemas derived by pydantic from hints and docstring."""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, get_type_hints, overload

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from toolnexus.core.bounds import exceeded, json_lower_bound, output_cap
from toolnexus.core.spec import CostModel, Lifecycle, Limits, SafetyTier, ToolEntry, ToolExample, ToolSpec
from toolnexus.registry.versions import parse_version

F = TypeVar("F", bound=Callable[..., Any])

SPEC_ATTR = "__toolnexus_spec__"
_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_IMMUTABLE = (type(None), bool, int, float, str, bytes)
_CONTAINERS = (dict, list, tuple, set, frozenset)

# Decorated tools, in decoration order; registries that include decorated tools read and follow this.
_decorated: list[ToolSpec] = []
_decorated_lock = threading.Lock()
_decorated_listeners: list[Callable[[ToolSpec], None]] = []


class PythonTool:
    """The callable a runtime invokes: validates JSON arguments into the function's types, calls it,
    and turns the return value back into JSON-compatible data."""

    def __init__(
        self, fn: Callable[..., Any], arguments: type[BaseModel], returns: TypeAdapter[Any] | None, takes: list[str]
    ) -> None:
        self.fn = fn
        self.arguments = arguments
        self.returns = returns
        self.takes = takes
        self.is_async = inspect.iscoroutinefunction(fn)
        # A call with no arguments to a function whose parameters all have plain defaults (a mission step
        # that only orders itself after others, say) gets the defaults without a round through pydantic:
        # its model would do the same (defaults are not validated; a mutable one is deep-copied per call).
        # Parameters with a default factory keep the pydantic path.
        fields = arguments.model_fields
        plain = [name for name in takes if name in fields and not fields[name].is_required()
                 and fields[name].default_factory is None]
        self._defaults: dict[str, Any] | None = (
            {name: fields[name].default for name in takes} if len(plain) == len(takes) else None)
        self._mutable_defaults = [name for name, value in (self._defaults or {}).items()
                                  if not isinstance(value, _IMMUTABLE)]

    def bind_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of a call: the defaults (fresh copies of mutable ones) overlaid by ``arguments``."""
        if not arguments and self._defaults is not None:
            values = dict(self._defaults)
            for name in self._mutable_defaults:
                values[name] = copy.deepcopy(values[name])
            return values
        values = self.arguments.model_validate(arguments).__dict__
        return {name: values[name] for name in self.takes}

    def dump(self, value: Any) -> Any:
        """``value`` as JSON-compatible data; over the call's output cap, ``limit_exceeded``."""
        if value is None or isinstance(value, str | int | float | bool):
            return value  # already JSON: skip pydantic on the hot path
        _refuse_over_cap(value)
        if self.returns is not None:
            return self.returns.dump_python(value, mode="json")
        return _ANY.dump_python(value, mode="json")

    def __call__(self, arguments: dict[str, Any]) -> Any:
        """Synchronous call (for sync functions); the runtimes await :meth:`acall` for async ones."""
        return self.dump(self.fn(**self.bind_arguments(arguments)))

    async def acall(self, arguments: dict[str, Any]) -> Any:
        """Call the async tool function with ``arguments`` and return its result dumped to JSON values."""
        return self.dump(await self.fn(**self.bind_arguments(arguments)))


def _refuse_over_cap(value: Any) -> None:
    """Refuse a value over the call's output cap as JSON before pydantic converts it.

    A value that shares its parts (``x = [x, x]`` sixty times) is small in memory, but pydantic expands
    every part in Rust, holding the GIL: the process would hang, deaf even to Ctrl-C. Measured here with
    each part counted as often as it appears, in steps of the distinct parts. A model or dataclass is
    measured by its fields.
    """
    measured = value if isinstance(value, _CONTAINERS) else getattr(value, "__dict__", None)
    if not isinstance(measured, _CONTAINERS) or _flat(measured):
        return  # no part to share: converting it costs what it holds in memory, measured by the runtime after
    cap = output_cap()
    if cap and json_lower_bound(measured, cap) > cap:
        raise exceeded(f"output is over the {cap}-byte cap (as JSON); return less", max_output=cap)


def _flat(value: Any) -> bool:
    """Whether ``value`` (a container) holds no container (a tuple key aside)."""
    # A loop, not all() over a generator: faster on the small values of the hot path.
    for part in value.values() if isinstance(value, dict) else value:  # noqa: SIM110
        if isinstance(part, _CONTAINERS):
            return False
    return True


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


def describe_function(
    fn: Callable[..., Any], name: str
) -> tuple[dict[str, Any], dict[str, Any] | None, PythonTool, str, str]:
    """Input schema, output schema, callable wrapper, summary and description of ``fn``."""
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: p.description for p in doc.params}
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    takes: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
        takes.append(param.name)
    model_name = "".join(part.capitalize() for part in name.replace("-", "_").replace(".", "_").split("_"))
    arguments = create_model(f"{model_name}Arguments", __config__=ConfigDict(extra="forbid"), **fields)
    input_schema = arguments.model_json_schema()
    input_schema.pop("title", None)
    returns: TypeAdapter[Any] | None = None
    output_schema: dict[str, Any] | None = None
    if "return" in hints and hints["return"] is not type(None):
        returns = TypeAdapter(hints["return"])
        output_schema = returns.json_schema(mode="serialization")
        if doc.returns and doc.returns.description:
            output_schema.setdefault("description", doc.returns.description)
    summary = doc.short_description or ""
    description = "\n\n".join(p for p in (doc.short_description, doc.long_description) if p)
    return input_schema, output_schema, PythonTool(fn, arguments, returns, takes), summary, description


def _examples(tool_name: str, examples: Iterable[ToolExample | dict[str, Any]]) -> list[ToolExample]:
    out: list[ToolExample] = []
    for number, example in enumerate(examples, 1):
        try:
            out.append(example if isinstance(example, ToolExample) else ToolExample.model_validate(example))
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'example'}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"@tool {tool_name!r}: example {number} is not {{arguments, result, description}}: "
                             f"{problem}") from None
    return out


@overload
def tool(fn: F) -> F: ...


@overload
def tool(
    *,
    name: str | None = ...,
    version: str = ...,
    tier: SafetyTier | str = ...,
    timeout: float | str | None = ...,
    memory: int | str | None = ...,
    cost: CostModel | dict[str, Any] | None = ...,
    tags: Iterable[str] = ...,
    runtime: str = ...,
    deterministic: bool = ...,
    summary: str | None = ...,
    examples: Iterable[ToolExample | dict[str, Any]] = ...,
    lifecycle: Lifecycle | str = ...,
    successor: str | None = ...,
    idempotent: bool | None = ...,
    register: bool = ...,
) -> Callable[[F], F]: ...


def tool(
    fn: F | None = None,
    *,
    name: str | None = None,
    version: str = "1.0.0",
    tier: SafetyTier | str = SafetyTier.READ_ONLY,
    timeout: float | str | None = None,
    memory: int | str | None = None,
    cost: CostModel | dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    runtime: str = "inprocess",
    deterministic: bool = False,
    summary: str | None = None,
    examples: Iterable[ToolExample | dict[str, Any]] = (),
    lifecycle: Lifecycle | str = Lifecycle.ACTIVE,
    successor: str | None = None,
    idempotent: bool | None = None,
    register: bool = True,
) -> F | Callable[[F], F]:
    """Make a typed Python function a tool.

    The input schema comes from the parameters' type hints and the docstring's parameter
    descriptions, the output schema from the return annotation. The function is returned unchanged
    (still callable directly); its :class:`ToolSpec` is on ``fn.__toolnexus_spec__``.

    ``examples`` are calls a reader (or an agent) can copy: ``{"arguments": {...}, "result": ...,
    "description": "..."}``; the schema level of the disclosure shows them. ``lifecycle`` is where the
    tool is in its life (``experimental``, ``active``, ``deprecated``, ``retired``); discovery filters on it,
    and the gate refuses a retired tool (and warns about a deprecated one) naming its ``successor``.
    ``idempotent=True`` says a second call with the same arguments does no more than the first (read-only
    tools are, by default): such a call may be started again when its Dask worker is lost mid-call.

    Example::

        @tool(tier="read_only", tags=["text"])
        def word_count(text: str) -> int:
            \"\"\"Count the words in a text.\"\"\"
            return len(text.split())
    """

    def decorate(func: F) -> F:
        tool_name = name or func.__name__
        try:
            parse_version(version)
        except ValueError as exc:
            raise ValueError(f"@tool {tool_name!r}: {exc}") from None
        try:
            state = Lifecycle(lifecycle)
        except ValueError:
            known = ", ".join(s.value for s in Lifecycle)
            raise ValueError(f"@tool {tool_name!r}: unknown lifecycle {lifecycle!r} (use one of {known})") from None
        samples = _examples(tool_name, examples)
        input_schema, output_schema, wrapper, doc_summary, description = describe_function(func, tool_name)
        target = f"{func.__module__}:{func.__qualname__}"
        spec = ToolSpec(
            name=tool_name,
            version=version,
            summary=summary or doc_summary or _first_line(description),
            description=description,
            input_schema=input_schema,
            output_schema=output_schema,
            tier=SafetyTier(tier),
            limits=Limits(timeout=timeout, memory=memory),
            cost=cost if isinstance(cost, CostModel) else CostModel(**(cost or {})),
            tags=list(tags),
            runtime=runtime,
            deterministic=deterministic,
            entry=ToolEntry(kind="python", target=target),
            examples=samples,
            lifecycle=state,
            successor=successor,
            idempotent=idempotent,
            source=f"python:{target}",
        ).bind(wrapper)
        setattr(func, SPEC_ATTR, spec)
        if register:
            with _decorated_lock:
                _decorated.append(spec)
                listeners = list(_decorated_listeners)
            for listener in listeners:
                listener(spec)
        return func

    return decorate(fn) if fn is not None else decorate


def spec_of(obj: Any) -> ToolSpec | None:
    """The ToolSpec of a ``@tool`` function, or ``None``."""
    return getattr(obj, SPEC_ATTR, None)


def follow_decorated(listener: Callable[[ToolSpec], None]) -> None:
    """Replay every decorated tool into ``listener`` and keep it informed of new ones."""
    with _decorated_lock:
        existing = list(_decorated)
        _decorated_listeners.append(listener)
    for spec in existing:
        listener(spec)
