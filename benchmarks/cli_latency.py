"""CLI latency: how long the ``toolnexus`` command takes to answer, beside the floor of its interpreter.

Each command runs as a subprocess of the installed console script (``toolnexus`` next to the chosen
interpreter; ``python -m toolnexus.cli`` if there is none) in a fresh temporary workspace holding a copy of
``missions/``, interleaved with the floor — ``python -c pass`` and ``python -c "import typer"`` of the same
interpreter — so that machine load hits both alike:

- ``--help``; ``validate missions/hello.yaml``; ``tools search csv``;
  ``call text.render -a 'template=hi {{name}}' -a 'data={"name":"x"}'``;
- ``run missions/hello.yaml`` with MLflow tracking on: the time until the prompt is back, and separately the
  time until the run is in MLflow — the tracking spool (``.toolnexus/tracking-spool/*.json``) empty and the
  workspace's MLflow store (SQLite, ``.toolnexus/mlflow.db``, read with ``sqlite3``) holding a run tagged
  ``toolnexus.run_id`` with the run's id; polled every 20 ms, up to ``--mlflow-timeout`` seconds.

One untimed round first (it creates the state store and the MLflow database, writes the bytecode cache and
warms the file cache), then ``--repeat`` rounds. Each row prints the min and median wall time, the min CPU time
of the child processes (user + system, from ``getrusage``: it moves less with load than wall time), the ratio of
the min to each floor's min (``× pass``, ``× typer``), the row's target and whether its median met it. The load
average is printed at the start and the end: the figures are only as quiet as the machine.

Usage::

    python benchmarks/cli_latency.py [--repeat 7] [--quick] [--python PATH] [--only help,validate,...]

Bytecode: by default the children cache it as an installed toolnexus does, in a fresh
``PYTHONPYCACHEPREFIX`` folder (written by the untimed round, nothing written into the checkout), even where
``PYTHONDONTWRITEBYTECODE`` is set. ``--bytecode env`` keeps the environment as it is instead: with
``PYTHONDONTWRITEBYTECODE=1`` and a checkout without ``__pycache__``, every command compiles toolnexus from source
(about 0.1–0.15 s more per command on a 2-core machine).

``--against DIR`` also measures the toolnexus of another source tree (say ``git archive <commit> | tar -x -C DIR``),
put first on ``PYTHONPATH``, taking turns with this one command by command; its rows are marked ``[against]`` and
the ratios of this tree to it are printed last.

``--quick`` is a smoke run (2 rounds, a 60 s MLflow timeout). ``--python`` chooses the interpreter whose
``toolnexus`` is measured (default: this one), so it works from any virtualenv; ``PYTHONPATH`` is passed on,
so ``PYTHONPATH=/path/to/checkout`` measures a checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# name → (arguments after `toolnexus`, target in seconds or None); the targets of issue 19
COMMANDS: dict[str, tuple[list[str], float | None]] = {
    "help": (["--help"], 0.3),
    "validate": (["validate", "missions/hello.yaml"], 0.5),
    "search": (["tools", "search", "csv"], 0.6),
    "call": (["call", "text.render", "-a", "template=hi {{name}}", "-a", 'data={"name":"x"}'], 1.0),
    "run": (["run", "missions/hello.yaml"], 1.5),  # the prompt back, tracking on
}
IN_MLFLOW_TARGET = 10.0  # seconds from the command's start until its run is in MLflow
FLOORS: dict[str, list[str]] = {"pass": ["-c", "pass"], "typer": ["-c", "import typer"]}
AGAINST = " [against]"  # the suffix of the rows of --against's tree
RUN_ID = re.compile(r"\brun (\S+) of \S+ in ")


@dataclass
class Samples:
    """The wall and CPU times of one row, one per round."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)


def children_cpu() -> float:
    """CPU seconds (user + system) of the waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``argv`` to completion: its wall time, its CPU time and the completed process (failures raise)."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, children_cpu() - cpu, done


def in_mlflow(workspace: Path, run_id: str) -> bool:
    """Whether the run has left the tracking spool and is in the workspace's MLflow store, tagged with its id."""
    state = workspace / ".toolnexus"
    if any((state / "tracking-spool").glob("*.json")):
        return False
    database = state / "mlflow.db"
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute("SELECT COUNT(*) FROM tags WHERE key = 'toolnexus.run_id' AND value = ?",
                             (run_id,)).fetchone()
    except sqlite3.Error:  # not created yet, or locked by the writer this instant
        return False
    return bool(row and row[0])


