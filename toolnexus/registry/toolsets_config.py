"""Toolsets by name: the ones configured under ``[toolsets.NAME]`` plus built-in ones, and filter options.

Built-in toolsets, always there unless a configured toolset of the same name replaces them:

- ``all``: every tool that is not retired;
- ``read-only``: the tools of the ``read_only`` safety tier;
- one per top-level namespace of the registered tools (``files``, ``json``, ...).

Every surface (the CLI, MCP, the tool browser) resolves names here, so a name means the same set
everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from toolnexus.core.diagnostics import did_you_mean
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.errors import InvalidInput, NotFound
from toolnexus.registry.search import SearchHit
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset

READ_ONLY = Toolset(name="read-only", description="tools that only read", tiers=[SafetyTier.READ_ONLY])


class UnknownToolset(NotFound, LookupError):
    """No toolset of that name; the message lists what exists and ``hint`` suggests the nearest."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.hint = did_you_mean(name, list(known)) or f"toolsets: {', '.join(known)}"
        super().__init__(f"no toolset named {name!r}")


class BadFilter(InvalidInput, ValueError):
    """A filter option with a value that cannot be (an unknown tier or lifecycle state)."""


def top_namespaces(specs: Iterable[ToolSpec]) -> list[str]:
    """The first dotted part of every namespaced tool name, sorted (``files`` for ``files.read``)."""
    return sorted({spec.name.split(".", 1)[0] for spec in specs if "." in spec.name})


def builtin_toolsets(specs: Iterable[ToolSpec] = ()) -> dict[str, Toolset]:
    """``all``, ``read-only`` and one toolset per top-level namespace of ``specs``."""
    found: dict[str, Toolset] = {ALL_TOOLS.name: ALL_TOOLS, READ_ONLY.name: READ_ONLY}
    for namespace in top_namespaces(specs):
        found.setdefault(namespace, Toolset(name=namespace, description=f"the {namespace}.* tools",
                                            namespaces=[namespace]))
    return found


def available_toolsets(configured: Mapping[str, Toolset] | None = None,
                       specs: Iterable[ToolSpec] = ()) -> dict[str, Toolset]:
    """Every toolset by name: built-ins for ``specs``, then configured ones (which win on a shared name)."""
    found = builtin_toolsets(specs)
    for name, toolset in (configured or {}).items():
        found[name] = toolset if toolset.name == name else toolset.model_copy(update={"name": name})
    return dict(sorted(found.items()))


def resolve_toolset(name: str, configured: Mapping[str, Toolset] | None = None,
                    specs: Iterable[ToolSpec] = ()) -> Toolset:
    """The toolset called ``name``; :class:`UnknownToolset` (with a suggestion) otherwise."""
    known = available_toolsets(configured, specs)
    try:
        return known[name]
    except KeyError:
        raise UnknownToolset(name, list(known)) from None


def filter_toolset(*, namespaces: Sequence[str] = (), tags: Sequence[str] = (), tiers: Sequence[str] = (),
                   runtimes: Sequence[str] = (), lifecycle: Sequence[str] = ()) -> Toolset | None:
    """A toolset from filter options (each a list: any of its values); ``None`` when none is given.

    Raises :class:`BadFilter` naming the option and the values it accepts.
    """
    fields: dict[str, Any] = {"namespaces": list(namespaces), "tags": list(tags), "tiers": list(tiers),
                              "runtimes": list(runtimes)}
    if lifecycle:
        fields["lifecycle"] = list(lifecycle)
    if not any(fields.values()):
        return None
    try:
        return Toolset(name="filters", **fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = {"tiers": "tier", "lifecycle": "lifecycle"}.get(str(error["loc"][0]), str(error["loc"][0]))
        raise BadFilter(f"--{option} {error['input']!r}: {error['msg']}") from None


class ToolFilter:
    """All of several toolsets at once (a configured toolset narrowed by filter options)."""

    def __init__(self, *toolsets: Toolset | None) -> None:
        self.toolsets = [t for t in toolsets if t is not None]

    def matches(self, spec: ToolSpec) -> bool:
        """Whether ``spec`` belongs to every toolset of this filter."""
        return all(toolset.matches(spec) for toolset in self.toolsets)

    def select(self, specs: Iterable[ToolSpec]) -> list[ToolSpec]:
        """The specs that belong to every toolset of this filter, in their order."""
        return [spec for spec in specs if self.matches(spec)]

    def search(self, registry: Any, query: str, k: int = 10) -> list[SearchHit]:
        """``registry.search`` within every toolset: the first filters the search, the rest its results.

        When the rest drop hits, the search asks for more (doubling ``k``) until it has ``k`` or no more exist.
        """
        if not self.toolsets:
            return list(registry.search(query, k))
        first, rest = self.toolsets[0], self.toolsets[1:]
        wanted = k
        while True:
            hits = registry.search(query, wanted, first)
            kept = [hit for hit in hits if all(t.matches(hit.spec) for t in rest)]
            if len(kept) >= k or len(hits) < wanted:
                return kept[:k]
            wanted *= 4
