"""Argument and output validation against a tool's schemas, with one cache of compiled validators.

Paths are JSON pointers (``/a/0``); the invocation pipeline, the MCP server and the mission compiler
all report problems the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError

from toolnexus.core.spec import ToolSpec


@lru_cache(maxsize=4096)
def _validator_for(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def validator(spec: ToolSpec, which: str) -> Draft202012Validator | None:
    """The compiled validator of ``spec``'s ``input`` or ``output`` schema (cached), or None without one."""
    schema = spec.input_schema if which == "input" else spec.output_schema
    if not schema:
        return None
    return spec.memo(f"validator:{which}", lambda: _validator_for(json.dumps(schema, sort_keys=True)))


def argument_problems(spec: ToolSpec, arguments: Mapping[str, Any]) -> list[dict[str, str]]:
    """Schema violations of ``arguments`` as ``{"path": "/a/0", "message": …}``, empty when valid.

    A ``@tool`` function is checked with the pydantic model its schema was generated from (several
    times faster than JSON Schema, same verdicts); other tools with their JSON Schema.
    """
    model = getattr(spec.callable, "arguments", None) if spec.entry.kind == "python" else None
    if model is not None and hasattr(model, "model_validate"):
        try:
            model.model_validate(arguments)
        except ValidationError as exc:
            return [{"path": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"],
                     "schema_path": ""} for e in exc.errors(include_url=False)]
        return []
    check = validator(spec, "input")
    if check is None:
        return []
    return [{"path": "/" + "/".join(str(p) for p in err.absolute_path), "message": err.message,
             "schema_path": "/" + "/".join(str(p) for p in err.absolute_schema_path)}
            for err in sorted(check.iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path)))]


def output_problem(spec: ToolSpec, output: Any) -> str | None:
    """The first way ``output`` breaks ``spec``'s output schema, or None when it fits (or there is none)."""
    check = validator(spec, "output")
    if check is None:
        return None
    bad = next(iter(check.iter_errors(output)), None)
    return None if bad is None else bad.message