def wait_for_mlflow(workspace: Path, run_id: str, started: float, timeout: float) -> float:
    """Seconds from ``started`` until the run is in MLflow (``inf`` past ``timeout``)."""
    while not in_mlflow(workspace, run_id):
        if time.perf_counter() - started > timeout:
            return float("inf")
        time.sleep(0.02)
    return time.perf_counter() - started


def command_line(python: str) -> list[str]:
    """The ``toolnexus`` console script beside ``python`` (not resolved: a virtualenv's ``bin``), else ``-m``."""
    script = Path(python).parent / "toolnexus"
    return [str(script)] if script.exists() else [python, "-m", "toolnexus.cli"]


@dataclass(frozen=True)
class Tree:
    """A toolnexus measured: its rows' suffix, its children's environment and its workspace."""

    label: str
    env: dict[str, str]
    workspace: Path


def one_round(python: str, toolnexus: list[str], names: list[str], trees: list[Tree], mlflow_timeout: float,
              rows: dict[str, Samples]) -> None:
    """Each floor, then each command once per tree (taking turns), the times added to ``rows``."""
    for args in FLOORS.values():
        wall, cpu, _ = timed([python, *args], trees[0].workspace, trees[0].env)
        rows[f"floor: python {' '.join(args)}"].add(wall, cpu)
    for name in names:
        for tree in trees:
            run_command(toolnexus, name, tree, mlflow_timeout, rows)


def run_command(toolnexus: list[str], name: str, tree: Tree, mlflow_timeout: float, rows: dict[str, Samples]) -> None:
    """Command ``name`` once in ``tree``; for ``run``, also the time until the run is in MLflow."""
    args, _ = COMMANDS[name]
    started = time.perf_counter()
    wall, cpu, done = timed([*toolnexus, *args], tree.workspace, tree.env)
    rows[name + tree.label].add(wall, cpu)
    if name == "run":
        found = RUN_ID.search(done.stderr)
        if found is None:
            raise SystemExit(f"no run id in the output of toolnexus run:\n{done.stderr}")
        rows["run → in MLflow" + tree.label].add(
            wait_for_mlflow(tree.workspace, found.group(1), started, mlflow_timeout), 0.0)


def verdict(median: float, low: float, target: float | None) -> str:
    """Whether a row met its target: by its median, or by its min only (a loaded machine), or not."""
    if target is None:
        return "—"
    if median <= target:
        return "met"
    return "met by min only" if low <= target else "NOT met"


def print_table(rows: dict[str, Samples], floor_pass: float, floor_typer: float) -> None:
    """One line per row: min and median wall, min CPU, ratios to the floors (min), target, verdict."""
    header = (f"{'row':30} {'min s':>7} {'median s':>9} {'cpu min s':>9} {'× pass':>7} {'× typer':>8} "
              f"{'target s':>8}  result")
    print(header)
    print("-" * len(header))
    for name, samples in rows.items():
        if not samples.wall:
            continue
        low, median = min(samples.wall), statistics.median(samples.wall)
        command = name.removesuffix(AGAINST)
        target = COMMANDS[command][1] if command in COMMANDS else (
            IN_MLFLOW_TARGET if command == "run → in MLflow" else None)
        cpu = f"{min(samples.cpu):9.3f}" if any(samples.cpu) else f"{'':>9}"
        shown = f"{target:8.2f}" if target is not None else f"{'—':>8}"
        print(f"{name:30} {low:7.3f} {median:9.3f} {cpu} {low / floor_pass:7.1f} {low / floor_typer:8.1f} "
              f"{shown}  {verdict(median, low, target)}")


