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
only the postings of the new tool's terms, and filters become slot masks before ranking.

This module is the interface and imports no numpy: the index (``search_index``, numpy) is loaded when
``SearchIndex`` is first used, so importing the registry, the CLI or a process-runtime worker stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.search_text import tokenize
from toolnexus.registry.toolsets import Toolset

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

SearchMode = Literal["bm25", "hybrid", "auto"]
"""``bm25``: lexical only. ``hybrid``: BM25 fused with embeddings (BM25 alone without the extra).
``auto``: the same as ``hybrid``."""


@dataclass(frozen=True)
class FieldWeight:
    """How one field counts: its weight in the sum and its BM25Okapi parameters."""

    weight: float = 1.0
    k1: float = 1.5
    b: float = 0.75


DEFAULT_FIELDS: dict[str, FieldWeight] = {
    "name": FieldWeight(3.0, 1.2, 0.5),
    "summary": FieldWeight(1.0, 1.2, 0.3),
    "description": FieldWeight(1.0, 1.2, 0.3),
    "tags": FieldWeight(1.0, 1.2, 0.5),
    "arguments": FieldWeight(3.0, 1.2, 0.3),
}
"""Field weights and BM25 parameters, chosen on the development splits (see the module docstring)."""


@dataclass(frozen=True)
class SearchHit:
    """One ranked tool: its spec, its score and, per field, the query terms found there."""

    spec: ToolSpec
    score: float
    matched: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name


def as_filters(filters: Toolset | Mapping[str, Any] | None) -> Toolset | None:
    """Filters as a :class:`Toolset` (a dict of its fields is accepted too)."""
    if filters is None or isinstance(filters, Toolset):
        return filters
    return Toolset.model_validate(dict(filters))




def __getattr__(name: str) -> Any:
    # ``SearchIndex`` lives in ``search_index`` (numpy); load it only when someone asks for it.
    if name == "SearchIndex":
        from toolnexus.registry.search_index import SearchIndex

        return SearchIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
