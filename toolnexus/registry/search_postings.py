"""Postings lists and per-field BM25 statistics that update one document at a time.

Documents are numbered by *slots* handed out in increasing order, so every postings list stays sorted
and a removal is a binary search plus one ``del``. Lists are compact ``array`` buffers (4 bytes per
entry, not a Python int each); a query reads them through a numpy copy cached until the list changes,
so scoring a term is a handful of vectorised operations over its postings only.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np


class _TermIds(dict[str, int]):
    """Term -> a dense id in order of first appearance (iterating gives the terms in id order)."""

    def __missing__(self, term: str) -> int:
        value = self[term] = len(self)
        return value


@dataclass(frozen=True, slots=True)
class Batch:
    """The postings of many documents, numbered from 0, made before they get their slots in an index."""

    size: int  # documents
    terms: list[str]  # the distinct terms, in the order of their groups below
    bounds: list[int]  # term i's postings are ``documents[bounds[i]:bounds[i + 1]]`` (and counts)
    documents: np.ndarray  # int32, increasing within each term
    counts: np.ndarray  # int32: how often the term occurs in the document
    lengths: np.ndarray  # float64 per document: its number of terms

    @classmethod
    def of(cls, stream: Iterable[str], size: int, boundary: str) -> Batch:
        """The postings of ``size`` documents given as one stream of terms, ``boundary`` between two.

        Vectorised, with no Python code per term occurrence: terms become dense ids (a C-level map),
        each occurrence's document is the number of boundaries before it, and sorting the (term,
        document) keys groups the postings and counts repeats.
        """
        ids = _TermIds()
        ids[boundary]  # id 0
        term_ids = np.fromiter(map(ids.__getitem__, stream), dtype=np.int64)
        between = term_ids == 0
        document = np.cumsum(between)[~between]
        term_ids = term_ids[~between]
        if int(between.sum()) != max(size - 1, 0):
            raise ValueError(f"expected {size} documents, got {int(between.sum()) + 1}")
        keys, counts = np.unique(term_ids * size + document, return_counts=True)
        terms_of_keys = keys // size
        bounds = np.searchsorted(terms_of_keys, np.arange(1, len(ids) + 1)).tolist()
        return cls(
            size,
            list(ids)[1:],
            bounds,
            (keys - terms_of_keys * size).astype(np.int32),
            counts.astype(np.int32),
            np.bincount(document, minlength=size).astype(np.float64),
        )


class Postings:
    """The sorted slots holding one term (with the term's count in each), plus a cached numpy view."""

    __slots__ = ("_cache", "counts", "slots")

    def __init__(self) -> None:
        self.slots = array("i")
        self.counts = array("i")
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.slots)

    def append(self, slot: int, count: int = 1) -> None:
        """Add ``slot`` (larger than every slot already here)."""
        self.slots.append(slot)
        self.counts.append(count)
        self._cache = None

    def extend(self, slots: list[int]) -> None:
        """Add ``slots`` (increasing, each larger than every slot already here), each with count 1."""
        self.slots.extend(slots)
        self.counts.extend([1] * len(slots))
        self._cache = None

    def discard(self, slot: int) -> None:
        """Remove ``slot`` if present."""
        at = bisect_left(self.slots, slot)
        if at < len(self.slots) and self.slots[at] == slot:
            del self.slots[at]
            del self.counts[at]
            self._cache = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Slots (int64) and counts (float64) as numpy arrays; built once per change."""
        if self._cache is None:
            self._cache = (
                np.frombuffer(self.slots, dtype=np.int32).astype(np.int64),
                np.frombuffer(self.counts, dtype=np.int32).astype(np.float64),
            )
        return self._cache


class Column:
    """A growable float64 array indexed by slot (doubling, so appends are amortised O(1))."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = np.zeros(1024)

    def set(self, slot: int, value: float) -> None:
        """Store ``value`` at ``slot``, growing the column when the slot is past its end."""
        if slot >= len(self.data):
            grown = np.zeros(max(2 * len(self.data), slot + 1))
            grown[: len(self.data)] = self.data
            self.data = grown
        self.data[slot] = value


