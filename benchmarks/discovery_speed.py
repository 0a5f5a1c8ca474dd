"""Search speed at catalog scale: toolnexus's index beside bm25s (and plain rank-bm25), in one run.

Synthetic catalogs of 1k, 10k and 100k tools (seeded): dotted names from a verb/noun/domain vocabulary,
a summary, a description padded with Zipf-distributed filler words from a 20,000-word vocabulary (so
postings lengths look like a real catalog's: a few very common words, a long tail), tags, tiers,
runtimes and 1-4 arguments with descriptions. Queries are short requests over the same vocabulary.

The peer is bm25s (``pip install bm25s``; benchmarks/setup.sh installs it), fed the *same tokens*: each
tool's five searchable fields analysed by toolnexus's analyzer (identifier splitting, stopwords, plural
folding) and joined into one document; each query analysed the same way. Both answer "query text -> the
10 best tool names": toolnexus's ``SearchIndex.search(query, 10)`` (which also reports ``matched`` and
builds ``SearchHit``s) against bm25s's ``get_scores`` + ``bm25s.selection.topk`` (its per-query core,
without the batching wrapper of ``retrieve``, which is timed on its own row, fewer queries).

For each size it prints, per system:

* build time (wall and CPU, min over runs, ours and the peer's runs interleaved). The peer's build is
  shown both as ``index`` alone (tokens given) and with the analysis of the catalog toolnexus does inside
  its own build;
* index memory: what the build leaves allocated (``tracemalloc``, a separate untimed build);
* query latency, queries interleaved (ours, peer, ours, peer, ...): min / median / p95 of wall-clock and
  of CPU time of the searching thread, and the ratio peer / ours (above 1: toolnexus faster). Ours runs
  twice: with the default BM25F scoring and with ``scoring="fields"``, whose scores are exactly
  rank-bm25's ``BM25Okapi`` per field.

Then, for the largest catalog, the time to register one tool into a live ``Registry`` whose index is
built, and the first query after a registration (which recomputes its terms' cached scores). The load
average is printed at start and end: on a shared machine, read the CPU-time columns first.

    python benchmarks/discovery_speed.py                      # 1k, 10k, 100k
    python benchmarks/discovery_speed.py --quick              # smoke: 1k tools, 50 queries
    python benchmarks/discovery_speed.py --sizes 1000 10000 --queries 200 --hybrid
    python benchmarks/discovery_speed.py --build-only --sizes 10000 100000   # index build time, 3 runs each
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from toolnexus.core.spec import Lifecycle, SafetyTier, ToolSpec
from toolnexus.registry import Registry
from toolnexus.registry.search import SearchIndex
from toolnexus.registry.search_text import analyze, field_texts, tokenize
from toolnexus.registry.semantic import semantic_available


def _words(text: str) -> list[str]:
    return text.split()


VERBS = _words(
    "get list create update delete search find fetch send convert translate summarize compute calculate validate "
    "parse export import schedule cancel book track monitor analyze generate render upload download resize "
    "compress encrypt decrypt sync merge split filter sort rank compare estimate forecast detect classify "
    "extract notify"
)
NOUNS = _words(
    "weather forecast invoice order customer ticket issue repository commit branch file folder image video audio "
    "email message channel calendar event meeting flight hotel stock price currency exchange rate recipe "
    "nutrition movie song playlist article news document spreadsheet table chart report user account password "
    "token payment refund shipment package address route map location timezone holiday quote lead contact "
    "campaign metric alert log trace dataset model embedding query index cluster node pod container secret "
    "certificate domain dns record subscription plan product inventory csv parquet json xml pdf"
)
DOMAINS = _words(
    "github slack jira gmail outlook stripe shopify salesforce hubspot notion zoom spotify youtube twitter reddit "
    "aws gcp azure kubernetes docker postgres mysql redis s3 dropbox drive sheets excel finance health travel "
    "sports music education legal crypto maps ocr speech vision"
)
RUNTIMES = ("inprocess", "process", "wasm", "docker")


class Catalog:
    """A seeded generator of realistic-looking tools and queries."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.filler = ["".join(self.rng.choice(letters) for _ in range(self.rng.randint(4, 10))) for _ in range(20000)]
        self.cumulative = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(self.filler))))  # Zipf(1)
        self.count = 0

    def words(self, n: int) -> list[str]:
        return self.rng.choices(self.filler, cum_weights=self.cumulative, k=n)

    def tool(self) -> ToolSpec:
        rng = self.rng
        self.count += 1
        verb, noun, other, domain = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(NOUNS), rng.choice(DOMAINS)
        name = f"{domain}.{verb}_{noun}_{self.words(1)[0]}{self.count}"
        summary = f"{verb.capitalize()} the {noun} {other} in {domain}."
        description = f"{summary} Returns {rng.choice(NOUNS)} details for the given {rng.choice(NOUNS)}. " + " ".join(
            self.words(rng.randint(12, 28))
        )
        properties = {
            f"{rng.choice(NOUNS)}_{rng.choice(('id', 'name', 'limit', 'format', 'path'))}": {
                "type": "string",
                "description": f"the {rng.choice(NOUNS)} " + " ".join(self.words(rng.randint(2, 6))),
            }
            for _ in range(rng.randint(1, 4))
        }
        return ToolSpec(
            name=name,
            summary=summary,
            description=description,
            tags=[domain, rng.choice(NOUNS)],
            tier=rng.choice(list(SafetyTier)),
            runtime=rng.choice(RUNTIMES),
            lifecycle=rng.choices(list(Lifecycle), weights=(1, 8, 1, 1))[0],
            input_schema={"type": "object", "properties": properties},
        )

    def query(self) -> str:
        rng = self.rng
        verb, noun, other, domain, mine = (rng.choice(words) for words in (VERBS, NOUNS, NOUNS, DOMAINS, NOUNS))
        return f"{verb} {noun} {other} from {domain} for my {mine}"


