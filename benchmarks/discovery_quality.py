"""Tool-retrieval quality of toolnexus search beside plain rank-bm25, on ToolLens and MetaTool.

Uses the offline datasets and the reference evaluator in ``../shared/benchmarks/tool_retrieval/``
(``eval_bm25.py``: its loaders, its metric function and its plain-BM25 baseline over tool name +
description). Both datasets there are *development* splits; the held-out test splits are kept apart.

Each dataset tool becomes a ``ToolSpec`` the way a registry would hold it: a dotted name, a summary
(first sentence of the description), the description, tags (ToolLens: the RapidAPI category) and the
argument schema (ToolLens: required and optional parameters with their descriptions). MetaTool tools
have only a name and a description.

    python benchmarks/discovery_quality.py                  # both datasets, bm25 and hybrid
    python benchmarks/discovery_quality.py --dataset toollens --max-queries 3000
    python benchmarks/discovery_quality.py --data DIR       # where tool_retrieval/ lives
    python benchmarks/discovery_quality.py --scoring fields # per-field BM25Okapi sums (before BM25F)
    python benchmarks/discovery_quality.py --halves         # also nDCG@10 over even / odd query indexes

``--halves`` shows whether a change helps both halves of each split alike (a constant chosen on one
half should hold on the other); ``--quick`` is a smoke run (ToolLens, 300 queries).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.search import SearchIndex
from toolnexus.registry.semantic import semantic_available

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "tool_retrieval"
Query = tuple[str, str, set[str]]


def reference_evaluator(data: Path) -> ModuleType:
    """The shared ``eval_bm25`` module (loaders, metrics, the plain rank-bm25 baseline)."""
    sys.path.insert(0, str(data))
    import eval_bm25

    return eval_bm25


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]


def _params(text: str, key: str, following: str) -> list[dict[str, Any]]:
    match = re.search(rf"{key}: (\[.*?\]), {following}:", text, flags=re.S)
    try:
        params = json.loads(match.group(1)) if match else []
    except json.JSONDecodeError:
        return []
    return [p for p in params if isinstance(p, dict) and p.get("name")]


def toollens_specs(ev: ModuleType, data: Path) -> dict[str, ToolSpec]:
    """ToolLens tools (RapidAPI endpoints) as specs, keyed by corpus id."""
    specs: dict[str, ToolSpec] = {}
    seen: set[str] = set()
    lines = (data / "toollens" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        record = json.loads(line)
        text = record["text"]
        fields = ev._toollens_fields(text)
        name = f"{_slug(fields['tool_name'])}.{_slug(fields['api_name'])}"
        if name in seen:
            name = f"{name}_{record['_id']}"
        seen.add(name)
        properties = {}
        required = []
        for key, following, is_required in (
            ("required_params", "optional_params", True),
            ("optional_params", "return_schema", False),
        ):
            for param in _params(text, key, following):
                properties[str(param["name"])] = {"type": "string", "description": str(param.get("description") or "")}
                if is_required:
                    required.append(str(param["name"]))
        description = fields["api_description"]
        specs[record["_id"]] = ToolSpec(
            name=name,
            summary=_first_sentence(description),
            description=description,
            tags=[fields["category_name"]] if fields["category_name"] else [],
            input_schema={"type": "object", "properties": properties, "required": required},
        )
    return specs


def metatool_specs(data: Path) -> dict[str, ToolSpec]:
    """MetaTool plugins as specs, keyed by tool name."""
    descriptions = json.loads((data / "metatool" / "plugin_des.json").read_text(encoding="utf-8"))
    return {
        name: ToolSpec(name=_slug(name), summary=_first_sentence(text), description=text)
        for name, text in descriptions.items()
    }


def evaluate(
    ev: ModuleType, specs: dict[str, ToolSpec], queries: list[Query], mode: str, index: SearchIndex
) -> dict[str, float]:
    """Mean metrics (percent) of ``index`` over ``queries`` with the evaluator's ``score_ranking``."""
    index.add_many(list(specs.values()))
    key_of = {spec.name: key for key, spec in specs.items()}
    totals: dict[str, float] = {}
    halves = [0.0, 0.0]
    started = time.perf_counter()
    for i, (_, text, relevant) in enumerate(queries):
        ranked = [key_of[hit.name] for hit in index.search(text, 10, mode=mode)]  # type: ignore[arg-type]
        for metric, value in ev.score_ranking(ranked, relevant).items():
            totals[metric] = totals.get(metric, 0.0) + value
            if metric == "nDCG@10":
                halves[i % 2] += value
    elapsed = time.perf_counter() - started
    result = {metric: round(100 * value / len(queries), 2) for metric, value in totals.items()}
    result["nDCG@10 even"] = round(100 * halves[0] / max((len(queries) + 1) // 2, 1), 2)
    result["nDCG@10 odd"] = round(100 * halves[1] / max(len(queries) // 2, 1), 2)
    result["ms_per_query"] = round(1000 * elapsed / len(queries), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["toollens", "metatool-single", "all"], default="all")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the tool_retrieval folder")
    parser.add_argument("--max-queries", type=int, default=0, help="seeded random sample of queries (0 = all)")
    parser.add_argument("--semantic-weight", type=float, default=None, help="weight of the embedding ranking")
    parser.add_argument("--scoring", choices=["bm25f", "fields"], default="bm25f", help="how fields combine")
    parser.add_argument("--halves", action="store_true", help="also nDCG@10 over even and odd query indexes")
    parser.add_argument("--quick", action="store_true", help="smoke run: ToolLens, 300 sampled queries")
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.max_queries = "toollens", args.max_queries or 300

    ev = reference_evaluator(args.data)
    datasets = ["toollens", "metatool-single"] if args.dataset == "all" else [args.dataset]
    modes = ["bm25", "hybrid"] if semantic_available() else ["bm25"]
    columns = ["Recall@5", "nDCG@10", "Recall@10", "nDCG@5", "COMP@5"]
    print(f"| dataset | system | queries | {' | '.join(columns)} | ms/query |")
    print("|" + "---|" * (len(columns) + 4))
    for dataset in datasets:
        if dataset == "toollens":
            baseline_tools, queries = ev.load_toollens("name_desc")
            specs = toollens_specs(ev, args.data)
        else:
            baseline_tools, queries = ev.load_metatool("single", "name_desc")
            specs = metatool_specs(args.data)
        if args.max_queries and len(queries) > args.max_queries:
            queries = random.Random(0).sample(queries, args.max_queries)
        baseline = ev.evaluate(baseline_tools, queries, False, 1.5, 0.75)
        baseline["ms_per_query"] = baseline["median_query_ms"]
        rows: list[tuple[str, dict[str, float]]] = [("rank-bm25 name+description (reference)", baseline)]
        for mode in modes:
            options: dict[str, Any] = {"scoring": args.scoring}
            if args.semantic_weight is not None:
                options["semantic_weight"] = args.semantic_weight
            rows.append((f"toolnexus {mode}", evaluate(ev, specs, queries, mode, SearchIndex(**options))))
        for system, result in rows:
            delta = "" if system.startswith("rank") else f" ({result['nDCG@10'] - baseline['nDCG@10']:+.2f} nDCG@10)"
            shown = [f"{result[c]:.2f}" for c in columns]
            if args.halves and "nDCG@10 even" in result:  # beside nDCG@10: even / odd query indexes
                at = columns.index("nDCG@10")
                shown[at] += f" (even {result['nDCG@10 even']:.2f}, odd {result['nDCG@10 odd']:.2f})"
            cells = " | ".join(shown)
            print(f"| {dataset} | {system}{delta} | {len(queries)} | {cells} | {result['ms_per_query']} |")
    if "hybrid" not in modes:
        print("(the semantic extra is not installed: hybrid rows skipped)")


if __name__ == "__main__":
    main()
