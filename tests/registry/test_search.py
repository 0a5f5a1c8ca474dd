"""Search: identifier-aware tokens, BM25F scores equal to a plain reference (and per-field BM25 equal to
rank-bm25), filters before ranking, incremental updates through the registry, and searches concurrent with
registrations."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from toolnexus.core.spec import Lifecycle, SafetyTier, ToolSpec
from toolnexus.registry import Registry
from toolnexus.registry.search import DEFAULT_FIELDS, FieldWeight, SearchHit, SearchIndex, as_filters, tokenize
from toolnexus.registry.search_model import BM25F, Scoring
from toolnexus.registry.search_postings import Batch
from toolnexus.registry.search_text import BOUNDARY, FIELDS, analyze, field_terms, stem, terms_of_many
from toolnexus.registry.toolsets import Toolset

# -- text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("csv_to_parquet", ["csv", "to", "parquet"]),
        ("readFile", ["read", "file"]),
        ("HTTPServer", ["http", "server"]),
        ("files.read", ["files", "read"]),
        ("max-rows", ["max", "rows"]),
        ("getURLs", ["get", "urls"]),
        ("utf8Decode s3Bucket base64", ["utf8", "decode", "s3", "bucket", "base64"]),
        ("Convert a CSV file.", ["convert", "a", "csv", "file"]),
        ("ÉtéCafé naïveBayes", ["été", "café", "naïve", "bayes"]),
        ("  --__..  ", []),
    ],
)
def test_tokenize_splits_identifiers_and_lowercases(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [("files", "file"), ("queries", "query"), ("addresses", "addresse"), ("status", "status"), ("class", "class"),
     ("gas", "gas"), ("read", "read")],
)
def test_stem_folds_plurals_only(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


def test_analyze_drops_stopwords_and_folds_plurals() -> None:
    assert analyze("Convert the CSV files to a parquet table") == ["convert", "csv", "file", "parquet", "table"]
    assert analyze("the files", stopwords=False, stemming=False) == ["the", "files"]


@pytest.mark.parametrize("stopwords", [True, False])
def test_terms_of_many_are_each_texts_terms_between_boundaries(stopwords: bool) -> None:
    texts = ["Convert CSV files", "", "a\x00b readFile", "the", "HTTPServer\x00\x00logs", "ÉtéCafé naïveBayes"]
    stream = list(terms_of_many(texts, stopwords=stopwords))
    per_text: list[list[str]] = [[]]
    for term in stream:
        if term == BOUNDARY:
            per_text.append([])
        else:
            per_text[-1].append(term)
    assert per_text == [analyze(text, stopwords=stopwords) for text in texts]


def test_a_batch_holds_each_documents_term_counts_and_length() -> None:
    documents = [["csv", "file", "csv"], [], ["file"], ["json", "csv", "json", "json"]]
    stream = [term for i, terms in enumerate(documents) for term in ([BOUNDARY] if i else []) + terms]
    batch = Batch.of(stream, len(documents), BOUNDARY)
    postings = {
        term: list(zip(batch.documents[start:end].tolist(), batch.counts[start:end].tolist(), strict=True))
        for term, start, end in zip(batch.terms, batch.bounds, batch.bounds[1:], strict=False)
    }
    assert postings == {"csv": [(0, 2), (3, 1)], "file": [(0, 1), (2, 1)], "json": [(3, 3)]}
    assert batch.lengths.tolist() == [3, 0, 1, 4]
    with pytest.raises(ValueError, match="expected 3 documents, got 4"):
        Batch.of(stream, 3, BOUNDARY)


def test_tools_added_in_bulk_are_removed_exactly() -> None:
    # Removal analyses a tool again instead of keeping its terms: bulk and one-by-one analysis must agree.
    specs = _catalog(200, seed=31)
    bulk, single = SearchIndex(), SearchIndex()
    bulk.add_many(specs)
    for spec in specs[100:]:
        single.add(spec)
    for spec in specs[:100]:
        bulk.remove(spec.name)
    for name, index in bulk._indexes.items():
        other = single._indexes[name]
        assert index.total_length == other.total_length
        assert {t: len(s) for t, s in index._slots.items()} == {t: len(s) for t, s in other._slots.items()}


def test_field_terms_cover_arguments_names_and_descriptions() -> None:
    spec = ToolSpec(
        name="db.queryRows",
        input_schema={
            "type": "object",
            "properties": {
                "sql_text": {"type": "string", "description": "The statement to run"},
                "options": {
                    "type": "object",
                    "properties": {"timeout_seconds": {"description": "Abort after this long"}},
                },
            },
        },
    )
    terms = field_terms(spec)
    assert set(terms["name"]) == {"db", "query", "row"}
    assert set(terms["arguments"]) == {
        "sql", "text", "statement", "run", "option", "timeout", "second", "abort", "after", "long"
    }


# -- ranking --------------------------------------------------------------------------------------


def _tool(name: str, summary: str = "", description: str = "", **extra: object) -> ToolSpec:
    return ToolSpec(name=name, summary=summary, description=description, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def small_index() -> SearchIndex:
    index = SearchIndex()
    index.add_many(
        [
            _tool("csv.to_parquet", "Convert a CSV table to Parquet", tags=["data"]),
            _tool("text.render", "Render a template", "Fill a template; the output may be csv or parquet text."),
            _tool("files.read", "Read a file", input_schema={"type": "object", "properties": {
                "path": {"type": "string", "description": "location on disk"}}}),
            _tool("http.fetch", "Fetch a URL", input_schema={"type": "object", "properties": {
                "url": {"type": "string", "description": "web address"}, "headers": {"type": "object"}}}),
            _tool("mail.send", "Send an email", tags=["messaging"]),
        ]
    )
    return index


def test_name_and_summary_outrank_a_passing_mention(small_index: SearchIndex) -> None:
    hits = small_index.search("convert a csv to parquet")

    assert [h.name for h in hits] == ["csv.to_parquet", "text.render"]
    assert hits[0].score > hits[1].score > 0
    assert hits[0].matched == {"name": ["csv", "parquet"], "summary": ["convert", "csv", "parquet"]}
    assert hits[1].matched == {"description": ["csv", "parquet"]}
    assert isinstance(hits[0], SearchHit) and hits[0].spec.name == "csv.to_parquet"


def test_argument_names_and_descriptions_are_searchable(small_index: SearchIndex) -> None:
    assert [(h.name, h.matched) for h in small_index.search("web address headers")] == [
        ("http.fetch", {"arguments": ["address", "header", "web"]})
    ]
    assert small_index.search("location on disk")[0].name == "files.read"


def test_tags_are_searchable_and_reported(small_index: SearchIndex) -> None:
    assert [(h.name, h.matched) for h in small_index.search("messaging")] == [("mail.send", {"tags": ["messaging"]})]


def test_queries_without_known_terms_find_nothing(small_index: SearchIndex) -> None:
    assert small_index.search("") == []
    assert small_index.search("the of a") == []  # stopwords only
    assert small_index.search("zebra") == []
    assert small_index.search("csv", k=0) == []


def test_field_weights_decide_between_fields() -> None:
    index_by_name = SearchIndex({"name": FieldWeight(5.0), "description": FieldWeight(1.0)})
    index_by_description = SearchIndex({"name": FieldWeight(1.0), "description": FieldWeight(5.0)})
    tools = [_tool("report.build", description="Writes a summary"),
             _tool("summary.write", description="Builds a report")]
    tools += [_tool(f"other.tool{i}", description="unrelated") for i in range(3)]  # idf > 0 needs a few tools
    for index in (index_by_name, index_by_description):
        index.add_many(tools)

    assert index_by_name.search("summary")[0].name == "summary.write"
    assert index_by_description.search("summary")[0].name == "report.build"


def test_unknown_fields_and_modes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown search fields \['title'\]"):
        SearchIndex({"title": FieldWeight()})
    with pytest.raises(ValueError, match="search mode 'fuzzy' is not one of"):
        SearchIndex().search("x", mode="fuzzy")  # type: ignore[arg-type]


def test_a_registry_of_one_tool_still_finds_it() -> None:
    # rank-bm25's idf is negative when a term is in more than half the documents; a hit is a hit anyway.
    registry = Registry([_tool("only.tool", "Compress a folder")])
    assert [h.name for h in registry.search("compress folder")] == ["only.tool"]


def test_ties_are_broken_by_name() -> None:
    index = SearchIndex()
    index.add_many([_tool(f"twin.t{i}", "identical words") for i in (3, 1, 2)])
    assert [h.name for h in index.search("identical", k=2)] == ["twin.t1", "twin.t2"]


# -- equality with the reference scorer -----------------------------------------------------------

WORDS = tokenize("convert parse fetch send read write list delete csv parquet json email file folder image table "
                 "report user account invoice weather city route map price stock")


def _catalog(n: int, seed: int) -> list[ToolSpec]:
    rng = random.Random(seed)
    tools = []
    for i in range(n):
        args = {f"{rng.choice(WORDS)}_{j}": {"type": "string", "description": " ".join(rng.choices(WORDS, k=3))}
                for j in range(rng.randint(0, 3))}
        tools.append(
            ToolSpec(
                name=f"{rng.choice(WORDS)}.{rng.choice(WORDS)}_{i}",
                summary=" ".join(rng.choices(WORDS, k=rng.randint(1, 6))),
                description=" ".join(rng.choices(WORDS, k=rng.randint(0, 25))),
                # "file" is in most tools' tags, so its idf is negative and rank-bm25's epsilon floor applies
                tags=(["file"] if rng.random() < 0.8 else []) + rng.sample(WORDS, rng.randint(0, 2)),
                input_schema={"type": "object", "properties": args},
            )
        )
    return tools


def _reference_scores(
    specs: list[ToolSpec],
    query: str,
    fields: dict[str, FieldWeight],
    scoring: Scoring = "bm25f",
    bm25f: BM25F = BM25F(),
) -> np.ndarray:
    """The scores ``search`` promises, computed the plain way over the same terms."""
    if scoring == "fields":
        return _rank_bm25_scores(specs, query, fields)
    return _bm25f_scores(specs, query, fields, bm25f)


def _rank_bm25_scores(specs: list[ToolSpec], query: str, fields: dict[str, FieldWeight]) -> np.ndarray:
    """rank-bm25's BM25Okapi per field over the same terms, summed with the same weights."""
    terms = [field_terms(s) for s in specs]
    total = np.zeros(len(specs))
    for name, weight in fields.items():
        corpus = [list(t[name].elements()) for t in terms]
        total += weight.weight * BM25Okapi(corpus, k1=weight.k1, b=weight.b).get_scores(analyze(query))
    return total


