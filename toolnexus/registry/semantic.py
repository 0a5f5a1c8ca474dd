"""Optional semantic search (``pip install toolnexus[semantic]``): WordLlama embeddings fused with BM25.

Fusion is by normalised scores (:func:`score_fusion`) unless reciprocal rank fusion is asked for
(:func:`reciprocal_rank_fusion`): on the development splits of ToolLens and MetaTool, score fusion gave
nDCG@10 36.97 and 66.42 where RRF (k=60, equal weights) gave 36.03 and 63.13 (both over per-field BM25;
over BM25F, the default lexical scoring since, score fusion gives 38.26 and 66.72).

WordLlama's wheel carries its weights (16 MB, static token embeddings, numpy only, no torch), so the
model is loaded from the package directory with downloads disabled and ``HF_HUB_OFFLINE=1``: nothing is
fetched at run time. Without the package, :func:`load_embedder` returns ``None`` and search is BM25
alone, silently.

Tool embeddings are cached per tool (keyed by the text embedded) and computed in batches when a
hybrid search first needs them, so registering a tool costs nothing until then.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolnexus.core.spec import ToolSpec

Embedder = Callable[[list[str]], np.ndarray]
"""Texts to unit-length float32 row vectors."""

log = logging.getLogger("toolnexus.registry.semantic")
_lock = threading.Lock()
_loaded: list[Embedder | None] = []  # memo of load_embedder: [] until tried


def _load_wordllama() -> Embedder | None:
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:  # the extra is not installed: BM25 alone, without a word about it
        return None
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: the tokenizer must not reach Hugging Face either
    try:
        model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    except Exception as exc:  # installed but unusable (weights missing from the wheel): say so once
        log.warning("semantic search is off: WordLlama did not load from its package (%s)", exc)
        return None
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(model.embed(texts, norm=True), dtype=np.float32)

    return embed


def load_embedder() -> Embedder | None:
    """The shared embedder, loaded once; ``None`` when the ``semantic`` extra is not installed."""
    with _lock:
        if not _loaded:
            _loaded.append(_load_wordllama())
        return _loaded[0]


def semantic_available() -> bool:
    """Whether hybrid search can run (the ``semantic`` extra is installed and loads)."""
    return load_embedder() is not None


def embedding_text(spec: ToolSpec) -> str:
    """What a tool's embedding is made of: name words, description, tags and argument text.

    The summary is left out because it repeats the description's first line; argument text is in
    because it names what a tool works on (on ToolLens it turned hybrid search from worse than BM25 to
    better).
    """
    from toolnexus.registry.search_text import field_texts, tokenize

    fields = field_texts(spec)
    parts = (
        " ".join(tokenize(fields["name"])),
        fields["description"] or fields["summary"],
        fields["tags"],
        " ".join(tokenize(fields["arguments"])),
    )
    return " ".join(part for part in parts if part)


class EmbeddingCache:
    """Unit vectors of tools by slot, embedded lazily and reused while a tool's text is unchanged."""

    def __init__(self) -> None:
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._pending: dict[int, ToolSpec] = {}  # slot -> tool still to embed
        self._text_of: dict[int, str] = {}  # slot -> text its vector was made from
        self._by_text: dict[str, np.ndarray] = {}  # text -> vector, so a re-registration is free

    @classmethod
    def reusing(cls, old: EmbeddingCache) -> EmbeddingCache:
        """An empty cache that still knows the vectors ``old`` computed (for renumbered slots)."""
        new = cls()
        new._by_text = old._by_text
        return new

    def add(self, slot: int, spec: ToolSpec) -> None:
        """Queue ``spec`` to be embedded under ``slot`` (embedding waits for the next search)."""
        self._pending[slot] = spec

    def add_many(self, first: int, specs: list[ToolSpec]) -> None:
        """``add`` for each of ``specs`` at slots ``first, first + 1, ...``."""
        self._pending.update(zip(range(first, first + len(specs)), specs, strict=True))

    def remove(self, slot: int) -> None:
        """Forget the embedding, pending or made, of ``slot``."""
        self._pending.pop(slot, None)
        self._text_of.pop(slot, None)
        if slot < len(self._vectors):
            self._vectors[slot] = 0.0

    def matrix(self, size: int, embed: Embedder) -> np.ndarray:
        """Vectors for slots ``0..size-1`` (zero rows for free slots), embedding what is pending."""
        if self._pending:
            pending = {slot: embedding_text(spec) for slot, spec in self._pending.items()}
            texts = sorted(set(pending.values()) - set(self._by_text))
            if texts:
                self._by_text.update(zip(texts, embed(texts), strict=True))
            for slot, text in pending.items():
                self._place(slot, self._by_text[text])
                self._text_of[slot] = text
            self._pending.clear()
            if len(self._by_text) > 2 * len(self._text_of) + 1024:  # forget texts no tool has any more
                live = set(self._text_of.values())
                self._by_text = {t: v for t, v in self._by_text.items() if t in live}
        if self._vectors.shape[0] < size:
            self._grow(size, self._vectors.shape[1])
        return self._vectors[:size]

    def _place(self, slot: int, vector: np.ndarray) -> None:
        if self._vectors.shape[1] != len(vector) or slot >= self._vectors.shape[0]:
            self._grow(max(slot + 1, 2 * self._vectors.shape[0], 1024), len(vector))
        self._vectors[slot] = vector

    def _grow(self, rows: int, dims: int) -> None:
        grown = np.zeros((rows, dims), dtype=np.float32)
        old = self._vectors
        if old.size and old.shape[1] == dims:
            grown[: old.shape[0]] = old
        self._vectors = grown


