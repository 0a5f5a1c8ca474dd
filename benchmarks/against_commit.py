"""This tree against another commit, in one run: the engine-overhead and MCP-throughput benchmarks.

The same benchmark scripts (this tree's) run against each tree's ``toolnexus`` (put first on
``PYTHONPATH``), taking turns round after round so that what else the machine does weighs alike on both.
Each figure is the median over the rounds; the last column says whether this tree is slower beyond the
noise margin (default 10 %).

    python benchmarks/against_commit.py HEAD~1              # both benchmarks, 3 rounds
    python benchmarks/against_commit.py 1d28f11 --bench engine --rounds 5

The other commit is checked out into a temporary git worktree and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHAPES = ("chain", "fanout", "layers", "diamonds")


@dataclass(frozen=True)
class Bench:
    """A benchmark script, its arguments, and how to read its figures from what it prints."""

    script: str
    args: tuple[str, ...]
    parse: Callable[[str], dict[str, float]]


def parse_engine(text: str) -> dict[str, float]:
    """Per-step wall and CPU ms of each DAG shape, and the compile and process-call micro-benchmarks."""
    figures: dict[str, float] = {}
    for shape, wall, cpu, refs in re.findall(
            rf"^({'|'.join(SHAPES)})\s+\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text, flags=re.MULTILINE):
        figures[f"engine {shape}: ms/step"] = float(wall)
        figures[f"engine {shape}: CPU ms/step"] = float(cpu)
        figures[f"engine {shape} (refs): ms/step"] = float(refs)
    for label, value, unit in re.findall(r"^(compile [\d,]+-step mission|process-runtime no-op call, median)"
                                         r"[^\d]*?(?:of \d+)?\s+([\d.]+) (ms|s)\b", text, flags=re.MULTILINE):
        figures[f"{label} ms"] = float(value) * (1000 if unit == "s" else 1)
    return figures


def parse_mcp(text: str) -> dict[str, float]:
    """req/s, p50 and server CPU per call of each server and concurrency, and toolnexus's ratios to the plain
    SDK server of the same round (which the machine's other work disturbs less than the raw figures)."""
    rows = re.findall(r"^(plain SDK \(uvicorn\)|toolnexus \(jupyter-server\))\s+(\d+)\s+\d+\s+([\d.]+)\s+([\d.]+)"
                      r"\s+[\d.]+\s+([\d.]+)", text, flags=re.MULTILINE)
    figures: dict[str, float] = {}
    by_key: dict[tuple[str, str], tuple[float, float, float]] = {}
    for server, clients, rps, p50, cpu in rows:
        name = "toolnexus" if server.startswith("toolnexus") else "plain"
        by_key[(name, clients)] = (float(rps), float(p50), float(cpu))
        if name == "toolnexus":
            figures[f"mcp {clients} client(s): req/s"] = float(rps)
            figures[f"mcp {clients} client(s): p50 ms"] = float(p50)
            figures[f"mcp {clients} client(s): server CPU ms/call"] = float(cpu)
    for (name, clients), (rps, _, _) in by_key.items():
        plain = by_key.get(("plain", clients))
        if name == "toolnexus" and plain:
            figures[f"mcp {clients} client(s): req/s ÷ plain SDK's"] = rps / plain[0]
    return figures


BENCHES = {
    "engine": Bench("engine_overhead.py", ("--only", "toolnexus", "--steps", "300", "--repeat", "3"), parse_engine),
    "mcp": Bench("mcp_throughput.py", ("--only", "plain,toolnexus", "--rounds", "1", "--seconds", "2"), parse_mcp),
}
HIGHER_IS_BETTER = ("req/s",)


def run_once(bench: Bench, tree: Path) -> dict[str, float]:
    """One run of ``bench`` with ``tree``'s toolnexus first on the import path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(HERE)])}
    done = subprocess.run([sys.executable, str(HERE / bench.script), *bench.args], env=env, cwd=tree,
                          capture_output=True, text=True, timeout=1800, check=False)
    figures = bench.parse(done.stdout)
    if not figures:
        raise SystemExit(f"{bench.script} against {tree} printed no figures (exit {done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return figures


def compare(name: str, base: list[dict[str, float]], this: list[dict[str, float]], margin: float) -> bool:
    """Print the median of each figure for both trees and their ratio; True when nothing regressed."""
    print(f"\n{name}: median of {len(this)} round(s)")
    print(f"{'figure':<48} {'base':>10} {'this':>10} {'this/base':>10}")
    ok = True
    for figure in base[0]:
        before = statistics.median(run[figure] for run in base if figure in run)
        after = statistics.median(run[figure] for run in this if figure in run)
        ratio = after / before if before else float("nan")
        worse = ratio < 1 - margin if any(h in figure for h in HIGHER_IS_BETTER) else ratio > 1 + margin
        ok &= not worse
        print(f"{figure:<48} {before:>10.3f} {after:>10.3f} {ratio:>9.2f}× {'SLOWER' if worse else ''}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Check out ``ref`` into a worktree, run the benchmarks alternately on both trees, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", help="the commit to compare against (e.g. HEAD~1)")
    parser.add_argument("--bench", choices=[*BENCHES, "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each benchmark on each tree (default 3)")
    parser.add_argument("--margin", type=float, default=0.10, help="noise margin (default 0.10: 10 %%)")
    args = parser.parse_args(argv)
    names = list(BENCHES) if args.bench == "both" else [args.bench]
    sha = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="toolnexus-base-") as tmp:
        base_tree = Path(tmp) / sha
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(base_tree), sha], cwd=ROOT, check=True)
        try:
            results = {name: ([], []) for name in names}
            for round_no in range(args.rounds):
                for name in names:
                    print(f"round {round_no + 1}/{args.rounds}: {name} …", flush=True)
                    base_runs, this_runs = results[name]
                    base_runs.append(run_once(BENCHES[name], base_tree))
                    this_runs.append(run_once(BENCHES[name], ROOT))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)
    print(f"\nthis tree ({ROOT}) against {args.ref} ({sha}); load average now "
          "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    ok = all([compare(name, *results[name], args.margin) for name in names])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
