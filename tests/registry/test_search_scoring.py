"""Cached per-term scores: both ways of merging a term's fields agree (per-field BM25 and BM25F), and the
field bits are right."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolnexus.registry.search_model import BM25F
from toolnexus.registry.search_postings import FieldIndex
from toolnexus.registry.search_scoring import TermScores, matched_terms


def _indexes() -> dict[str, FieldIndex]:
    name, description = FieldIndex(1.2, 0.5), FieldIndex(1.2, 0.3)
    docs = [({"csv": 1}, {"csv": 2, "file": 1}), ({}, {"file": 3}), ({"csv": 1, "json": 1}, {}), ({}, {"csv": 1})]
    for slot, (in_name, in_description) in enumerate(docs):
        name.add(slot, in_name)
        description.add(slot, in_description)
    return {"name": name, "description": description}


def test_sorted_and_dense_merges_of_a_terms_fields_agree() -> None:
    indexes = _indexes()
    weights = {"name": 3.0, "description": 1.0}
    # A slot count far above the postings takes the sorting merge, one close to it the dense merge.
    sparse, dense = TermScores(indexes, weights).get("csv", 4, 10_000), TermScores(indexes, weights).get("csv", 4, 4)
    assert sparse is not None and dense is not None
    assert sparse.slots.tolist() == dense.slots.tolist() == [0, 2, 3]
    assert sparse.values.tolist() == dense.values.tolist()
    assert sparse.keys.tolist() == dense.keys.tolist()
    expected = np.zeros(4)
    for field, index in indexes.items():
        found = index.contributions("csv", 4, weights[field])
        assert found is not None
        expected[found[0]] += found[1]
    assert sparse.values.tolist() == expected[[0, 2, 3]].tolist()


def test_matched_terms_reads_each_fields_bit() -> None:
    indexes = _indexes()
    scores = TermScores(indexes, {"name": 1.0, "description": 1.0})
    found = {t: s for t in ("csv", "file", "json") if (s := scores.get(t, 4, 4)) is not None}
    assert matched_terms(found, [0, 1, 2, 3], ["name", "description"]) == [
        {"name": ["csv"], "description": ["csv", "file"]},
        {"description": ["file"]},
        {"name": ["csv", "json"]},
        {"description": ["csv"]},
    ]


def test_the_cache_is_bounded_by_the_postings_it_holds() -> None:
    scores = TermScores(_indexes(), {"name": 1.0, "description": 1.0})
    scores.LIMIT = 4
    first = scores.get("csv", 4, 4)  # 3 postings
    assert scores.get("csv", 4, 4) is first  # cached
    scores.get("file", 4, 4)  # 2 more: over the bound, the cache starts again
    assert scores.get("csv", 4, 4) is not first


def test_bm25f_merges_agree_and_saturate_the_summed_frequencies() -> None:
    indexes = _indexes()
    weights = {"name": 3.0, "description": 1.0}
    params = BM25F(k1=5.0, delta=1.0)
    sparse = TermScores(indexes, weights, params).get("csv", 4, 10_000)
    dense = TermScores(indexes, weights, params).get("csv", 4, 4)
    assert sparse is not None and dense is not None
    assert sparse.slots.tolist() == dense.slots.tolist() == [0, 2, 3]
    assert sparse.values.tolist() == dense.values.tolist()
    frequency = np.zeros(4)
    for field, index in indexes.items():
        found = index.frequencies("csv", 4, weights[field])
        assert found is not None
        frequency[found[0]] += found[1]
    tf = frequency[[0, 2, 3]]
    idf = math.log(1 + (4 - 3 + 0.5) / (3 + 0.5))  # three of the four tools hold "csv"
    assert sparse.values == pytest.approx(idf * (tf * 6.0 / (tf + 5.0) + 1.0), abs=1e-12)
