"""The built-in runtime backends, as the ``toolnexus.runtimes`` entry points name them.

A :class:`RuntimeBackend` says what a runtime offers (isolation, whether cancelling kills the call,
network), which extra it needs and which module it imports, and builds the runtime from a
:class:`ToolContext` and the settings (duck-typed: the ``[sandbox]`` section and the workspace).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from toolnexus.core.context import ToolContext
from toolnexus.core.runtime import Runtime


@dataclass(frozen=True, slots=True)
class RuntimeBackend:
    """One kind of runtime: its name, capabilities, the extra and module it needs, and its factory."""

    name: str
    isolation: str
    module: str
    build: Callable[[Any, ToolContext, Any], Runtime]
    extra: str | None = None
    kills_on_cancel: bool = True
    network: bool = False
    capabilities: dict[str, Any] = field(default_factory=dict)

    def available(self) -> bool:
        """Whether the module it needs imports (its extra is installed)."""
        try:
            importlib.import_module(self.module)
        except ImportError:
            return False
        return True

    def create(self, context: ToolContext, settings: Any) -> Runtime:
        """A new runtime of this kind; ImportError when its module (extra) is missing."""
        return self.build(importlib.import_module(self.module), context, settings)


def _inprocess(module: Any, context: ToolContext, settings: Any) -> Runtime:
    return module.InProcessRuntime(context)


def _process(module: Any, context: ToolContext, settings: Any) -> Runtime:
    sandbox = settings.sandbox
    trusted = [str(settings.workspace_path() / p) for p in settings.tools.paths]
    if settings.mcp.config_file:
        trusted.append(str(settings.workspace_path() / settings.mcp.config_file))
    isolation = module.ProcessIsolation(
        namespaces=sandbox.namespaces, network=sandbox.network, pids_max=sandbox.pids_max, memory=sandbox.memory,
        timeout=sandbox.timeout, user=sandbox.user, readable=sandbox.read_paths,
        hidden=[str(settings.state_path())], read_only=trusted)
    return module.ProcessRuntime(context, max_workers=settings.process_workers, isolation=isolation)


def _docker(module: Any, context: ToolContext, settings: Any) -> Runtime:
    sandbox = settings.sandbox
    caps: dict[str, Any] = {"timeout": sandbox.timeout}
    if sandbox.memory:
        caps["memory"] = sandbox.memory
    # The SDK is imported on first use: a Nexus costs nothing more for having a docker runtime.
    return module.DockerRuntime(context, image=sandbox.docker_image, allow_network=sandbox.docker_network,
                                spare=sandbox.docker_spare, **caps)


def _wasm(module: Any, context: ToolContext, settings: Any) -> Runtime:
    return module.WasmRuntime(context, memory=settings.sandbox.memory, timeout=settings.sandbox.timeout)


INPROCESS = RuntimeBackend("inprocess", "inprocess", "toolnexus.sandbox.inprocess", _inprocess, kills_on_cancel=False,
                           network=True)
PROCESS = RuntimeBackend("process", "process", "toolnexus.sandbox.process", _process, network=True)
WASM = RuntimeBackend("wasm", "wasm", "toolnexus.sandbox.wasm", _wasm, extra="wasm")
DOCKER = RuntimeBackend("docker", "docker", "toolnexus.sandbox.docker", _docker, network=True)
