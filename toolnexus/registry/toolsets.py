"""Toolsets: named, filterable groups of tools, shared by the CLI, MCP and the widgets."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from toolnexus.core.spec import Lifecycle, SafetyTier, ToolSpec

_WILDCARDS = frozenset("*?[")


def _name_test(patterns: list[str]) -> Callable[[str], bool] | None:
    # Exact names become one set lookup, wildcards one regex; ``None`` when there is nothing to test.
    if not patterns:
        return None
    exact = frozenset(p for p in patterns if _WILDCARDS.isdisjoint(p))
    wild = [fnmatch.translate(p) for p in patterns if not _WILDCARDS.isdisjoint(p)]
    if not wild:
        return exact.__contains__
    match = re.compile("|".join(f"(?:{w})" for w in wild)).match
    return lambda name: name in exact or match(name) is not None


@dataclass(frozen=True, slots=True)
class _Plan:
    """A toolset's criteria, compiled once: only the non-empty ones, as sets and prefix tuples."""

    exclude: Callable[[str], bool] | None
    include: Callable[[str], bool] | None
    prefixes: tuple[str, ...] | None
    namespaces: frozenset[str]
    tags: frozenset[str] | None
    tiers: frozenset[SafetyTier] | None
    runtimes: frozenset[str] | None
    lifecycle: frozenset[Lifecycle] | None


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

    # The compiled criteria, built on the first ``matches`` and dropped when a field is assigned or the
    # toolset copied with changes (lists changed in place are not seen: assign a new list instead).
    _plan: _Plan | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in type(self).model_fields:
            self._plan = None

    def __eq__(self, other: object) -> bool:
        # Pydantic compares private attributes too; the compiled criteria are a cache, not part of the value.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, as before

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Toolset:
        """A copy of the toolset (see pydantic), its compiled match plan reset to follow the new fields."""
        copy = super().model_copy(update=update, deep=deep)
        copy._plan = None
        return copy

    def _compiled(self) -> _Plan:
        plan = self._plan
        if plan is None:
            plan = self._plan = _Plan(
                exclude=_name_test(self.exclude),
                include=_name_test(self.include),
                prefixes=tuple(ns + "." for ns in self.namespaces) if self.namespaces else None,
                namespaces=frozenset(self.namespaces),
                tags=frozenset(self.tags) if self.tags else None,
                tiers=frozenset(self.tiers) if self.tiers else None,
                runtimes=frozenset(self.runtimes) if self.runtimes else None,
                lifecycle=frozenset(self.lifecycle) if self.lifecycle else None,
            )
        return plan

    def matches(self, spec: ToolSpec) -> bool:
        """Whether ``spec`` belongs to this toolset."""
        # Read through the private-attribute dict: pydantic's ``__getattr__`` for ``self._plan`` costs ~4 µs.
        plan = self.__pydantic_private__.get("_plan") or self._compiled()
        name = spec.name
        if plan.exclude is not None and plan.exclude(name):
            return False
        if plan.include is not None and plan.include(name):
            return True
        if plan.prefixes is not None and not (name.startswith(plan.prefixes) or spec.namespace in plan.namespaces):
            return False
        if plan.tags is not None and plan.tags.isdisjoint(spec.tags):
            return False
        if plan.tiers is not None and spec.tier not in plan.tiers:
            return False
        if plan.runtimes is not None and spec.runtime not in plan.runtimes:
            return False
        return plan.lifecycle is None or spec.lifecycle in plan.lifecycle

    def select(self, specs: Iterable[ToolSpec]) -> list[ToolSpec]:
        """The members of ``specs``, in their order."""
        return [spec for spec in specs if self.matches(spec)]


ALL_TOOLS = Toolset(name="all", description="every tool that is not retired")