def _bm25f_scores(specs: list[ToolSpec], query: str, fields: dict[str, FieldWeight], bm25f: BM25F) -> np.ndarray:
    """BM25F with BM25+'s lower bound, term by term and tool by tool, as the BM25F docstring states it."""
    terms = [{f: t for f, t in field_terms(s).items() if f in fields} for s in specs]
    n = len(specs)
    mean_length = {f: sum(t[f].total() for t in terms) / n for f in fields}
    total = np.zeros(n)
    for term, times in Counter(analyze(query)).items():
        holders = sum(1 for t in terms if any(t[f][term] for f in fields))
        if not holders:
            continue
        idf = math.log(1 + (n - holders + 0.5) / (holders + 0.5))
        for i, t in enumerate(terms):
            tf = sum(
                w.weight * t[f][term] / (1 - w.b + w.b * t[f].total() / mean_length[f])
                for f, w in fields.items()
                if mean_length[f]
            )
            if tf > 0:
                repeated = (bm25f.k3 + 1) * times / (bm25f.k3 + times)
                total[i] += repeated * idf * (tf * (bm25f.k1 + 1) / (tf + bm25f.k1) + bm25f.delta)
    return total


def _assert_equal_to_reference(index: SearchIndex, specs: list[ToolSpec], queries: list[str]) -> None:
    by_name = {s.name: i for i, s in enumerate(specs)}
    for query in queries:
        reference = _reference_scores(specs, query, index.fields, index.scoring, index.bm25f)
        hits = index.search(query, k=len(specs))
        assert hits, query
        for hit in hits:
            assert hit.score == pytest.approx(reference[by_name[hit.name]], abs=1e-9), (query, hit.name)
        found = {by_name[h.name] for h in hits}
        assert all(reference[i] == 0 for i in set(range(len(specs))) - found), query  # nothing scored is missing


