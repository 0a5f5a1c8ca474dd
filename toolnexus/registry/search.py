"""Search over the registry: ranked tools with scores and the fields each query term matched.

This is the interface every surface uses (``Registry.search``, the CLI, MCP's ``tools.search``, the
tool browser). The index behind it may change; ``SearchHit`` and ``SearchIndex.search`` do not.

Ranking is BM25F over the fields (name, summary, description, tags, arguments): per query term, each
field's count is normalised by that field's length and weighted, the fields' are summed, and the sum is
saturated once, with BM25+'s lower bound for a matched term and a query term's repetitions saturated too
(:class:`~toolnexus.registry.search_model.BM25F`).
Saturating once means a word repeated across the name, summary and description counts as one word matched,
not three, so a tool matching more of the query's words ranks first; each field still keeps its own length
normalisation (a long description does not drown a short name). On the development splits of ToolLens
and MetaTool (``benchmarks/discovery_quality.py``) it lifted nDCG@10 from 35.10 to 38.63 and from 54.47 to
55.33 over the earlier ``score = sum(weight[f] * BM25Okapi_f(query, tool))``, which stays available as
``scoring="fields"`` (each field's score then *exactly* rank-bm25's ``BM25Okapi``; the tests check
equality to 1e-9). The field weights were chosen on the same splits.

Behind it is an inverted index: a query touches only the postings of its terms, a registration touches
only the postings of the new tool's terms, and filters become slot masks before ranking. A term's score
over the fields is computed by the first query that uses the term and reused until
the index changes (``search_scoring``), so a query is one scatter-add per term; the best ``k`` are then
picked among the tools scoring at least the ``k``-th best of the rarest term's tools, not among every tool
holding a common word.

This module is the interface and imports no numpy: the index (``search_index``, numpy) is loaded when
``SearchIndex`` is first used, so importing the registry, the CLI or a process-runtime worker stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The types the index shares with this interface live in search_model: search_index never imports this module.
from toolnexus.registry.search_model import (
    BM25F,
    DEFAULT_FIELDS,
    FieldWeight,
    Scoring,
    SearchHit,
    SearchMode,
    as_filters,
)
from toolnexus.registry.search_text import tokenize

if TYPE_CHECKING:
    from toolnexus.registry.search_index import SearchIndex

__all__ = [
    "BM25F",
    "DEFAULT_FIELDS",
    "FieldWeight",
    "Scoring",
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
