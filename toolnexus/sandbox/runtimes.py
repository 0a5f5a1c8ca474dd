"""Runtimes by name: the backends of the ``toolnexus.runtimes`` entry-point group.

A backend whose extra is not installed is still known, so asking for it says what to install
(``pip install toolnexus[wasm]``) instead of "unknown runtime".
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from toolnexus.core.context import ToolContext
from toolnexus.core.runtime import Runtime
from toolnexus.errors import RuntimeUnavailable
from toolnexus.sandbox.backends import DOCKER, INPROCESS, PROCESS, WASM, RuntimeBackend

GROUP = "toolnexus.runtimes"

__all__ = ["GROUP", "RuntimeRegistry", "RuntimeUnavailable"]


class RuntimeRegistry:
    """The runtime backends by name."""

    def __init__(self, backends: Iterable[RuntimeBackend] = ()) -> None:
        self.backends: dict[str, RuntimeBackend] = {b.name: b for b in backends}

    @classmethod
    def from_entry_points(cls) -> RuntimeRegistry:
        """The built-in backends plus every one the installed packages declare in ``toolnexus.runtimes``."""
        registry = cls((INPROCESS, PROCESS, WASM, DOCKER))
        for ep in entry_points(group=GROUP):
            backend = ep.load()
            if isinstance(backend, RuntimeBackend):
                registry.backends[backend.name] = backend
        return registry

    def create(self, name: str, context: ToolContext, settings: Any) -> Runtime:
        """Build runtime ``name``; RuntimeUnavailable saying what to install, or that it is unknown."""
        backend = self.backends.get(name)
        if backend is None:
            raise RuntimeUnavailable(f"unknown runtime {name!r} (have: {', '.join(sorted(self.backends))})")
        try:
            return backend.create(context, settings)
        except ImportError as exc:
            extra = backend.extra or name
            raise RuntimeUnavailable(f"the {name} runtime needs `pip install toolnexus[{extra}]`") from exc

    def build_available(self, context: ToolContext, settings: Any) -> dict[str, Runtime]:
        """Every runtime whose module imports, by name (a missing extra leaves its runtime out)."""
        runtimes: dict[str, Runtime] = {}
        for name in self.backends:
            try:
                runtimes[name] = self.create(name, context, settings)
            except RuntimeUnavailable:
                continue
        return runtimes