def main() -> None:
    """Measure, interleaved with the floor, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds, 60 s MLflow timeout")
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose toolnexus is measured")
    parser.add_argument("--only", default=",".join(COMMANDS), help=f"commands, of {','.join(COMMANDS)}")
    parser.add_argument("--mlflow-timeout", type=float, default=180.0, help="seconds to wait for MLflow per run")
    parser.add_argument("--bytecode", choices=("cached", "env"), default="cached",
                        help="cached: a fresh PYTHONPYCACHEPREFIX the untimed round fills (default); env: as set")
    parser.add_argument("--against", type=Path, help="also measure the toolnexus of this source tree (put first on "
                        "PYTHONPATH), taking turns with this one: rows marked [against], and the ratios")
    options = parser.parse_args()
    repeat, mlflow_timeout = (2, 60.0) if options.quick else (options.repeat, options.mlflow_timeout)
    names = [n.strip() for n in options.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in COMMANDS]
    if unknown:
        parser.error(f"unknown command(s) {', '.join(unknown)}; use {', '.join(COMMANDS)}")
    toolnexus = command_line(options.python)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the workspace's own store
    env.update({"COLUMNS": "100", "TOOLNEXUS_TRACKING__ENABLED": "true"})
    with tempfile.TemporaryDirectory(prefix="tn-cli-bench-") as folder:
        if options.bytecode == "cached":
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
        trees = [make_tree("", env, Path(folder) / "workspace")]
        if options.against is not None:
            against = {**env, "PYTHONPATH": os.pathsep.join(
                p for p in (str(options.against.resolve()), env.get("PYTHONPATH")) if p)}
            trees.append(make_tree(AGAINST, against, Path(folder) / "workspace-against"))
        print(f"interpreter: {options.python}\ncommand: {' '.join(toolnexus)}\n"
              f"PYTHONPATH: {env.get('PYTHONPATH', '')}\nbytecode: {options.bytecode} "
              f"(PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', '')!r}, "
              f"PYTHONPYCACHEPREFIX={env.get('PYTHONPYCACHEPREFIX', '')!r})")
        if options.against is not None:
            print(f"against: {trees[1].env['PYTHONPATH']} (rows marked{AGAINST})")
        rows = measure(options.python, toolnexus, names, trees, repeat, mlflow_timeout)
    floor_pass, floor_typer = (min(rows[f"floor: python {' '.join(a)}"].wall) for a in FLOORS.values())
    print()
    print_table(rows, floor_pass, floor_typer)
    if options.against is not None:
        print_ratios(rows)
    print(f"\nratios are of the min to the floor's min; a target is met by the median. "
          f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def make_tree(label: str, env: dict[str, str], workspace: Path) -> Tree:
    """A tree measured in ``workspace``, a fresh folder holding a copy of ``missions/``."""
    shutil.copytree(REPO / "missions", workspace / "missions")
    return Tree(label, env, workspace)


def measure(python: str, toolnexus: list[str], names: list[str], trees: list[Tree], repeat: int,
            mlflow_timeout: float) -> dict[str, Samples]:
    """One untimed round, then ``repeat`` timed rounds: the samples of each row."""
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {repeat} rounds after one "
          "untimed round")
    rows: dict[str, Samples] = {f"floor: python {' '.join(a)}": Samples() for a in FLOORS.values()}
    for name in [*names, *(["run → in MLflow"] if "run" in names else [])]:
        rows.update({name + tree.label: Samples() for tree in trees})
    one_round(python, toolnexus, names, trees, mlflow_timeout,
              {name: Samples() for name in rows})  # untimed: creates the stores and the bytecode, warms the files
    for _ in range(repeat):
        one_round(python, toolnexus, names, trees, mlflow_timeout, rows)
    return rows


def print_ratios(rows: dict[str, Samples]) -> None:
    """This tree's figures over those of the tree ``--against`` named: min and median wall, min CPU."""
    print(f"\n{'this tree / against':30} {'min':>7} {'median':>9} {'cpu min':>9}")
    for name, samples in rows.items():
        other = rows.get(name + AGAINST)
        if other is None or not samples.wall or not other.wall:
            continue
        cpu = f"{min(samples.cpu) / min(other.cpu):9.2f}" if min(other.cpu) else f"{'':>9}"
        print(f"{name:30} {min(samples.wall) / min(other.wall):7.2f} "
              f"{statistics.median(samples.wall) / statistics.median(other.wall):9.2f} {cpu}")


if __name__ == "__main__":
    main()
