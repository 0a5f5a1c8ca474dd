"""Argument and output validation against a tool's schemas, with one cache of compiled validators.

Paths are JSON pointers (``/a/0``); the invocation pipeline, the MCP server and the mission compiler
all report problems the same way, through :func:`schema_problems`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.spec import ToolSpec

if TYPE_CHECKING:
    # imported when the first validator is compiled: what never validates (listing or searching tools) skips it
    from jsonschema import Draft202012Validator


@lru_cache(maxsize=8192)
def _validator_for(schema_json: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def compiled_validator(schema: Mapping[str, Any] | bool) -> Draft202012Validator:
    """The compiled Draft 2020-12 validator of ``schema``, shared by every schema with the same JSON."""
    return _validator_for(json.dumps(schema, sort_keys=True))


def validator(spec: ToolSpec, which: str) -> Draft202012Validator | None:
    """The compiled validator of ``spec``'s ``input`` or ``output`` schema (cached), or None without one."""
    schema = spec.input_schema if which == "input" else spec.output_schema
    if not schema:
        return None
    return spec.memo(f"validator:{which}", lambda: compiled_validator(schema))


def argument_validator(spec: ToolSpec, name: str) -> Draft202012Validator | None:
    """The compiled validator of ``spec``'s argument ``name`` (with the tool's ``$defs``), or None where
    the input schema does not declare it.

    Kept on the spec, so checking the constant arguments of a thousand steps that use the same tool
    serialises the argument's schema once, not once per step.
    """

    def make() -> Draft202012Validator | None:
        schema = spec.input_schema or {}
        prop = (schema.get("properties") or {}).get(name)
        if not isinstance(prop, dict | bool):
            return None
        defs = schema.get("$defs")
        return compiled_validator({**prop, "$defs": defs} if defs and isinstance(prop, dict) else prop)

    return spec.memo(f"validator:argument:{name}", make)


def pointer(path: Iterable[Any]) -> str:
    """``path`` as a JSON pointer: ``/a/0``, and ``/`` for the value itself."""
    return "/" + "/".join(str(p) for p in path)


def shortened(message: str, limit: int = 240) -> str:
    """``message`` cut to about ``limit`` characters, keeping its start and its end."""
    # JSON Schema's messages quote the whole value: a list of a million items made a 12 MB line
    # (and 700 MB to print it). The start and the end say what is wrong.
    return message if len(message) <= limit else f"{message[: limit - 80]} … {message[-70:]}"


def schema_problems(check: Draft202012Validator, value: Any) -> list[dict[str, str]]:
    """Where and why ``value`` breaks ``check``'s schema, as ``{"path": "/a/0", "message": …,
    "schema_path": …}`` in the order of their paths; empty when it fits."""
    return [{"path": pointer(err.absolute_path), "message": shortened(err.message),
             "schema_path": pointer(err.absolute_schema_path)}
            for err in sorted(check.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))]


def argument_problems(spec: ToolSpec, arguments: Mapping[str, Any]) -> list[dict[str, str]]:
    """Schema violations of ``arguments`` as ``{"path": "/a/0", "message": …}``, empty when valid.

    A ``@tool`` function is checked with the pydantic model its schema was generated from (several
    times faster than JSON Schema, same verdicts); other tools with their JSON Schema.
    """
    model = getattr(spec.callable, "arguments", None) if spec.entry.kind == "python" else None
    if model is not None and hasattr(model, "model_validate"):
        return _model_problems(model, arguments)
    check = validator(spec, "input")
    return [] if check is None else schema_problems(check, arguments)


def _model_problems(model: Any, arguments: Mapping[str, Any]) -> list[dict[str, str]]:
    """The pydantic model's verdict on ``arguments``, in the shape of :func:`schema_problems`."""
    try:
        model.model_validate(arguments)
    except ValidationError as exc:
        return [{"path": pointer(e["loc"]), "message": e["msg"], "schema_path": ""}
                for e in exc.errors(include_url=False)]
    return []


def output_problem(spec: ToolSpec, output: Any) -> str | None:
    """The first way ``output`` breaks ``spec``'s output schema, or None when it fits (or there is none)."""
    check = validator(spec, "output")
    if check is None:
        return None
    bad = next(iter(check.iter_errors(output)), None)
    return None if bad is None else bad.message


def arguments_error(spec: ToolSpec, arguments: Mapping[str, Any]) -> ToolError | None:
    """The ``invalid_arguments`` error of ``arguments`` (naming the tool and where the first problem is), or
    None when they fit the input schema."""
    problems = argument_problems(spec, arguments)
    if not problems:
        return None
    first = problems[0]
    where = f" at {first['path']}" if first["path"] != "/" else ""
    return ToolError(kind=ErrorKind.INVALID_ARGUMENTS,
                     message=f"invalid arguments for {spec.ref}{where}: {first['message']}",
                     details={"errors": problems})


def output_error(spec: ToolSpec, output: Any) -> ToolError | None:
    """The ``output_invalid`` error of ``output`` (naming the tool), or None when it fits the output schema."""
    bad = output_problem(spec, output)
    if bad is None:
        return None
    return ToolError(kind=ErrorKind.OUTPUT_INVALID,
                     message=f"{spec.ref} returned output that does not match its schema: {bad}")
