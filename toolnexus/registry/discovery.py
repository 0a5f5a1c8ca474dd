"""Where tools come from: Python modules, installed packages (entry points) and manifest folders."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.spec import ToolSpec
from toolnexus.registry.decorator import spec_of
from toolnexus.registry.manifest import load_manifest, manifest_files
from toolnexus.registry.registry import Registry

ENTRY_POINT_GROUP = "toolnexus.tools"
log = logging.getLogger("toolnexus.registry")


def specs_in(obj: Any) -> list[ToolSpec]:
    """The tools an object provides: a module's ``@tool`` functions, one ``@tool`` function, a
    ToolSpec, an iterable of them, or a callable returning any of these."""
    if isinstance(obj, ToolSpec):
        return [obj]
    if isinstance(obj, ModuleType):
        found = []
        for value in vars(obj).values():
            spec = spec_of(value)
            if spec is not None and inspect.getmodule(value) is obj:
                found.append(spec)
        return found
    spec = spec_of(obj)
    if spec is not None:
        return [spec]
    if callable(obj):
        produced = obj()
        if not _provides(produced):
            raise TypeError(
                f"{getattr(obj, '__qualname__', obj)!r} returned {produced!r}, which provides no tools: "
                "return @tool functions, ToolSpecs, a module or a list of them"
            )
        return specs_in_iterable(produced)
    if _provides(obj):
        return specs_in_iterable(obj)
    raise TypeError(f"{obj!r} provides no tools: give @tool functions, ToolSpecs, a module or a list of them")


def _provides(obj: Any) -> bool:
    """Whether ``obj`` has a shape that can provide tools (text is iterable, but not a provider)."""
    return (
        isinstance(obj, ToolSpec | ModuleType)
        or spec_of(obj) is not None
        or (isinstance(obj, Iterable) and not isinstance(obj, str | bytes | dict))
    )


def specs_in_iterable(items: Any) -> list[ToolSpec]:
    """The tool specs in ``items``: a spec, a module, a @tool function, or an iterable of them."""
    if isinstance(items, ToolSpec | ModuleType) or spec_of(items) is not None:
        return specs_in(items)
    out: list[ToolSpec] = []
    for item in items:
        out.extend(specs_in(item))
    return out


def load_module(registry: Registry, module: str | ModuleType) -> list[ToolSpec]:
    """Register the ``@tool`` functions of a module (imported by name if given as a string)."""
    mod = importlib.import_module(module) if isinstance(module, str) else module
    specs = specs_in(mod)
    for spec in specs:
        registry.register(spec)
    return specs


def load_entry_points(registry: Registry, group: str = ENTRY_POINT_GROUP) -> list[ToolSpec]:
    """Register tools from installed packages' ``toolnexus.tools`` entry points.

    A broken provider never stops the others: it is logged and kept in ``registry.problems``.
    """
    loaded: list[ToolSpec] = []
    for ep in entry_points(group=group):
        try:
            specs = specs_in(ep.load())
        except Exception as exc:  # a third-party package may fail in any way; report, keep going
            message = f"entry point {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
            log.warning(message)
            registry.problems.append(message)
            continue
        for spec in specs:
            registry.register(spec.model_copy(update={"source": spec.source or f"entry-point:{ep.name}"}))
            loaded.append(spec)
    return loaded


def load_manifests(registry: Registry, folder: str | Path) -> list[ToolSpec]:
    """Register every tool declared by ``*.tools.yaml`` manifests under ``folder``.

    Every manifest is read: the tools of good ones are registered, and the problems of all bad ones
    are kept in ``registry.problems`` and raised together as one DiagnosticError at the end.
    """
    loaded: list[ToolSpec] = []
    problems: list[Diagnostic] = []
    for path in manifest_files(folder):
        try:
            specs = load_manifest(path)
        except DiagnosticError as exc:
            registry.problems.extend(str(d) for d in exc.diagnostics)
            problems.extend(exc.diagnostics)
            continue
        for spec in specs:
            registry.register(spec)
        loaded.extend(specs)
    if problems:
        raise DiagnosticError(problems)
    return loaded
