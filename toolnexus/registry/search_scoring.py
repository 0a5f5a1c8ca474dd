"""Per-term scores, combined over the fields and kept until the index changes.

A query's score is ``sum over its terms of q(term) * score(term, tool)``, where ``q`` is how often the
term occurs in the query (saturated by ``BM25F.k3`` with ``bm25f`` scoring), and ``score(term, tool)``
depends only on the term and the index (its postings, document lengths, average lengths, document count
and, for ``fields`` scoring through rank-bm25's idf floor, the vocabulary), not on the query. With
``bm25f`` scoring it is BM25F's: the fields' weighted, length-normalised frequencies summed, saturated
once, times the idf of the tools holding the term in any field, plus BM25+'s lower bound
(:class:`~toolnexus.registry.search_model.BM25F`). With ``fields`` scoring it is the weighted sum of one
BM25Okapi per field, each exactly rank-bm25's. So the first query that uses a term computes it over the
term's postings in every field, merges the fields into one sparse vector (sorted slots, values, and which
fields hold the term), and later queries reuse it: scoring a term is then one scatter-add, the same work
as a column of bm25s's precomputed score matrix.

Unlike a matrix built once, nothing is precomputed for terms no one asks about, and a change to the
index (a registration, a removal) only drops the cache: BM25's length normalisation depends on the
average document length, which every registration moves, so stale vectors would no longer be exact.
The next query recomputes its own terms from the postings, so scores are always those of the live tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from toolnexus.registry.search_model import BM25F
from toolnexus.registry.search_postings import FieldIndex


@dataclass(frozen=True, slots=True)
class TermScore:
    """One term's score over the indexed tools (for one occurrence of the term in a query)."""

    slots: np.ndarray  # int64, increasing: the tools holding the term in any field
    values: np.ndarray  # float64: the term's score in each of those tools
    keys: np.ndarray  # int64: ``slot << 8 | field bits`` (bit i: field i holds the term), then a sentinel
    positive: bool  # every value > 0 (so a tool scores above 0 exactly when it holds a query term)

    @classmethod
    def of(cls, slots: np.ndarray, values: np.ndarray, fields: np.ndarray) -> TermScore:
        """A term score from its slots, values and field bits (uint8, one per slot)."""
        keys = np.empty(len(slots) + 1, dtype=np.int64)
        np.left_shift(slots, 8, out=keys[:-1])
        keys[:-1] |= fields
        keys[-1] = np.iinfo(np.int64).max  # so a binary search past the last slot still lands on a key
        return cls(slots, values, keys, bool(len(values)) and bool(values.min() > 0))


class TermScores:
    """The :class:`TermScore` of each queried term, computed on first use and dropped on any change.

    ``indexes`` and ``weights`` are the per-field indexes and weights, in the same order. ``bm25f`` gives
    BM25F's parameters; ``None`` scores each field by its own BM25Okapi and sums them (``fields`` scoring).
    The cache is bounded by the number of postings it holds (about 17 bytes each), then starts again empty.
    """

    LIMIT = 1 << 21  # cached postings: ~36 MB at most, more than a 100k-tool catalog's common terms need

    def __init__(
        self, indexes: Mapping[str, FieldIndex], weights: Mapping[str, float], bm25f: BM25F | None = None
    ) -> None:
        self._fields = [(indexes[name], weights[name], np.uint8(1 << i)) for i, name in enumerate(indexes)]
        self._bm25f = bm25f
        self._cache: dict[str, TermScore | None] = {}
        self._held = 0

    def clear(self) -> None:
        """Forget every cached term (the index changed)."""
        if self._cache:
            self._cache.clear()
            self._held = 0

    def get(self, term: str, documents: int, size: int) -> TermScore | None:
        """``term``'s scores among ``documents`` live tools in ``size`` slots; ``None`` when no field holds it."""
        try:
            return self._cache[term]
        except KeyError:
            pass
        score = self._compute(term, documents, size)
        size = 0 if score is None else len(score.slots)
        if self._held + size > self.LIMIT:
            self.clear()
        self._cache[term] = score
        self._held += size
        return score

    def _compute(self, term: str, documents: int, size: int) -> TermScore | None:
        bm25f = self._bm25f
        parts = []
        for index, weight, bit in self._fields:
            found = (
                index.contributions(term, documents, weight)
                if bm25f is None
                else index.frequencies(term, documents, weight)
            )
            if found is not None:
                parts.append((*found, bit))
        if not parts:
            return None
        slots, values, bits = _merge(parts, size)
        if bm25f is not None:
            values = _saturate(values, documents, bm25f)
        return TermScore.of(slots, values, bits)