QUERIES = ["convert csv to parquet", "file", "send email email to user", "csv csv csv file file",
           "weather in a city map", "stock price report", "invoice account delete folder image"]


def test_scores_equal_the_bm25f_reference() -> None:
    specs = _catalog(300, seed=7)
    index = SearchIndex()
    index.add_many(specs)
    _assert_equal_to_reference(index, specs, QUERIES)


def test_bm25f_parameters_are_the_ones_given() -> None:
    specs = _catalog(200, seed=8)
    index = SearchIndex(bm25f=BM25F(k1=1.2, delta=0.0, k3=8.0))
    index.add_many(specs)
    _assert_equal_to_reference(index, specs, QUERIES)


def test_scores_equal_rank_bm25_per_field_weighted() -> None:
    specs = _catalog(300, seed=7)
    index = SearchIndex(scoring="fields")
    index.add_many(specs)
    _assert_equal_to_reference(index, specs, QUERIES)


def test_bm25f_counts_different_query_words_above_one_word_everywhere() -> None:
    # Saturating the fields' sum once: "csv" in the name, summary and description is one word matched;
    # "csv" and "parquet" are two. Summing per-field BM25 ranks the repeated word first.
    filler = [_tool(f"other.t{i}", f"words about topic {i}") for i in range(20)]
    repeated = ToolSpec(name="csv.tool", summary="csv", description="csv csv reader")
    both = ToolSpec(name="csv.convert", summary="convert data", description="writes parquet from tables")
    for scoring, best in (("bm25f", "csv.convert"), ("fields", "csv.tool")):
        index = SearchIndex(scoring=scoring)  # type: ignore[arg-type]
        index.add_many([*filler, repeated, both])
        assert index.search("csv parquet", 1)[0].name == best, scoring