class FieldIndex:
    """BM25Okapi over one field, exactly as ``rank_bm25.BM25Okapi`` would score the live documents.

    rank-bm25 computes ``idf = ln((N - n + 0.5) / (n + 0.5))`` and replaces negative values by
    ``epsilon * mean(idf over the vocabulary)``. The mean changes with every document, so it is kept
    from a histogram of document frequencies (few distinct values) and computed only when a query term
    actually needs the floor. For ``bm25f`` scoring it gives instead the field's share of a term's
    frequency (:meth:`frequencies`), which the caller sums over the fields and saturates once.

    Postings live in two dicts of ``array`` buffers (slots, counts) rather than one object per term:
    adding a document is then a few C-level appends per term, which is what makes building a 100k
    index take seconds rather than a minute.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> None:
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self._slots: dict[str, array[int]] = {}
        self._counts: dict[str, array[int]] = {}
        self._views: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # numpy copies, dropped on change
        self.lengths = Column()
        self.total_length = 0
        self._df_histogram: Counter[int] = Counter()  # document frequency -> number of terms with it

    def document_frequency(self, term: str) -> int:
        """How many tools hold ``term`` in this field (BM25's document frequency)."""
        slots = self._slots.get(term)
        return 0 if slots is None else len(slots)

    def add(self, slot: int, terms: Mapping[str, int]) -> None:
        """Index one document's term counts at ``slot`` (larger than every slot indexed so far)."""
        length = sum(terms.values())
        self.lengths.set(slot, length)
        self.total_length += length
        histogram, slots_of, counts_of, views = self._df_histogram, self._slots, self._counts, self._views
        for term, count in terms.items():
            slots = slots_of.get(term)
            if slots is None:
                slots_of[term] = array("i", (slot,))
                counts_of[term] = array("i", (count,))
                histogram[1] += 1
            else:
                n = len(slots)
                histogram[n] -= 1
                histogram[n + 1] += 1
                slots.append(slot)
                counts_of[term].append(count)
                views.pop(term, None)

    def add_batch(self, first: int, batch: Batch) -> None:
        """Index ``batch`` at slots ``first, first + 1, ...`` (all larger than any indexed so far)."""
        if not batch.size:
            return
        self.lengths.set(first + batch.size - 1, 0.0)  # grow the column once
        self.lengths.data[first : first + batch.size] = batch.lengths
        self.total_length += int(batch.lengths.sum())
        slot_bytes = (batch.documents + np.int32(first)).tobytes()
        count_bytes = batch.counts.tobytes()
        slots_of, counts_of, views = self._slots, self._counts, self._views
        for term, start, end in zip(batch.terms, batch.bounds, batch.bounds[1:], strict=False):
            s, e = start * 4, end * 4
            if term in slots_of:
                slots_of[term].frombytes(slot_bytes[s:e])
                counts_of[term].frombytes(count_bytes[s:e])
                views.pop(term, None)
            else:
                slots_of[term] = array("i", slot_bytes[s:e])
                counts_of[term] = array("i", count_bytes[s:e])
        self._df_histogram = Counter(map(len, slots_of.values()))

    def remove(self, slot: int, terms: Iterable[str]) -> None:
        """Forget the document at ``slot`` (``terms``: the distinct terms it was added with)."""
        self.total_length -= int(self.lengths.data[slot])
        self.lengths.set(slot, 0.0)
        histogram = self._df_histogram
        for term in terms:
            slots, counts = self._slots[term], self._counts[term]
            n = len(slots)
            histogram[n] -= 1
            at = bisect_left(slots, slot)
            if at < n and slots[at] == slot:
                del slots[at]
                del counts[at]
            self._views.pop(term, None)
            if n > 1:
                histogram[n - 1] += 1
            else:
                del self._slots[term], self._counts[term]

    def idf(self, term: str, documents: int) -> float:
        """rank-bm25's idf of ``term`` among ``documents`` live documents (0 for an unknown term)."""
        n = self.document_frequency(term)
        if not n:
            return 0.0
        value = math.log(documents - n + 0.5) - math.log(n + 0.5)
        return value if value >= 0 else self.epsilon * self._mean_idf(documents)

    def _mean_idf(self, documents: int) -> float:
        total = terms = 0
        for df, count in self._df_histogram.items():
            if count:
                total += count * (math.log(documents - df + 0.5) - math.log(df + 0.5))
                terms += count
        return total / terms if terms else 0.0

    def _arrays(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        view = self._views.get(term)
        if view is None:
            slots = self._slots.get(term)
            if slots is None:
                return None
            view = self._views[term] = (
                np.frombuffer(slots, dtype=np.int32).astype(np.int64),
                np.frombuffer(self._counts[term], dtype=np.int32).astype(np.float64),
            )
        return view

    def contributions(self, term: str, documents: int, weight: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The slots holding ``term`` and ``weight * BM25(term)`` for each, among ``documents`` live tools.

        ``None`` when no document holds the term (or every document is empty).
        """
        arrays = self._arrays(term)
        if arrays is None or not self.total_length:
            return None
        slots, counts = arrays
        k1, b = self.k1, self.b
        average = self.total_length / documents
        norm = k1 * (1 - b + b * self.lengths.data[slots] / average)
        return slots, (weight * self.idf(term, documents)) * (counts * (k1 + 1) / (counts + norm))

    def frequencies(self, term: str, documents: int, weight: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The slots holding ``term`` and ``weight * count / (1 - b + b * length / mean length)`` for each.

        BM25F's per-field share of a term's frequency (:class:`~toolnexus.registry.search_model.BM25F`):
        length-normalised here, summed over the fields and saturated by the caller. ``None`` as for
        :meth:`contributions`.
        """
        arrays = self._arrays(term)
        if arrays is None or not self.total_length:
            return None
        slots, counts = arrays
        b = self.b
        average = self.total_length / documents
        return slots, weight * counts / (1 - b + b * self.lengths.data[slots] / average)