Search = Callable[[str], object]


def summary(values: list[float]) -> tuple[float, float, float]:
    """Min, median and p95 of ``values``."""
    ordered = sorted(values)
    return ordered[0], statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def interleaved(systems: dict[str, Search], queries: list[str]) -> dict[str, tuple[list[float], list[float]]]:
    """Per system, wall-clock and thread-CPU milliseconds of each query, the systems taking turns per query.

    Each system answers every query once first (unmeasured), as a long-lived registry would have its
    caches warm; then query by query each system runs in turn, so load on the machine hits both alike.
    """
    for query in queries:
        for run in systems.values():
            run(query)
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in systems}
    for query in queries:
        for name, run in systems.items():
            started, started_cpu = time.perf_counter(), time.thread_time()
            run(query)
            cpu = time.thread_time() - started_cpu
            times[name][0].append((time.perf_counter() - started) * 1000)
            times[name][1].append(cpu * 1000)
    return times


def document(spec: ToolSpec) -> list[str]:
    """A tool as one bag of toolnexus's index terms (all five searchable fields): what bm25s indexes."""
    return analyze(" ".join(field_texts(spec).values()))


class Peer:
    """bm25s over the same terms as toolnexus (see the module docstring)."""

    def __init__(self, specs: list[ToolSpec]) -> None:
        import bm25s

        self.specs = specs
        self.names = [spec.name for spec in specs]
        self.model = bm25s.BM25()  # its defaults: method "lucene", k1=1.5, b=0.75, numpy backend
        self.tokens: list[list[str]] = []

    def build(self, analyse: bool) -> None:
        """Index the catalog; with ``analyse``, also turn it into terms (toolnexus's build does that)."""
        import bm25s

        if analyse or not self.tokens:
            self.tokens = [document(spec) for spec in self.specs]
        self.model = bm25s.BM25()
        self.model.index(self.tokens, show_progress=False)

    def search(self, query: str, k: int = 10) -> list[str]:
        """The k best names: bm25s's per-query core (``get_scores`` then its ``topk``)."""
        from bm25s.selection import topk

        tokens = analyze(query)
        if not tokens:  # get_scores refuses an empty query
            return []
        _, best = topk(self.model.get_scores(tokens), k, backend="numpy", sorted=True)
        return [self.names[i] for i in best]

    def retrieve(self, query: str, k: int = 10) -> list[str]:
        """The same through bm25s's public batch API, ``retrieve`` (one query per call)."""
        best, _ = self.model.retrieve([analyze(query)], k=k, show_progress=False, n_threads=1)
        return [self.names[i] for i in best[0]]


def timed_build(build: Callable[[], Any]) -> tuple[float, float]:
    """Wall and process-CPU seconds of ``build()``, after a full collection."""
    gc.collect()
    started, started_cpu = time.perf_counter(), time.process_time()
    build()
    return time.perf_counter() - started, time.process_time() - started_cpu


