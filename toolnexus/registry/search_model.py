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


Scoring = Literal["bm25f", "fields"]
"""How the fields are combined. ``bm25f`` (default): each field's term frequency is length-normalised
and weighted, the fields' are summed, and the sum is saturated once (BM25F, with BM25+'s lower bound; see
:class:`BM25F`). ``fields``: one BM25Okapi per field, exactly rank-bm25's, and their weighted sum."""


@dataclass(frozen=True)
class FieldWeight:
    """How one field counts: its weight and its length normalisation ``b``.

    ``k1`` is the field's own saturation, used by ``fields`` scoring only: BM25F saturates the fields'
    sum once, with :attr:`BM25F.k1`.
    """

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
class BM25F:
    """The parameters of ``bm25f`` scoring (Robertson, Zaragoza and Taylor 2004, "Simple BM25 extension to
    multiple weighted fields"; the lower bound is Lv and Zhai 2011, "Lower-bounding term frequency
    normalization").

    For a term and a tool, ``tf = sum over fields of weight * count / (1 - b + b * length / mean length)``;
    the score is ``idf * (tf * (k1 + 1) / (k1 + tf) + delta)`` when ``tf > 0``, with
    ``idf = ln(1 + (N - n + 0.5) / (n + 0.5))`` over the ``n`` tools holding the term in any field.

    Saturating the sum once, rather than each field apart, means a word repeated in the name, the summary
    and the description counts less than three different query words matched once each, and one field's
    length does not decide alone. ``delta`` keeps every matched term worth at least ``idf * delta``,
    however long the text holding it (BM25's length normalisation can otherwise push a long tool that
    matches a word below a short one that does not). ``delta`` = 1 is the value Lv and Zhai recommend.
    ``k1`` is larger than per-field BM25's (1.2) because the summed frequency is on a larger scale (field
    weights up to 3): on the development splits of ToolLens and MetaTool nDCG@10 is flat from 4 to 8 and
    both halves of each split agree.

    A term repeated in the query counts ``(k3 + 1) * times / (k3 + times)`` times (Okapi's query-term
    saturation): long requests repeat their topic words ("recipes ... recipe ... recipes"), which should
    not outweigh the other words asked for. nDCG@10 on both splits is flat for ``k3`` from 0.5 to 4.
    """

    k1: float = 5.0
    delta: float = 1.0
    k3: float = 1.0

    def query_weight(self, times: int) -> float:
        """How much a term occurring ``times`` in the query counts (1 for one occurrence)."""
        return (self.k3 + 1) * times / (self.k3 + times)


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
