"""Toolsets: named, filterable groups of tools, shared by the CLI, MCP and the widgets."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from toolnexus.core.spec import Lifecycle, SafetyTier, ToolSpec


class Toolset(BaseModel):
    """A group of tools picked by namespace, tag, tier, runtime and lifecycle, plus explicit names.

    Every criterion that is set must hold (an empty list does not restrict). ``include`` adds tools
    regardless of the criteria; ``exclude`` removes them last. Names accept shell wildcards
    (``files.*``).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    description: str = ""
    namespaces: list[str] = Field(default_factory=list, description="namespaces (and their sub-namespaces)")
    tags: list[str] = Field(default_factory=list, description="tools carrying any of these tags")
    tiers: list[SafetyTier] = Field(default_factory=list, description="safety tiers")
    runtimes: list[str] = Field(default_factory=list, description="declared runtimes")
    lifecycle: list[Lifecycle] = Field(
        default_factory=lambda: [Lifecycle.EXPERIMENTAL, Lifecycle.ACTIVE, Lifecycle.DEPRECATED],
        description="lifecycle states (retired tools are left out unless asked for)",
    )
    include: list[str] = Field(default_factory=list, description="tool names (wildcards) always in the set")
    exclude: list[str] = Field(default_factory=list, description="tool names (wildcards) never in the set")

    def matches(self, spec: ToolSpec) -> bool:
        """Whether ``spec`` belongs to this toolset."""
        if any(fnmatch.fnmatchcase(spec.name, pattern) for pattern in self.exclude):
            return False
        if any(fnmatch.fnmatchcase(spec.name, pattern) for pattern in self.include):
            return True
        if self.namespaces and not any(
            spec.name.startswith(ns + ".") or spec.namespace == ns for ns in self.namespaces
        ):
            return False
        if self.tags and not set(self.tags).intersection(spec.tags):
            return False
        if self.tiers and spec.tier not in self.tiers:
            return False
        if self.runtimes and spec.runtime not in self.runtimes:
            return False
        return not self.lifecycle or spec.lifecycle in self.lifecycle

    def select(self, specs: Iterable[ToolSpec]) -> list[ToolSpec]:
        """The members of ``specs``, in their order."""
        return [spec for spec in specs if self.matches(spec)]


ALL_TOOLS = Toolset(name="all", description="every tool that is not retired")
