"""Search over the registry: ranked tools with scores and the fields each query term matched.

This is the interface every surface uses (``Registry.search``, the CLI, MCP's ``tools.search``, the
tool browser). The index behind it may change; ``SearchHit`` and ``SearchIndex.search`` do not.

Ranking is a weighted sum of BM25 scores, one per field (name, summary, description, tags, arguments):
``score = sum(weight[f] * BM25Okapi_f(query, tool))``. Per-field BM25 was chosen over BM25F because
each field's score is then *exactly* rank-bm25's ``BM25Okapi`` over that field (the reference scorer;
the tests check equality to 1e-9), each field keeps its own length normalisation (a long description
does not drown a short name), and a field updates independently when one tool changes. The weights were
chosen on the development splits of ToolLens and MetaTool (``benchmarks/discovery_quality.py``).

Behind it is an inverted index: a query touches only the postings of its terms, a registration touches
only the postings of the new tool's terms, and filters become slot masks before ranking. A term's BM25
contributions, summed over the fields, are computed by the first query that uses the term and reused until
the index changes (``search_scoring``), so a query is one scatter-add per term; the best ``k`` are then
picked among the tools scoring at least the ``k``-th best of the rarest term's tools, not among every tool
holding a common word.

This module is the interface and imports no numpy: the index (``search_index``, numpy) is loaded when
``SearchIndex`` is first used, so importing the registry, the CLI or a process-runtime worker stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The types the index shares with this interface live in search_model: search_index never imports this module.
from toolnexus.registry.search_model import DEFAULT_FIELDS, FieldWeight, SearchHit, SearchMode, as_filters
from toolnexus.registry.search_text import tokenize

if TYPE_CHECKING:
    from toolnexus.registry.search_index import SearchIndex

__all__ = [
    "DEFAULT_FIELDS",
    "FieldWeight",
    "SearchHit",
    "SearchIndex",
    "SearchMode",
    "as_filters",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    # ``SearchIndex`` lives in ``search_index`` (numpy); load it only when someone asks for it.
    if name == "SearchIndex":
        from toolnexus.registry.search_index import SearchIndex

        return SearchIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
