"""Hybrid search: WordLlama loaded offline from its wheel, fused with BM25 (normalised scores by default, or
reciprocal rank fusion), embeddings cached per tool, and a silent fall back to BM25 when the extra is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from toolnexus.core.spec import ToolSpec
from toolnexus.registry import Registry, search_index as search_module
from toolnexus.registry.search import SearchIndex
from toolnexus.registry.semantic import (
    DENSE_BALANCE,
    embedding_text,
    load_embedder,
    reciprocal_rank_fusion,
    score_fusion,
)

pytest.importorskip("wordllama")

TOOLS = [
    ToolSpec(name="weather.forecast", summary="Weather forecast for a city",
             description="Temperature, wind and precipitation for the next days."),
    ToolSpec(name="finance.stock_quote", summary="Latest stock price for a ticker symbol"),
    ToolSpec(name="mail.send", summary="Send an email message to a recipient"),
    ToolSpec(name="files.read", summary="Read a text file from disk"),
    ToolSpec(name="maps.route", summary="Driving directions between two addresses"),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    index = SearchIndex()
    index.add_many(TOOLS)
    return index


@pytest.mark.parametrize(
    ("query", "tool"),
    [
        ("will it rain tomorrow", "weather.forecast"),
        ("how much is an apple share worth", "finance.stock_quote"),
        ("write a letter to my boss", "mail.send"),
        ("navigate to the airport", "maps.route"),
    ],
)
def test_hybrid_finds_tools_by_meaning_where_bm25_finds_nothing(index: SearchIndex, query: str, tool: str) -> None:
    assert index.search(query) == []  # no word in common

    hits = index.search(query, k=3, mode="hybrid")
    assert hits[0].name == tool
    assert hits[0].matched == {}  # found by meaning alone
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_keeps_lexical_matches_and_their_matched_fields(index: SearchIndex) -> None:
    hits = index.search("stock price", k=2, mode="hybrid")
    assert hits[0].name == "finance.stock_quote"
    assert hits[0].matched == {"name": ["stock"], "summary": ["price", "stock"]}


def test_without_the_semantic_ranking_hybrid_is_bm25() -> None:
    lexical_only = SearchIndex(semantic_weight=0.0)
    lexical_only.add_many(TOOLS + [ToolSpec(name=f"pad.t{i}", summary="text padding") for i in range(5)])
    for query in ("read text file", "send message", "weather"):
        assert [h.name for h in lexical_only.search(query, mode="hybrid")] == [
            h.name for h in lexical_only.search(query, mode="bm25")
        ]


def test_the_semantic_weight_moves_the_fused_ranking() -> None:
    # Lexically the query hits the finance tool ("price"); by meaning it is about rain.
    tools = [*TOOLS, ToolSpec(name="climate.rainfall", summary="Rainfall and storms expected this week")]
    light, heavy = SearchIndex(semantic_weight=0.05, rrf_k=1), SearchIndex(semantic_weight=20.0, rrf_k=1)
    for idx in (light, heavy):
        idx.add_many(tools)
    query = "price of an umbrella when it rains"
    assert [h.name for h in light.search(query)] == ["finance.stock_quote"]
    assert light.search(query, k=1, mode="hybrid")[0].name == "finance.stock_quote"
    assert heavy.search(query, k=1, mode="hybrid")[0].name == "climate.rainfall"


def test_hybrid_respects_filters(index: SearchIndex) -> None:
    hits = index.search("will it rain tomorrow", k=5, filters={"namespaces": ["mail", "files"]}, mode="hybrid")
    assert {h.name for h in hits} == {"mail.send", "files.read"}


def test_reciprocal_rank_fusion_sums_weighted_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([(np.array([2, 0]), 1.0), (np.array([0, 1]), 0.5)], size=4, k=60)
    assert fused == pytest.approx([1 / 62 + 0.5 / 61, 0.5 / 62, 1 / 61, 0.0])


def test_score_fusion_mixes_min_max_normalised_scores_over_eligible_tools() -> None:
    lexical = np.array([4.0, 0.0, 2.0, 9.0])
    similarity = np.array([0.5, 0.9, 0.1, 0.0])
    eligible = np.array([True, True, True, False])  # the last tool is filtered out: not in the scaling
    fused = score_fusion(lexical, similarity, eligible, weight=1.0)
    w = DENSE_BALANCE
    expected = [(1.0 + w * 0.5) / (1 + w), (0.0 + w * 1.0) / (1 + w), (0.5 + w * 0.0) / (1 + w)]
    assert fused[:3] == pytest.approx(expected)
    assert score_fusion(lexical, None, eligible, weight=1.0)[:3] == pytest.approx([1.0, 0.0, 0.5])
    assert score_fusion(np.zeros(4), similarity, eligible, weight=1.0)[:3] == pytest.approx(
        [w * 0.5 / (1 + w), w / (1 + w), 0.0]
    )  # no lexical hit anywhere: the embedding ranking alone


def test_reciprocal_rank_fusion_is_still_available() -> None:
    index = SearchIndex(fusion="rrf")
    index.add_many(TOOLS)
    hits = index.search("will it rain tomorrow", k=2, mode="hybrid")
    assert hits[0].name == "weather.forecast"
    assert hits[0].score == pytest.approx(1.0 / 61)  # first of the embedding ranking, weight 1
    with pytest.raises(ValueError, match="fusion 'max' is not one of scores, rrf"):
        SearchIndex(fusion="max")  # type: ignore[arg-type]


def test_embeddings_are_cached_per_tool_and_updated_incrementally(monkeypatch: pytest.MonkeyPatch) -> None:
    embed = load_embedder()
    assert embed is not None
    embedded: list[str] = []

    def counting(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return embed(texts)

    monkeypatch.setattr(search_module, "load_embedder", lambda: counting)
    registry = Registry(TOOLS)
    registry.search("rain", mode="hybrid")
    tool_texts = {embedding_text(t) for t in TOOLS}
    assert tool_texts <= set(embedded)

    embedded.clear()
    new = ToolSpec(name="calendar.book", summary="Book a meeting room")
    registry.register(new)
    registry.register(TOOLS[0])  # the same text again: nothing to embed
    assert registry.search("reserve a conference room", k=1, mode="hybrid")[0].name == "calendar.book"
    assert set(embedded) - {"reserve a conference room"} == {embedding_text(new)}

    registry.unregister("calendar.book")
    assert "calendar.book" not in {h.name for h in registry.search("reserve a conference room", mode="hybrid")}


def test_registry_search_mode_sets_the_default() -> None:
    registry = Registry(TOOLS, search_mode="hybrid")
    assert registry.search("will it rain tomorrow", k=1)[0].name == "weather.forecast"
    assert registry.search("will it rain tomorrow", k=1, mode="bm25") == []


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def test_without_the_extra_hybrid_is_bm25_alone_and_silent() -> None:
    result = _run(
        """
        import sys, json
        sys.modules["wordllama"] = None  # what an uninstalled extra looks like to the import system
        from toolnexus.core.spec import ToolSpec
        from toolnexus.registry import Registry
        from toolnexus.registry.semantic import semantic_available
        registry = Registry([ToolSpec(name="weather.forecast", summary="Weather forecast for a city"),
                             ToolSpec(name="mail.send", summary="Send an email"),
                             ToolSpec(name="files.read", summary="Read a file")], search_mode="hybrid")
        print(json.dumps([semantic_available(), [h.name for h in registry.search("weather city")],
                          [h.name for h in registry.search("will it rain tomorrow")]]))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [False, ["weather.forecast"], []]
    assert result.stderr == ""  # no warning, no log line


def test_the_model_loads_from_its_wheel_without_network(tmp_path: Path) -> None:
    result = _run(
        """
        import socket, json, os
        def refuse(*args, **kwargs):
            raise OSError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from toolnexus.registry.semantic import load_embedder
        embed = load_embedder()
        vectors = embed(["convert a csv file", "weather forecast"])
        print(json.dumps([list(vectors.shape), float((vectors ** 2).sum(axis=1)[0]), os.environ.get("HF_HUB_OFFLINE")]))
        """,
        env={"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    shape, norm, offline_after = json.loads(result.stdout)
    assert shape == [2, 256] and norm == pytest.approx(1.0, abs=1e-5)
    assert offline_after is None  # the process environment is left as it was
    assert list(tmp_path.iterdir()) == []  # no cache directory, no download
