"""Ready-to-edit uses of a tool: a mission step (YAML) and a Python call.

Arguments come from the tool's first example when it has one (so the snippet runs as it stands);
required arguments the example does not give get a placeholder of the right type; the other optional
ones follow as comments showing their defaults, to say what else can be set.
"""

from __future__ import annotations

import json
import keyword
import re
from typing import Any

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.disclosure import arguments

_PLACEHOLDERS: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [],
                                 "object": {}, "null": None}


def _placeholder(arg: dict[str, Any]) -> Any:
    if arg.get("enum"):
        return arg["enum"][0]
    kind = str(arg["type"]).split(" | ")[0].split("[")[0]
    return _PLACEHOLDERS.get(kind, "")


def starter_arguments(spec: ToolSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arguments to start from: the example's and the required ones, the others with their defaults)."""
    example = spec.examples[0].arguments if spec.examples else {}
    given: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for arg in arguments(spec):
        if arg["name"] in example:
            given[arg["name"]] = example[arg["name"]]
        elif arg["required"]:
            given[arg["name"]] = _placeholder(arg)
        else:
            optional[arg["name"]] = arg.get("default")
    return given, optional


def step_id(spec: ToolSpec) -> str:
    """A step id from the tool's name: its last part, in the letters, digits and ``_`` a step id allows."""
    last = spec.name.rsplit(".", 1)[-1]
    ident = re.sub(r"[^A-Za-z0-9_]", "_", last)
    return ident if re.match(r"[A-Za-z_]", ident) else f"step_{ident}"


def _yaml(value: Any) -> str:
    # JSON is YAML 1.2: every value stays exactly what it is, strings quoted.
    return json.dumps(value, ensure_ascii=False)


def mission_step(spec: ToolSpec, step: str | None = None) -> str:
    """A mission step calling ``spec`` pinned to its version (``uses: name@version``), as YAML."""
    required, optional = starter_arguments(spec)
    lines = [f"- id: {step or step_id(spec)}", f"  uses: {spec.ref}"]
    if required:
        lines.append("  with:")
        lines += [f"    {name}: {_yaml(value)}" for name, value in required.items()]
        lines += [f"    # {name}: {_yaml(value)}" for name, value in optional.items()]
    elif optional:
        lines.append("  with: {}")
        lines += [f"    # {name}: {_yaml(value)}" for name, value in optional.items()]
    return "\n".join(lines) + "\n"


def _python(value: Any) -> str:
    return repr(value)


def python_call(spec: ToolSpec) -> str:
    """A Python call of ``spec`` through toolnexus (``await toolnexus.acall(...)``), with its result."""
    required, optional = starter_arguments(spec)
    plain = all(name.isidentifier() and not keyword.iskeyword(name) for name in [*required, *optional])
    if plain:
        parts = [f"{name}={_python(value)}" for name, value in required.items()]
        extra = [f"#     {name}={_python(value)}," for name, value in optional.items()]
        args = "".join(f", {part}" for part in parts)
    else:
        args = f", {_python(required)}"
        extra = [f"#     {name!r}: {_python(value)}," for name, value in optional.items()]
    lines = ["import toolnexus", "", f"result = await toolnexus.acall({spec.ref!r}{args})"]
    if extra:
        lines += ["# optional:", *extra]
    lines.append("result.unwrap()")
    return "\n".join(lines) + "\n"
