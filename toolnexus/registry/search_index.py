"""The inverted BM25 index behind :mod:`toolnexus.registry.search` (numpy; loaded on first use)."""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.search_filters import FilterIndex
from toolnexus.registry.search_model import (
    BM25F,
    DEFAULT_FIELDS,
    FieldWeight,
    Scoring,
    SearchHit,
    SearchMode,
    as_filters,
)
from toolnexus.registry.search_postings import Batch, Column, FieldIndex
from toolnexus.registry.search_scoring import TermScore, TermScores, matched_terms
from toolnexus.registry.search_text import BOUNDARY, FIELDS, analyze, field_columns, field_counts, terms_of_many
from toolnexus.registry.semantic import EmbeddingCache, load_embedder, reciprocal_rank_fusion, score_fusion
from toolnexus.registry.toolsets import Toolset

__all__ = ["SearchIndex"]


@contextmanager
def _gc_paused() -> Iterator[None]:
    # A bulk build allocates hundreds of thousands of small containers (term counts, tuples) that all
    # stay alive; the cyclic collector would walk them again and again (about a third of the build time)
    # to find nothing. Paused for the build only, and only if it was running.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SearchIndex:
    """A BM25 index of one registry's latest tool versions, kept current by registry events.

    ``add`` and ``remove`` are incremental (cost proportional to the tool's own text); ``search`` scores
    only the postings of the query's terms. All methods are safe to call from several threads.

    ``fields`` overrides the field weights (:data:`DEFAULT_FIELDS`). ``scoring`` is how the fields are
    combined: ``bm25f`` (default) saturates their weighted frequencies' sum once, with ``bm25f``'s
    parameters (:class:`~toolnexus.registry.search_model.BM25F`); ``fields`` sums one BM25Okapi per field,
    each exactly rank-bm25's. ``stopwords``/``stemming`` switch the light normalisation of
    :func:`~toolnexus.registry.search_text.analyze`. ``semantic_weight`` is the weight of the embedding
    ranking against BM25's (1.0) in hybrid search. ``fusion`` is how the two
    are combined: ``scores`` (default), a weighted sum of their min-max normalised scores
    (:func:`~toolnexus.registry.semantic.score_fusion`), or ``rrf``, reciprocal rank fusion with constant
    ``rrf_k``.
    """

    def __init__(
        self,
        fields: Mapping[str, FieldWeight] | None = None,
        *,
        scoring: Scoring = "bm25f",
        bm25f: BM25F | None = None,
        stopwords: bool = True,
        stemming: bool = True,
        semantic_weight: float = 1.0,
        fusion: Literal["scores", "rrf"] = "scores",
        rrf_k: int = 60,
    ) -> None:
        self.fields = dict(DEFAULT_FIELDS if fields is None else fields)
        unknown = set(self.fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown search fields {sorted(unknown)}: the fields are {', '.join(FIELDS)}")
        if scoring not in ("bm25f", "fields"):
            raise ValueError(f"scoring {scoring!r} is not one of bm25f, fields")
        self.scoring: Scoring = scoring
        self.bm25f = BM25F() if bm25f is None else bm25f
        self.stopwords, self.stemming = stopwords, stemming
        if fusion not in ("scores", "rrf"):
            raise ValueError(f"fusion {fusion!r} is not one of scores, rrf")
        self.semantic_weight, self.fusion, self.rrf_k = semantic_weight, fusion, rrf_k
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self._indexes = {name: FieldIndex(w.k1, w.b) for name, w in self.fields.items()}
        self._scores = TermScores(
            self._indexes,
            {name: w.weight for name, w in self.fields.items()},
            self.bm25f if self.scoring == "bm25f" else None,
        )
        self._filters = FilterIndex()
        self._embeddings = EmbeddingCache()
        self._slot_of: dict[str, int] = {}
        # The tool at each slot (None once freed). Its terms are not kept: removing a tool analyses it again.
        self._docs: list[ToolSpec | None] = []
        self._names: list[str | None] = []
        self._alive = Column()

    # -- updates ----------------------------------------------------------------------------------

    def add(self, spec: ToolSpec) -> None:
        """Index ``spec``, replacing any tool of the same name."""
        with self._lock:
            slot = self._slot_of.get(spec.name)
            if slot is not None and self._docs[slot] is spec:
                return  # the registry re-announces its latest version when an older one changes
        terms = self._analyse(spec)
        with self._lock:
            self._drop(spec.name)
            self._insert(spec, terms)
            self._maybe_compact()

    def add_many(self, specs: list[ToolSpec]) -> None:
        """Index many tools at once (the same as ``add`` for each)."""
        latest = list({spec.name: spec for spec in specs}.values())  # the last of a name wins, as with add
        if not latest:
            return
        with _gc_paused():
            # Analysis runs outside the lock (searches go on meanwhile): one batch of postings per field.
            texts = field_columns(latest)
            batches = {
                name: Batch.of(
                    terms_of_many(texts[name], stopwords=self.stopwords, stemming=self.stemming), len(latest), BOUNDARY
                )
                for name in self._indexes
            }
            with self._lock:
                for name in [spec.name for spec in latest if spec.name in self._slot_of]:
                    self._drop(name)
                first = len(self._docs)
                self._insert_many(first, latest)
                self._filters.add_many(first, latest)
                for name, index in self._indexes.items():
                    index.add_batch(first, batches[name])
                self._scores.clear()
                self._maybe_compact()

    def _analyse(self, spec: ToolSpec) -> dict[str, dict[str, int]]:
        # Terms come interned from the analysis cache: one string object per term, shared by every tool.
        terms = field_counts(spec, stopwords=self.stopwords, stemming=self.stemming)
        return {name: terms[name] for name in self.fields}

    def remove(self, name: str) -> None:
        """Forget the tool called ``name`` (nothing happens if it is not indexed)."""
        with self._lock:
            self._drop(name)
            self._maybe_compact()

    def __len__(self) -> int:
        with self._lock:
            return len(self._slot_of)

    def _insert(self, spec: ToolSpec, terms: dict[str, dict[str, int]]) -> None:
        slot = len(self._docs)
        self._docs.append(spec)
        self._names.append(spec.name)
        self._slot_of[spec.name] = slot
        self._alive.set(slot, 1.0)
        for name, index in self._indexes.items():
            index.add(slot, terms[name])
        self._filters.add(slot, spec)
        self._embeddings.add(slot, spec)
        self._scores.clear()  # BM25's average length (and maybe idf) moved: cached term scores are stale

    def _insert_many(self, first: int, specs: list[ToolSpec]) -> None:
        # ``_insert`` for many tools at slots ``first, ...``, minus field and filter postings (the caller adds
        # those in bulk).
        names = [spec.name for spec in specs]
        self._docs.extend(specs)
        self._names.extend(names)
        self._slot_of.update(zip(names, range(first, first + len(specs)), strict=True))
        self._embeddings.add_many(first, specs)
        if specs:
            self._alive.set(first + len(specs) - 1, 1.0)  # grows the column once
            self._alive.data[first : first + len(specs)] = 1.0

    def _drop(self, name: str) -> None:
        slot = self._slot_of.pop(name, None)
        if slot is None:
            return
        spec = self._docs[slot]
        assert spec is not None
        terms = self._analyse(spec)  # the same terms it was indexed with: analysis is deterministic
        for name, index in self._indexes.items():
            index.remove(slot, terms[name])
        self._filters.remove(slot, spec)
        self._embeddings.remove(slot)
        self._docs[slot] = None
        self._names[slot] = None
        self._alive.set(slot, 0.0)
        self._scores.clear()

    def _maybe_compact(self) -> None:
        # Free slots are never reused (postings stay sorted); renumber once they outnumber the tools, so
        # the cost is amortised over at least as many changes as there are tools.
        if len(self._docs) > 1024 and len(self._docs) > 2 * len(self._slot_of):
            self._compact()

    def _compact(self) -> None:
        live = [spec for spec in self._docs if spec is not None]
        embeddings = self._embeddings
        self._reset()
        self._embeddings = EmbeddingCache.reusing(embeddings)
        self.add_many(live)

    # -- queries ----------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Toolset | Mapping[str, Any] | None = None,
        *,
        mode: SearchMode = "bm25",
    ) -> list[SearchHit]:
        """The ``k`` best tools for ``query`` among those the filters admit, best first.

        ``filters`` is a :class:`Toolset` or a dict of its fields (so by default retired tools are left
        out); ``None`` admits every indexed tool. In ``bm25`` mode a hit holds at least one query term
        and its score is the lexical score (see ``scoring``). In ``hybrid`` mode (needs the ``semantic`` extra, else
        it is ``bm25``) the BM25 ranking and the embedding ranking are fused (see ``fusion``), the score is
        the fused score, and tools may be found by meaning alone (``matched`` empty).
        Ties are broken by name, so results are deterministic.
        """
        if mode not in ("bm25", "hybrid", "auto"):
            raise ValueError(f"search mode {mode!r} is not one of bm25, hybrid, auto")
        toolset = as_filters(filters)
        terms = Counter(analyze(query, stopwords=self.stopwords, stemming=self.stemming))
        embed = load_embedder() if mode != "bm25" and k > 0 else None
        query_vector = embed([query])[0] if embed is not None and query.strip() else None
        with self._lock:
            if not self._slot_of or k <= 0:
                return []
            size = len(self._docs)
            found = self._term_scores(terms)
            scores = self._bm25(found, size, self.bm25f if self.scoring == "bm25f" else None)
            admitted = (
                None
                if toolset is None
                else self._filters.mask(toolset, size, self._names, self._slot_of.get)
            )
            if query_vector is None or embed is None:
                return self._hits(self._lexical(scores, found, admitted, k), scores, found)
            return self._hybrid(scores, found, admitted, query_vector, embed, k)

    def _term_scores(self, terms: Counter[str]) -> dict[str, tuple[TermScore, int]]:
        # The query's terms that some tool holds, with their cached scores and repetitions.
        documents, size = len(self._slot_of), len(self._docs)
        found = {}
        for term, times in terms.items():
            score = self._scores.get(term, documents, size)
            if score is not None:
                found[term] = (score, times)
        return found

    @staticmethod
    def _bm25(found: dict[str, tuple[TermScore, int]], size: int, bm25f: BM25F | None) -> np.ndarray:
        scores = np.zeros(size)
        for score, times in found.values():
            # Slots are distinct within a term, so a fancy-index add is exact. rank-bm25 (``fields``
            # scoring) scores each repetition of a query term again, hence ``times``; BM25F saturates it.
            if times == 1:
                scores[score.slots] += score.values
            else:
                scores[score.slots] += (times if bm25f is None else bm25f.query_weight(times)) * score.values
        return scores

    def _lexical(
        self, scores: np.ndarray, found: dict[str, tuple[TermScore, int]], admitted: np.ndarray | None, k: int
    ) -> list[int]:
        # The best k admitted tools holding a query term, best first (ties by name).
        candidates = self._above_threshold(scores, found, admitted, k)
        if candidates is None:
            hit = np.zeros(len(scores), dtype=bool)
            for score, _ in found.values():
                hit[score.slots] = True
            if admitted is not None:
                hit &= admitted
            candidates = np.flatnonzero(hit)
        return self._top(scores, candidates, k)

    @staticmethod
    def _above_threshold(
        scores: np.ndarray, found: dict[str, tuple[TermScore, int]], admitted: np.ndarray | None, k: int
    ) -> np.ndarray | None:
        # A short list of candidates that surely holds the top k, without listing every tool that holds
        # a query term (a third of a 100k catalog for common words). The k-th best score among the tools
        # holding the rarest term is a lower bound of the k-th best overall, so only tools scoring at least
        # that can rank. When every contribution is positive, such a score also implies a query term. Not
        # applicable (``None``) otherwise, or when the rarest term has fewer than k admitted tools.
        if not found or not all(score.positive for score, _ in found.values()):
            return None
        rarest = min((score.slots for score, _ in found.values()), key=len)
        if admitted is not None:
            rarest = rarest[admitted[rarest]]
        if len(rarest) < k:
            return None
        values = scores[rarest]
        floor = np.partition(values, len(values) - k)[len(values) - k]
        above = scores >= floor
        if admitted is not None:
            above &= admitted
        return np.flatnonzero(above)

    def _top(self, scores: np.ndarray, candidates: np.ndarray, k: int) -> list[int]:
        # Best k by score, ties by name: keep everything tied with the k-th score, then sort exactly.
        if len(candidates) > k:
            values = scores[candidates]
            kth = np.partition(values, len(values) - k)[len(values) - k]
            candidates = candidates[values >= kth]
        names = self._names
        ranked = sorted(zip((-scores[candidates]).tolist(), candidates.tolist(), strict=True),
                        key=lambda pair: (pair[0], names[pair[1]]))
        return [slot for _, slot in ranked[:k]]

    def _hybrid(
        self,
        scores: np.ndarray,
        found: dict[str, tuple[TermScore, int]],
        admitted: np.ndarray | None,
        query_vector: np.ndarray,
        embed: Any,
        k: int,
    ) -> list[SearchHit]:
        size = len(scores)
        depth = max(100, 10 * k)
        lexical = np.asarray(self._lexical(scores, found, admitted, depth), dtype=np.int64)
        vectors = self._embeddings.matrix(size, embed)
        eligible = self._alive.data[:size] > 0
        if admitted is not None:
            eligible &= admitted
        similarity, dense = None, np.zeros(0, dtype=np.int64)
        if vectors.shape[1] == len(query_vector) and self.semantic_weight > 0:
            similarity = vectors @ query_vector
            similarity[~eligible] = -np.inf
            dense = np.asarray(self._top(similarity, np.flatnonzero(eligible), depth), dtype=np.int64)
        if self.fusion == "rrf":
            rankings = [(lexical, 1.0)] + ([(dense, self.semantic_weight)] if len(dense) else [])
            fused = reciprocal_rank_fusion(rankings, size, self.rrf_k)
            return self._hits(self._top(fused, np.flatnonzero(fused > 0), k), fused, found)
        # The candidates are the two rankings' heads, as with RRF; their scores are fused.
        fused = score_fusion(scores, similarity, eligible, self.semantic_weight)
        return self._hits(self._top(fused, np.union1d(lexical, dense), k), fused, found)

    def _hits(
        self, slots: list[int], scores: np.ndarray, found: dict[str, tuple[TermScore, int]]
    ) -> list[SearchHit]:
        matched = matched_terms({term: score for term, (score, _) in found.items()}, slots, list(self.fields))
        hits: list[SearchHit] = []
        for slot, value, terms_of in zip(slots, scores[slots].tolist(), matched, strict=True):
            spec = self._docs[slot]
            assert spec is not None
            hits.append(SearchHit(spec, value, terms_of))
        return hits