def test_unknown_scoring_is_refused() -> None:
    with pytest.raises(ValueError, match="scoring"):
        SearchIndex(scoring="tfidf")  # type: ignore[arg-type]


def test_scores_equal_rank_bm25_single_field_unweighted() -> None:
    specs = _catalog(200, seed=11)
    # rank-bm25's own defaults: k1=1.5, b=0.75
    index = SearchIndex({"description": FieldWeight()}, scoring="fields")
    index.add_many(specs)
    corpus = [analyze(s.description) for s in specs]
    reference = BM25Okapi(corpus)
    for query in QUERIES:
        scores = reference.get_scores(analyze(query))
        hits = {h.name: h.score for h in index.search(query, k=len(specs))}
        for i, spec in enumerate(specs):
            assert hits.get(spec.name, 0.0) == pytest.approx(scores[i], abs=1e-9)


@pytest.mark.parametrize("scoring", ["bm25f", "fields"])
def test_scores_stay_equal_to_the_reference_after_incremental_changes(scoring: Scoring) -> None:
    specs = _catalog(400, seed=3)
    index = SearchIndex(scoring=scoring)
    for spec in specs[:250]:
        index.add(spec)  # one at a time
    index.add_many(specs[250:])
    rng = random.Random(5)
    gone = set(rng.sample(range(len(specs)), 120))
    for i in sorted(gone):
        index.remove(specs[i].name)
    replaced = {i: specs[i].model_copy(update={"summary": "brand new weather csv words"}) for i in range(0, 400, 37)}
    for spec in replaced.values():
        index.add(spec)
    live = [replaced.get(i, s) for i, s in enumerate(specs) if i not in gone or i in replaced]

    assert len(index) == len(live)
    _assert_equal_to_reference(index, live, QUERIES)


