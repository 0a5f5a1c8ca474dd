"""The tools a request sees: its toolset (the server's, or one its query selects), that toolset's catalog, and
the listing a client gets of it — the catalog less the tools a kill switch stops for the caller's tenant.

:class:`ToolsetCatalogs` is the base of the server's handler groups (``tools``, ``resources``,
``notifications``): they all read the catalog of the request's toolset. A killed tool stays in the catalog, so
a client calling it by a name it listed earlier is refused by the switch, with its reason, not told the tool
is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from toolnexus.core.spec import ToolSpec
from toolnexus.mcp_server.catalog import Catalog
from toolnexus.mcp_server.missions import MissionFolder
from toolnexus.mcp_server.requests import caller_of
from toolnexus.mcp_server.selection import BadSelection, UnknownToolset, describe_error, toolset_from_query
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset

if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.core.caller import Caller


class View(NamedTuple):
    """What one client lists: a toolset (by its key) for a tenant (kill switches may stop a tenant's calls)."""

    toolset: str
    tenant: str | None


class ToolsetCatalogs:
    """Catalogs per toolset, rebuilt only when the registry or the missions changed, and listings per view,
    rebuilt only when the catalog or the kill switches in force changed."""

    nexus: Nexus
    toolset: Toolset
    caller: Caller  # the caller of a request whose transport identified none (stdio: the OS user)
    missions: MissionFolder
    meta_tools: list[ToolSpec]
    _catalogs: dict[str, tuple[tuple[int, int], Catalog]]
    _toolsets: dict[str, Toolset]
    _keys: dict[int, tuple[Toolset, str]]
    _by_query: dict[bytes, Toolset]
    _listings: dict[View, tuple[Catalog, int, Catalog]]  # view → (its catalog, kills version, listing)
    _kills_version: int  # moves whenever the kill switches in force change (see ChangeNotifier)
    _listed: dict[View, str]  # view → fingerprint of the listing clients were last told about
    _subscriptions: dict[int, tuple[Any, str, set[str]]]  # id(connection) → (it, toolset key, uris)

    def _init_catalogs(self) -> None:
        self._catalogs = {}
        self._toolsets = {}
        self._keys = {}
        self._by_query = {}
        self._listings = {}
        self._kills_version = 0
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

    def listing(self, toolset: Toolset | None = None, tenant: str | None = None) -> Catalog:
        """What ``toolset`` lists for ``tenant`` now: its catalog less the tools a kill switch stops (the
        catalog itself while no switch stops any of them)."""
        toolset = toolset or self.toolset
        catalog = self.catalog(toolset)
        kills = self.nexus.kills
        if kills is None:  # no state store, so no kill switches
            return catalog
        view = View(self._key(toolset), tenant)
        version = self._kills_version  # read first: a switch changing while this builds moves it again
        cached = self._listings.get(view)
        if cached is not None and cached[0] is catalog and cached[1] == version:
            return cached[2]
        kept = [e for e in catalog.entries if kills.stopping(e.spec.name, tenant) is None]
        listing = catalog if len(kept) == len(catalog.entries) else Catalog(kept)
        self._listings[view] = (catalog, version, listing)
        return listing

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

    def _view_of(self, ctx: ServerRequestContext[Any, Any]) -> tuple[Toolset, View]:
        """The toolset of the request and the view its client lists (that toolset, for the caller's tenant)."""
        toolset = self._toolset_of(ctx)
        return toolset, View(self._key(toolset), caller_of(ctx, self.caller).tenant)

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        entry = self.catalog(ALL_TOOLS).by_name.get(name)
        return entry.definition()["inputSchema"] if entry is not None else None