def reciprocal_rank_fusion(rankings: list[tuple[np.ndarray, float]], size: int, k: int = 60) -> np.ndarray:
    """RRF scores over ``size`` slots: the sum of ``weight / (k + rank)`` over each ranking it appears in.

    ``rankings`` are ``(slots best first, weight)`` pairs.
    """
    fused = np.zeros(size)
    for order, weight in rankings:
        fused[order] += weight / (k + np.arange(1, len(order) + 1))
    return fused


DENSE_BALANCE = 2.3
"""How much the normalised embedding similarity counts against the normalised BM25 score in score fusion
at ``semantic_weight`` 1.0. Chosen on the development splits of ToolLens and MetaTool, one value for both
(``benchmarks/discovery_quality.py``): both halves of each split agree, and MetaTool alone would go higher,
ToolLens alone lower. Checked again over BM25F scoring: 1.5 gives 38.97 / 65.14, 2.3 gives 38.26 / 66.72 and
3.0 gives 37.62 / 67.29 (ToolLens / MetaTool), so 2.3 stays the best single value for both."""


def score_fusion(
    lexical: np.ndarray, similarity: np.ndarray | None, eligible: np.ndarray, weight: float
) -> np.ndarray:
    """Convex combination of min-max normalised BM25 scores and embedding similarities, over all slots.

    Each is scaled to [0, 1] over the ``eligible`` slots (so the best eligible tool of each ranking gets
    1), then ``fused = (bm25 + w * similarity) / (1 + w)`` with ``w = DENSE_BALANCE * weight``. Unlike
    reciprocal rank fusion this keeps how far apart the scores are, not only their order: a tool far
    ahead in one ranking stays ahead. ``similarity`` is ``None`` when there is no embedding ranking.
    """
    w = DENSE_BALANCE * weight if similarity is not None else 0.0
    fused = _min_max(lexical, eligible)
    if w:
        assert similarity is not None
        fused += w * _min_max(similarity, eligible)
    return fused / (1.0 + w)


def _min_max(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    among = values[eligible]
    if not len(among):
        return np.zeros_like(values, dtype=np.float64)
    low, high = float(among.min()), float(among.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float64)
    return (values.astype(np.float64) - low) / (high - low)
