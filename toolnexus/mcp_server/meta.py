"""``tools.search``: the BM25 top-k of the catalog, so an agent need not load thousands of schemas.

Each hit is the tool's listing (name as the client calls it, version, summary, tier) with its score
and the query terms it matched; the client then calls the tool by that name. A call of it is a tool call
like any other (:func:`search_spec` binds it to the caller's view of the catalog): the Nexus invoker
validates it, the governance gate may deny it, and the store and tracking record it.
"""

from __future__ import annotations

from typing import Any

from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.registry import Registry
from toolnexus.registry.disclosure import describe
from toolnexus.registry.toolsets import Toolset

SEARCH_TOOL = "tools.search"
MAX_K = 50

SEARCH_SPEC = ToolSpec(
    name=SEARCH_TOOL,
    summary="Find tools by what they do (BM25 over names, summaries, descriptions, tags and arguments).",
    description="Search this server's tools and return the best matches, best first: each hit's name (call "
                "it with that name), version, summary, safety tier, score and the query terms it matched. "
                "Use it instead of listing every tool.",
    input_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "description": "what the tool should do, in words"},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10,
                  "description": "how many hits to return"},
            "namespaces": {"type": "array", "items": {"type": "string"},
                           "description": "only tools in these namespaces (e.g. files)"},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "only tools with any of these tags"},
            "tiers": {"type": "array", "items": {"enum": [t.value for t in SafetyTier]},
                      "description": "only tools of these safety tiers"},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    output_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "hits": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "version": {"type": "string"}, "summary": {"type": "string"},
                "tier": {"type": "string"}, "score": {"type": "number"}, "matched": {"type": "object"}},
                "required": ["name", "score"]}},
        },
        "required": ["query", "hits"],
    },
    tags=["meta", "search"],
)


class SearchTool:
    """``tools.search`` for one caller: its toolset and the names it calls tools by.

    The invoker has checked the arguments against :data:`SEARCH_SPEC`'s input schema before this runs;
    what a schema cannot say (a query of blanks) fails here.
    """

    def __init__(self, registry: Registry, toolset: Toolset, mcp_names: dict[str, str]) -> None:
        self.registry = registry
        self.toolset = toolset
        self.mcp_names = mcp_names

    def __call__(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Search the served tools; the matches as the tool's result."""
        query: str = arguments["query"]
        k: int = arguments.get("k", 10)
        if not query.strip():
            raise ToolFailure(f"invalid arguments for {SEARCH_TOOL} at /query: a non-empty string is required",
                              kind=ErrorKind.INVALID_ARGUMENTS)
        try:
            filters = Toolset(namespaces=arguments.get("namespaces") or [], tags=arguments.get("tags") or [],
                              tiers=arguments.get("tiers") or [])
        except ValueError as exc:
            raise ToolFailure(f"invalid arguments for {SEARCH_TOOL}: {exc}", kind=ErrorKind.INVALID_ARGUMENTS) from None
        # The caller's toolset is applied after ranking: the top k usually suffice; when the toolset rejected
        # some of them, rank everything once more and keep the first k members.
        want = k
        while True:
            hits = self.registry.search(query, want, filters)
            out = []
            for hit in hits:
                name = self.mcp_names.get(hit.spec.name)
                if name is None or not self.toolset.matches(hit.spec):
                    continue
                out.append({**describe(hit.spec, "listing"), "name": name, "score": round(hit.score, 6),
                            "matched": hit.matched})
                if len(out) >= k:
                    break
            if len(out) >= k or len(hits) < want or want >= len(self.registry):
                return {"query": query, "hits": out}
            want = len(self.registry)


def search_spec(registry: Registry, toolset: Toolset, mcp_names: dict[str, str]) -> ToolSpec:
    """:data:`SEARCH_SPEC` bound to one caller's view of the catalog, for the invoker to run."""
    return SEARCH_SPEC.model_copy().bind(SearchTool(registry, toolset, mcp_names))