@pytest.mark.parametrize("scoring", ["bm25f", "fields"])
def test_freed_slots_are_compacted_without_changing_results(scoring: Scoring) -> None:
    specs = _catalog(1500, seed=9)
    index = SearchIndex(scoring=scoring)
    index.add_many(specs)
    for spec in specs[:1200]:
        index.remove(spec.name)  # more free slots than tools: the index renumbers

    assert len(index._docs) < 1500  # compacted
    _assert_equal_to_reference(index, specs[1200:], QUERIES)


# -- the best k without scoring every candidate -------------------------------------------------


def _expected_top(specs: list[ToolSpec], query: str, k: int, admit: set[str] | None = None) -> list[tuple[str, float]]:
    """The k best tools holding a query term by the reference scores, ties by name (what ``search`` promises)."""
    reference = _reference_scores(specs, query, DEFAULT_FIELDS)
    wanted = set(analyze(query))
    holders = [i for i, s in enumerate(specs) if any(wanted & set(terms) for terms in field_terms(s).values())]
    ranked = sorted(
        ((specs[i].name, float(reference[i])) for i in holders if admit is None or specs[i].name in admit),
        key=lambda pair: (-round(pair[1], 9), pair[0]),
    )
    return ranked[:k]


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_the_best_k_are_those_of_an_exhaustive_ranking(k: int) -> None:
    specs = _catalog(700, seed=21)
    index = SearchIndex()
    index.add_many(specs)
    rng = random.Random(k)
    queries = QUERIES + [" ".join(rng.sample(WORDS, rng.randint(1, 5))) for _ in range(30)]
    for query in queries:
        hits = index.search(query, k)
        expected = _expected_top(specs, query, k)
        assert [h.name for h in hits] == [name for name, _ in expected], query
        assert [h.score for h in hits] == pytest.approx([score for _, score in expected], abs=1e-9)


def test_the_best_k_respect_filters_when_few_tools_are_admitted() -> None:
    specs = _catalog(700, seed=22)
    index = SearchIndex()
    index.add_many(specs)
    for prefix in ("csv", "weather", "stock"):
        admit = {s.name for s in specs if s.name.startswith(f"{prefix}.")}
        for query in QUERIES:
            hits = index.search(query, 5, filters={"namespaces": [prefix]})
            assert [h.name for h in hits] == [name for name, _ in _expected_top(specs, query, 5, admit)], query


def test_matched_lists_the_query_terms_each_field_holds() -> None:
    specs = _catalog(300, seed=23)
    index = SearchIndex()
    index.add_many(specs)
    by_name = {s.name: s for s in specs}
    for query in QUERIES:
        wanted = set(analyze(query))
        for hit in index.search(query, 10):
            expected = {f: sorted(wanted & set(t)) for f, t in field_terms(by_name[hit.name]).items()}
            assert hit.matched == {f: t for f, t in expected.items() if t}, (query, hit.name)
            assert list(hit.matched) == [f for f in FIELDS if f in hit.matched]  # fields in index order


def test_cached_term_scores_follow_registrations_and_removals() -> None:
    # A query caches its terms' scores; every change moves BM25's statistics, so the next query must not
    # reuse them.
    specs = _catalog(300, seed=24)
    index = SearchIndex()
    index.add_many(specs[:200])
    for query in QUERIES:
        index.search(query, 10)
    for spec in specs[200:]:
        index.add(spec)
        index.search("csv weather file", 5)
    for spec in specs[:40]:
        index.remove(spec.name)
        index.search("csv weather file", 5)
    live = specs[40:]
    for query in [*QUERIES, "csv weather file"]:
        expected = _expected_top(live, query, 10)
        assert [(h.name, h.score) for h in index.search(query, 10)] == [
            (name, pytest.approx(score, abs=1e-9)) for name, score in expected
        ]


