"""The tools a request sees: its toolset (the server's, or one its query selects) and that toolset's catalog.

:class:`ToolsetCatalogs` is the base of the server's handler groups (``tools``, ``resources``,
``notifications``): they all read the catalog of the request's toolset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from toolnexus.core.spec import ToolSpec
from toolnexus.mcp_server.catalog import Catalog
from toolnexus.mcp_server.missions import MissionFolder
from toolnexus.mcp_server.selection import BadSelection, UnknownToolset, describe_error, toolset_from_query
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset

if TYPE_CHECKING:
    from toolnexus.api import Nexus


class ToolsetCatalogs:
    """Catalogs per toolset, rebuilt only when the registry or the missions changed."""

    nexus: Nexus
    toolset: Toolset
    missions: MissionFolder
    meta_tools: list[ToolSpec]
    _catalogs: dict[str, tuple[tuple[int, int], Catalog]]
    _toolsets: dict[str, Toolset]
    _keys: dict[int, tuple[Toolset, str]]
    _by_query: dict[bytes, Toolset]
    _listed: dict[str, str]  # toolset key → fingerprint clients were last told about
    _subscriptions: dict[int, tuple[Any, str, set[str]]]  # id(connection) → (it, toolset key, uris)

    def _init_catalogs(self) -> None:
        self._catalogs = {}
        self._toolsets = {}
        self._keys = {}
        self._by_query = {}
        self._listed = {}
        self._subscriptions = {}

    def catalog(self, toolset: Toolset | None = None) -> Catalog:
        """The tools ``toolset`` offers now (rebuilt only after the registry or the missions changed)."""
        toolset = toolset or self.toolset
        key = self._key(toolset)
        generation = self.nexus.registry.generation
        missions = self.missions.tools(generation)
        stamp = (generation, id(missions))
        cached = self._catalogs.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        catalog = Catalog.build(self.nexus.registry.list(), [m.spec for m in missions.values()], self.meta_tools,
                                toolset)
        self._catalogs[key] = (stamp, catalog)
        return catalog

    def _key(self, toolset: Toolset) -> str:
        # Toolsets in use are long-lived objects (the default, one per query string): key them once.
        known = self._keys.get(id(toolset))
        if known is not None and known[0] is toolset:
            return known[1]
        key = toolset.model_dump_json()
        self._toolsets.setdefault(key, toolset)
        self._keys[id(toolset)] = (toolset, key)
        return key

    def toolset_for(self, query: Mapping[str, Any] | list[tuple[str, str]]) -> Toolset:
        """The toolset a request's query selects (UnknownToolset or BadSelection if it cannot be)."""
        items = list(query.items()) if isinstance(query, Mapping) else list(query)
        if not items:
            return self.toolset
        return toolset_from_query(self.nexus.settings.toolsets, items, self.nexus.registry.list())

    def _toolset_of(self, ctx: ServerRequestContext[Any, Any]) -> Toolset:
        request = ctx.request
        scope = getattr(request, "scope", None)
        if not scope or not scope.get("query_string"):
            return self.toolset
        raw: bytes = scope["query_string"]
        cached = self._by_query.get(raw)
        if cached is None:
            try:
                cached = self.toolset_for(request.query_params.multi_items())
            except (UnknownToolset, BadSelection) as exc:
                raise MCPError(types.INVALID_PARAMS, describe_error(exc)) from None
            if len(self._by_query) >= 256:  # clients choose query strings: keep the memo bounded
                self._by_query.clear()
            self._by_query[raw] = cached
        return cached

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        entry = self.catalog(ALL_TOOLS).by_name.get(name)
        return entry.definition()["inputSchema"] if entry is not None else None
