"""Search over the registry: ranked tools with scores and the fields each query term matched.

This is the interface every surface uses (``Registry.search``, the CLI, MCP's ``tools.search``, the
tool browser). The index behind it may change; ``SearchHit`` and ``SearchIndex.search`` do not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.toolsets import Toolset

_WORD = re.compile(r"[A-Za-z][a-z]*|[A-Z]+(?![a-z])|\d+")


def tokenize(text: str) -> list[str]:
    """Lower-case terms; ``snake_case``, ``camelCase``, ``dotted.names`` and ``kebab-case`` split."""
    return [t.lower() for t in _WORD.findall(text)]


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


def _fields(spec: ToolSpec) -> dict[str, str]:
    args = spec.input_schema.get("properties", {}) if isinstance(spec.input_schema, dict) else {}
    arg_text = " ".join(
        f"{name} {prop.get('description', '') if isinstance(prop, dict) else ''}" for name, prop in args.items()
    )
    return {
        "name": spec.name,
        "summary": spec.summary,
        "description": spec.description,
        "tags": " ".join(spec.tags),
        "arguments": arg_text,
    }


class SearchIndex:
    """A BM25 index of one registry's latest tool versions, kept current by registry events.

    Reference implementation: rank-bm25 over all fields at once, rebuilt lazily after a change.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._specs: dict[str, ToolSpec] = {}
        self._bm25: Any = None
        self._order: list[str] = []

    def add(self, spec: ToolSpec) -> None:
        with self._lock:
            self._specs[spec.name] = spec
            self._bm25 = None

    def remove(self, name: str) -> None:
        with self._lock:
            if self._specs.pop(name, None) is not None:
                self._bm25 = None

    def __len__(self) -> int:
        return len(self._specs)

    def search(self, query: str, k: int = 10, filters: Toolset | Mapping[str, Any] | None = None) -> list[SearchHit]:
        """The ``k`` best tools for ``query`` among those the filters admit, best first."""
        from rank_bm25 import BM25Okapi

        toolset = as_filters(filters)
        terms = tokenize(query)
        with self._lock:
            if self._bm25 is None and self._specs:
                self._order = sorted(self._specs)
                corpus = [tokenize(" ".join(_fields(self._specs[n]).values())) for n in self._order]
                self._bm25 = BM25Okapi(corpus)
            bm25, order, specs = self._bm25, list(self._order), dict(self._specs)
        if bm25 is None or not terms:
            return []
        scores = bm25.get_scores(terms)
        ranked = sorted(range(len(order)), key=lambda i: (-scores[i], order[i]))
        hits: list[SearchHit] = []
        for i in ranked:
            if scores[i] <= 0 or len(hits) >= k:
                break
            spec = specs[order[i]]
            if toolset is not None and not toolset.matches(spec):
                continue
            matched = {
                name: sorted(set(terms).intersection(tokenize(text))) for name, text in _fields(spec).items()
            }
            hits.append(SearchHit(spec, float(scores[i]), {f: t for f, t in matched.items() if t}))
        return hits