@pytest.mark.parametrize("scoring", ["bm25f", "fields"])
def test_a_field_weighted_zero_still_makes_a_hit(scoring: Scoring) -> None:
    # A zero weight gives contributions of 0: holding a query term (the rule for a hit) is then not the same
    # as scoring above 0, and search must not confuse the two.
    index = SearchIndex({"name": FieldWeight(0.0), "description": FieldWeight()}, scoring=scoring)
    index.add_many([_tool(f"invoice.t{i}", "unrelated words") for i in range(12)])
    index.add(_tool("other.x", description="invoice"))
    hits = index.search("invoice", 3)
    assert [h.name for h in hits] == ["other.x", "invoice.t0", "invoice.t1"]
    assert hits[1].score == 0.0 and hits[1].matched == {"name": ["invoice"]}


# -- filters --------------------------------------------------------------------------------------


def _filter_catalog() -> list[ToolSpec]:
    rng = random.Random(1)
    tools = []
    for i in range(400):
        namespace = rng.choice(["files", "files.remote", "http", "db", ""])
        tools.append(
            ToolSpec(
                name=f"{namespace}.tool{i}" if namespace else f"tool{i}",
                summary="process data records",
                description="data " * rng.randint(1, 5),
                tags=rng.sample(["etl", "io", "web", "sql"], rng.randint(0, 2)),
                tier=rng.choice(list(SafetyTier)),
                runtime=rng.choice(["inprocess", "process", "docker"]),
                lifecycle=rng.choice(list(Lifecycle)),
            )
        )
    return tools


@pytest.fixture(scope="module")
def filter_index() -> tuple[SearchIndex, list[ToolSpec]]:
    specs = _filter_catalog()
    index = SearchIndex()
    index.add_many(specs)
    return index, specs


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"namespaces": ["files"]},
        {"namespaces": ["files.remote", "db"]},
        {"namespaces": [""]},
        {"tags": ["etl", "web"]},
        {"tiers": ["privileged"], "runtimes": ["docker"]},
        {"lifecycle": ["retired"]},
        {"lifecycle": []},
        {"namespaces": ["http"], "include": ["db.tool1*"], "exclude": ["http.tool2*"]},
        {"include": ["tool7"], "tags": ["nothing-has-this"]},
        {"exclude": ["*"]},
    ],
)
def test_filters_admit_exactly_what_the_toolset_matches(
    filter_index: tuple[SearchIndex, list[ToolSpec]], filters: dict[str, list[str]]
) -> None:
    index, specs = filter_index
    toolset = Toolset.model_validate(filters)
    expected = {s.name for s in toolset.select(specs)}

    found = {h.name for h in index.search("data records", k=len(specs), filters=filters)}
    assert found == expected
    assert {h.name for h in index.search("data records", k=len(specs), filters=toolset)} == expected


def test_a_filtered_search_returns_k_hits_when_k_tools_match() -> None:
    # The ten best tools overall are all excluded by the filter: filtering after cutting to k would be empty.
    index = SearchIndex()
    index.add_many([_tool(f"top.t{i}", "invoice invoice invoice") for i in range(50)])
    index.add_many([_tool(f"low.t{i}", "an invoice among many other unrelated words here") for i in range(12)])

    hits = index.search("invoice", k=10, filters={"namespaces": ["low"]})
    assert len(hits) == 10 and all(h.name.startswith("low.") for h in hits)


def test_filter_masks_follow_changes(filter_index: tuple[SearchIndex, list[ToolSpec]]) -> None:
    index = SearchIndex()
    index.add_many(filter_index[1])
    before = len(index.search("data", k=1000, filters={"tags": ["etl"]}))
    index.add(_tool("new.etl_tool", "data", tags=["etl"]))
    assert len(index.search("data", k=1000, filters={"tags": ["etl"]})) == before + 1
    index.remove("new.etl_tool")
    assert len(index.search("data", k=1000, filters={"tags": ["etl"]})) == before


def test_as_filters_accepts_a_toolset_or_its_fields() -> None:
    toolset = Toolset(tags=["x"])
    assert as_filters(toolset) is toolset
    assert as_filters({"tags": ["x"]}) == Toolset(tags=["x"])
    assert as_filters(None) is None


# -- the registry keeps the index current ---------------------------------------------------------


