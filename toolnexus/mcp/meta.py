"""``tools.search``: the BM25 top-k of the catalog, so an agent need not load thousands of schemas.

Each hit is the tool's listing (name as the client calls it, version, summary, tier) with its score
and the query terms it matched; the client then calls the tool by that name. A call of it is a tool call
like any other (:func:`search_spec` binds it to the caller's view of the catalog): the Nexus invoker
validates it, the governance gate may deny it, and the store and tracking record it.
"""

from __future__ import annotations

from typing import Any

from toolnexus.core.errors import ErrorKind, ToolError, ToolFailure
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


def search(registry: Registry, arguments: dict[str, Any], toolset: Toolset,
           mcp_names: dict[str, str]) -> dict[str, Any] | ToolError:
    """The hits for ``arguments`` among the tools of ``toolset``; a ToolError for bad arguments."""
    query = arguments.get("query")
    k = arguments.get("k", 10)
    unknown = sorted(set(arguments) - set(SEARCH_SPEC.input_schema["properties"]))
    if unknown:
        return ToolError(kind=ErrorKind.INVALID_ARGUMENTS,
                         message=f"invalid arguments for {SEARCH_TOOL}: unknown argument {unknown[0]!r}")
    if not isinstance(query, str) or not query.strip():
        return ToolError(kind=ErrorKind.INVALID_ARGUMENTS,
                         message=f"invalid arguments for {SEARCH_TOOL} at /query: a non-empty string is required")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        return ToolError(kind=ErrorKind.INVALID_ARGUMENTS,
                         message=f"invalid arguments for {SEARCH_TOOL} at /k: an integer from 1 to {MAX_K}")
    try:
        filters = Toolset(namespaces=arguments.get("namespaces") or [], tags=arguments.get("tags") or [],
                          tiers=arguments.get("tiers") or [])
    except ValueError as exc:
        return ToolError(kind=ErrorKind.INVALID_ARGUMENTS, message=f"invalid arguments for {SEARCH_TOOL}: {exc}")
    # The session's toolset is applied after ranking: the top k usually suffice; when the toolset
    # rejected some of them, rank everything once more and keep the first k members.
    want = k
    while True:
        hits = registry.search(query, want, filters)
        out = []
        for hit in hits:
            name = mcp_names.get(hit.spec.name)
            if name is None or not toolset.matches(hit.spec):
                continue
            out.append({**describe(hit.spec, "listing"), "name": name, "score": round(hit.score, 6),
                        "matched": hit.matched})
            if len(out) >= k:
                break
        if len(out) >= k or len(hits) < want or want >= len(registry):
            return {"query": query, "hits": out}
        want = len(registry)


class SearchTool:
    """``tools.search`` for one caller: its toolset and the names it calls tools by."""

    def __init__(self, registry: Registry, toolset: Toolset, mcp_names: dict[str, str]) -> None:
        self.registry = registry
        self.toolset = toolset
        self.mcp_names = mcp_names

    def __call__(self, arguments: dict[str, Any]) -> dict[str, Any]:
        found = search(self.registry, arguments, self.toolset, self.mcp_names)
        if isinstance(found, ToolError):
            raise ToolFailure(found.message, kind=found.kind, details=found.details)
        return found


def search_spec(registry: Registry, toolset: Toolset, mcp_names: dict[str, str]) -> ToolSpec:
    """:data:`SEARCH_SPEC` bound to one caller's view of the catalog, for the invoker to run."""
    return SEARCH_SPEC.model_copy().bind(SearchTool(registry, toolset, mcp_names))