def retained_mb(build: Callable[[], Any]) -> float:
    """Megabytes still allocated (Python objects and numpy buffers) after ``build()``: the index's memory."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = build()
        gc.collect()
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return size / 2**20


def build_ours(specs: list[ToolSpec], scoring: str = "bm25f") -> SearchIndex:
    """A toolnexus index of ``specs`` (``scoring="fields"``: the per-field rank-bm25 sums)."""
    index = SearchIndex(scoring=scoring)  # type: ignore[arg-type]  # a Scoring literal
    index.add_many(specs)
    return index


def bench_builds(specs: list[ToolSpec], peer: Peer, runs: int) -> SearchIndex:
    """Build times (interleaved runs) and retained memory of both systems; returns a built index of ours."""
    size = len(specs)
    ours: list[tuple[float, float]] = []
    theirs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(runs):
        ours.append(timed_build(lambda: build_ours(specs)))
        for analyse in (False, True):
            theirs[analyse].append(timed_build(lambda analyse=analyse: peer.build(analyse)))
    memory = retained_mb(lambda: build_ours(specs))
    peer_memory = retained_mb(lambda: peer.build(False) or peer.model)  # tokens exist: the index alone
    best = min(ours)
    for system, times, mb in (
        ("toolnexus build (analysis included)", ours, f"{memory:.0f}"),
        ("bm25s index (tokens given)", theirs[False], f"{peer_memory:.0f}"),
        ("bm25s analysis + index", theirs[True], ""),
    ):
        wall, cpu = min(t[0] for t in times), min(t[1] for t in times)
        ratio = "" if times is ours else f"{wall / best[0]:.2f} / {cpu / best[1]:.2f}"
        print(f"| {size:,} | {system} | {wall:.2f} / {cpu:.2f} | {ratio} | {mb} |", flush=True)
    index = build_ours(specs)
    peer.build(False)
    return index


def bench_queries(size: int, systems: dict[str, Search], queries: list[str], peer_name: str) -> None:
    """Interleaved query latencies of ``systems`` (the first is toolnexus); ratios against it."""
    times = interleaved(systems, queries)
    ours = [summary(values) for values in times[next(iter(systems))]]
    for name, (wall, cpu) in times.items():
        w, c = summary(wall), summary(cpu)
        ratio = "" if name == next(iter(systems)) else (
            f"{w[1] / ours[0][1]:.2f} / {w[2] / ours[0][2]:.2f} / {c[1] / ours[1][1]:.2f} / {c[2] / ours[1][2]:.2f}"
        )
        print(f"| {size:,} | {name} | {len(queries)} | {w[0]:.3f} / {w[1]:.3f} / {w[2]:.3f} | "
              f"{c[0]:.3f} / {c[1]:.3f} / {c[2]:.3f} | {ratio} |", flush=True)
    del peer_name


def bench_size(size: int, queries: int, reference_queries: int, hybrid: bool, runs: int) -> None:
    """Build, memory and query latency at ``size`` tools: toolnexus, bm25s and (fewer queries) rank-bm25."""
    catalog = Catalog(seed=size)
    specs = [catalog.tool() for _ in range(size)]
    query_texts = [catalog.query() for _ in range(queries)]
    filters = {"namespaces": ["github"], "tiers": ["read_only"]}
    peer = Peer(specs)
    print(f"\n**{size:,} tools** — build: wall / CPU s (min of {runs}), ratio peer / toolnexus, retained MB")
    print("\n| tools | system | build s wall / CPU | ratio wall / CPU | index MB |\n|---|---|---|---|---|")
    index = bench_builds(specs, peer, runs)

    print("\nqueries, top 10, interleaved: wall min / median / p95 ms, CPU min / median / p95 ms, ratio "
          "peer / toolnexus (wall median / wall p95 / CPU median / CPU p95; above 1: toolnexus faster)")
    print("\n| tools | system | queries | wall ms | CPU ms | ratio |\n|---|---|---|---|---|---|")
    # scoring="fields" gives exactly rank-bm25's BM25Okapi scores per field (the default is BM25F): both are timed
    fields = build_ours(specs, "fields")
    bench_queries(size, {"toolnexus search": lambda q: index.search(q, 10), "bm25s get_scores + topk": peer.search,
                         "toolnexus search, scoring='fields' (exact rank-bm25)": lambda q: fields.search(q, 10)},
                  query_texts, "bm25s")

    few = query_texts[: max(20, min(queries, 2_000_000 // size // 10))]
    bench_queries(size, {"toolnexus search": lambda q: index.search(q, 10), "bm25s retrieve": peer.retrieve},
                  few, "bm25s retrieve")
    bench_queries(size, {"toolnexus filtered (namespace + tier)": lambda q: index.search(q, 10, filters)},
                  query_texts, "")
    if hybrid:
        started = time.perf_counter()
        index.search(query_texts[0], 10, mode="hybrid")  # embeds every tool once
        print(f"(hybrid: embedding the catalog took {time.perf_counter() - started:.2f} s)")
        bench_queries(size, {"toolnexus hybrid": lambda q: index.search(q, 10, mode="hybrid")},
                      query_texts[: max(20, queries // 4)], "")
    bench_reference(size, specs, query_texts[:reference_queries])


def bench_reference(size: int, specs: list[ToolSpec], queries: list[str]) -> None:
    """Plain rank-bm25 (name + description, every document scored in Python per query), for scale."""
    from rank_bm25 import BM25Okapi

    wall, _ = timed_build(lambda: None)
    started = time.perf_counter()
    reference = BM25Okapi([tokenize(f"{s.name} {s.description}") for s in specs])
    wall = time.perf_counter() - started
    names = [s.name for s in specs]

    def reference_search(query: str) -> list[str]:
        scores = reference.get_scores(tokenize(query))
        return [names[i] for i in sorted(range(len(names)), key=lambda i: -scores[i])[:10]]

    times = interleaved({"rank-bm25": reference_search}, queries)["rank-bm25"]
    w, c = summary(times[0]), summary(times[1])
    print(f"| {size:,} | rank-bm25 name + description (build {wall:.2f} s) | {len(queries)} | "
          f"{w[0]:.2f} / {w[1]:.2f} / {w[2]:.2f} | {c[0]:.2f} / {c[1]:.2f} / {c[2]:.2f} | |", flush=True)


def bench_registration(size: int, samples: int) -> None:
    """Registering into (and retiring from) a live registry with a built index, and the next query."""
    catalog = Catalog(seed=size + 1)
    registry = Registry(catalog.tool() for _ in range(size))
    registry.search("warm up the index", 1)  # builds the index; from now on every register updates it
    new = [catalog.tool() for _ in range(samples)]
    queries = [catalog.query() for _ in range(samples)]
    for query in queries:
        registry.search(query, 10)
    register, first, cpu = [], [], []
    for spec, query in zip(new, queries, strict=True):
        started = time.perf_counter()
        registry.register(spec)
        register.append((time.perf_counter() - started) * 1000)
        started, started_cpu = time.perf_counter(), time.thread_time()
        registry.search(query, 10)  # its terms' cached scores were dropped by the registration
        first.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    assert registry.search(new[-1].name, 1)[0].name == new[-1].name
    r, f, c = summary(register), summary(first), summary(cpu)
    print(f"\nregister one tool into a live {size:,}-tool registry (index built), {samples} times: "
          f"min {r[0]:.3f} / median {r[1]:.3f} / p95 {r[2]:.3f} ms")
    print(f"first query after each registration: wall min {f[0]:.3f} / median {f[1]:.3f} / p95 {f[2]:.3f} ms, "
          f"CPU median {c[1]:.3f} ms")
    started = time.perf_counter()
    registry.unregister(new[0].name)
    print(f"retire (unregister) one tool from it: {(time.perf_counter() - started) * 1000:.3f} ms")


def bench_build(size: int, runs: int = 3) -> None:
    """Only the index build (``SearchIndex().add_many``), ``runs`` times, each after a full collection."""
    catalog = Catalog(seed=size)
    specs = [catalog.tool() for _ in range(size)]
    times = [timed_build(lambda: build_ours(specs)) for _ in range(runs)]
    print(f"| {size:,} | toolnexus bm25 build | {' / '.join(f'{w:.2f} ({c:.2f} CPU)' for w, c in times)} s |",
          flush=True)


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=300, help="queries per size")
    parser.add_argument("--runs", type=int, default=2, help="interleaved build runs per system and size")
    parser.add_argument("--hybrid", action="store_true",
                        help="also time hybrid search (the semantic extra) at sizes up to 10,000")
    parser.add_argument("--build-only", action="store_true", help="only time building the index")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 tools, 50 queries, 1 build run")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries, args.runs = [1000], 50, 1
    print(f"load average at start: {load()}")
    if args.build_only:
        for size in args.sizes:
            bench_build(size)
    else:
        for size in args.sizes:
            # rank-bm25 scores every document in Python per query: fewer queries as the catalog grows
            reference_queries = max(10, min(args.queries, 2_000_000 // size))
            # embedding 100k synthetic tools (random filler words cut into many word pieces) takes minutes
            hybrid = args.hybrid and size <= 10_000 and semantic_available()
            bench_size(size, args.queries, reference_queries, hybrid, args.runs)
        bench_registration(max(args.sizes), 50 if args.quick else 200)
    print(f"\nload average at end: {load()}")


if __name__ == "__main__":
    main()