_Part = tuple[np.ndarray, np.ndarray, np.uint8]  # one field's slots holding a term, their values, its bit


def _merge(parts: list[_Part], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The fields' (slots, values, bit) of one term as one sparse vector: the slots holding the term in any
    # field, the sum of their values over the fields, and the union of their field bits.
    if len(parts) == 1:
        slots, values, bit = parts[0]
        return slots, values, np.full(len(slots), bit, dtype=np.uint8)
    postings = sum(len(p[0]) for p in parts)
    if postings * 64 < size:  # a rare term: sorting its few postings beats touching every slot
        slots, where = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
        # bincount adds in input order, i.e. field by field, as a per-field sum would.
        values = np.bincount(where, weights=np.concatenate([p[1] for p in parts]), minlength=len(slots))
        # Each field has its own bit and a tool appears once per field: the sum of bits is their union.
        bits = np.concatenate([np.full(len(p[0]), p[2], dtype=np.float64) for p in parts])
        return slots, values, np.bincount(where, weights=bits, minlength=len(slots)).astype(np.uint8)
    # A common term: merge on dense scratch arrays over all slots (linear, no sort).
    dense = np.zeros(size)
    held = np.zeros(size, dtype=np.uint8)
    marked = np.zeros(size, dtype=bool)  # numpy finds the set entries of a bool array far faster than of uint8
    for slots, values, bit in parts:
        dense[slots] += values  # field by field, as a per-field sum would
        held[slots] |= bit
        marked[slots] = True
    slots = np.flatnonzero(marked)
    return slots, dense[slots], held[slots]


def _saturate(frequencies: np.ndarray, documents: int, bm25f: BM25F) -> np.ndarray:
    # BM25F's score from the summed field frequencies of the tools holding the term (see BM25F). The idf is
    # Lucene's ``ln(1 + (N - n + 0.5) / (n + 0.5))``: positive for any n, so it needs no floor from the
    # vocabulary's mean (which rank-bm25's negative-idf rule does) and stays a function of n and N only.
    held = len(frequencies)
    idf = np.log1p((documents - held + 0.5) / (held + 0.5))
    k1 = bm25f.k1
    # A tool holding the term only in fields weighted 0 has frequency 0: it scores 0, lower bound included.
    floor = np.where(frequencies > 0, bm25f.delta, 0.0) if bm25f.delta else 0.0
    return idf * (frequencies * (k1 + 1) / (frequencies + k1) + floor)


def matched_terms(found: Mapping[str, TermScore], slots: list[int], fields: list[str]) -> list[dict[str, list[str]]]:
    """For each of ``slots``: field name -> the terms of ``found`` it holds, sorted (fields in index order).

    One binary search per term over its keys finds the field bits of every hit at once (a few numpy calls
    per term, whatever the catalog size); then one pass over the hits' bits in Python.
    """
    matched: list[dict[str, list[str]]] = [{} for _ in slots]
    if not found or not slots:
        return matched
    at = np.asarray(slots, dtype=np.int64)
    shifted = at << 8
    terms = sorted(found)
    keys = np.stack([found[t].keys[np.searchsorted(found[t].keys, shifted)] for t in terms])
    bits = np.where(keys >> 8 == at, keys & 0xFF, 0).T.tolist()  # (hit, term)
    names_of = _names_of(tuple(fields))
    for held, row in zip(matched, bits, strict=True):
        for term, mask in zip(terms, row, strict=True):
            for name in names_of[mask] if mask else ():
                terms_here = held.get(name)
                if terms_here is None:
                    held[name] = [term]
                else:
                    terms_here.append(term)
    # Terms were visited in order, fields by first use: report the fields in index order.
    return [held if len(held) < 2 else {f: held[f] for f in fields if f in held} for held in matched]


@lru_cache(maxsize=16)
def _names_of(fields: tuple[str, ...]) -> list[list[str]]:
    # Field bits -> the names of the fields they set, for every combination.
    return [[name for f, name in enumerate(fields) if mask >> f & 1] for mask in range(1 << len(fields))]
