"""What a search is asked and answers: its modes, field weights, hits and filters.

Shared by the interface (``search``) and the index (``search_index``); neither imports the other's types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.toolsets import Toolset

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
        """The tool's name."""
        return self.spec.name


def as_filters(filters: Toolset | Mapping[str, Any] | None) -> Toolset | None:
    """Filters as a :class:`Toolset` (a dict of its fields is accepted too)."""
    if filters is None or isinstance(filters, Toolset):
        return filters
    return Toolset.model_validate(dict(filters))