def test_registry_search_follows_register_retire_and_versions() -> None:
    registry = Registry([_tool("img.resize", "Resize an image")])
    assert [h.name for h in registry.search("resize image")] == ["img.resize"]  # the index is built here

    registry.register(_tool("img.crop", "Crop an image"))
    assert {h.name for h in registry.search("image")} == {"img.resize", "img.crop"}

    # a new version replaces the old text; an older version registered later does not
    registry.register(ToolSpec(name="img.crop", version="2.0.0", summary="Trim picture borders"))
    registry.register(ToolSpec(name="img.crop", version="1.5.0", summary="Crop an image, old"))
    assert [h.name for h in registry.search("image")] == ["img.resize"]
    assert registry.search("trim borders")[0].spec.version == "2.0.0"

    registry.unregister("img.crop", "2.0.0")  # back to the newest remaining version
    assert registry.search("crop")[0].spec.version == "1.5.0"

    registry.register(ToolSpec(name="img.resize", version="1.1.0", summary="Resize", lifecycle=Lifecycle.RETIRED))
    assert [h.name for h in registry.search("resize", filters={})] == []  # a Toolset leaves retired tools out
    assert [h.name for h in registry.search("resize")] == ["img.resize"]  # no filters: everything

    registry.unregister("img.resize")
    assert registry.search("resize") == []


def test_registry_search_results_equal_a_fresh_index() -> None:
    specs = _catalog(200, seed=21)
    registry = Registry(specs[:100])
    registry.search("warm")
    for spec in specs[100:]:
        registry.register(spec)
    for spec in specs[:50]:
        registry.unregister(spec.name)

    fresh = SearchIndex()
    fresh.add_many(specs[50:])
    for query in QUERIES:
        ours = [(h.name, h.score) for h in registry.search(query, k=30)]
        theirs = [(h.name, h.score) for h in fresh.search(query, k=30)]
        assert [n for n, _ in ours] == [n for n, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-9)


def test_searches_run_concurrently_with_registrations() -> None:
    registry = Registry(_catalog(300, seed=4))
    registry.search("warm")
    extra = _catalog(600, seed=5)
    start = threading.Barrier(4)
    done = threading.Event()
    failures: list[BaseException] = []
    known = {s.name for s in _catalog(300, seed=4)} | {s.name for s in extra}
    searches = Counter[str]()

    def write(part: list[ToolSpec]) -> None:
        start.wait()
        for spec in part:
            registry.register(spec)
            registry.unregister(spec.name) if spec.name.endswith(("3", "7")) else None

    def read(reader: str) -> None:
        start.wait()
        try:
            while not done.is_set():
                for query in QUERIES:
                    hits = registry.search(query, k=20, filters={"lifecycle": []})
                    assert all(h.name in known for h in hits)
                    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
                    searches[reader] += 1
        except BaseException as exc:  # surfaced in the main thread below
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(extra[i::2],)) for i in range(2)]
    readers = [threading.Thread(target=read, args=(f"r{i}",)) for i in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()

    assert failures == []
    assert searches["r0"] > 0 and searches["r1"] > 0
    live = [s for s in _catalog(300, seed=4) + extra if s.name in set(registry.names())]
    assert len(live) == len(registry.names())
    fresh = SearchIndex()
    fresh.add_many(live)
    for query in QUERIES:
        assert [h.name for h in registry.search(query, k=25)] == [h.name for h in fresh.search(query, k=25)]


def test_default_fields_cover_every_searchable_field() -> None:
    assert set(DEFAULT_FIELDS) == set(FIELDS)


def test_replacing_tools_over_and_over_keeps_the_index_compact() -> None:
    specs = _catalog(600, seed=13)
    index = SearchIndex()
    index.add_many(specs)
    for round_ in range(3):
        specs = [s.model_copy(update={"summary": f"round {round_} csv {s.summary}"}) for s in specs]
        for spec in specs:
            index.add(spec)

    assert len(index) == 600 and len(index._docs) <= 2 * 600 + 1
    _assert_equal_to_reference(index, specs, QUERIES)
