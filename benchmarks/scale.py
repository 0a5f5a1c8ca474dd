"""Scale: what toolnexus costs as a mission grows from 1,000 to 100,000 steps, next to the floors.

For each size N (default 1,000, 10,000 and 100,000), in a fresh subprocess per measure (so that the
peak resident memory of one measure is not another's):

- **load+compile**: ``nexus.compile(text)`` of an N-step mission (YAML text to Plan); floors: a bare
  ``ruamel.yaml`` safe load of the same text, PyYAML's ``CSafeLoader`` (libyaml's C loader, when PyYAML
  is installed: a benchmark-only peer) and a bare networkx ``DiGraph`` of the same DAG with a
  topological sort;
- **validate**: the CLI, ``python -m toolnexus.cli validate FILE`` (start-up included), its wall time,
  CPU time and peak RSS from ``os.wait4``; floor: the CLI's start-up, ``python -m toolnexus.cli --version``;
- **run**: ``nexus.run(plan)`` of the compiled mission (in-process no-op tool, state store on in a
  temporary workspace, tracking off), as wall and CPU time per step; floor: a bare anyio loop of N
  no-op awaits;
- **foreach**: one step with ``foreach:`` over N items (the in-process no-op tool, one call per
  item), the items given as an input; floor: the same bare anyio loop.

Each measure runs ``--repeat`` times, interleaved with its floors (ours, floor, ours, floor…), and
the table gives the min and median wall time, the median CPU time (which other work on the machine
moves less), the median peak RSS, and the ratio of ours to the floor (median CPU). The machine's
load average is printed at the start and the end.

    PYTHONPATH=. python benchmarks/scale.py                # 1k, 10k, 100k; several minutes
    PYTHONPATH=. python benchmarks/scale.py --quick        # a smoke run: 1,000 steps, one repetition
    PYTHONPATH=. python benchmarks/scale.py --sizes 10000 --measures compile,validate --shape chain
    PYTHONPATH=. python benchmarks/scale.py --phases --sizes 100000   # where a compile's CPU time goes

``--phases`` prints, instead of the table, the CPU time of each phase of compiling the N-step mission (the
parser's bare events, which are the floor of loading its YAML; the loader; the Mission model; each part of
the compile, the plan hash apart), median and min of ``--repeat`` fresh processes.

The missions are the shapes of ``engine_overhead.py`` (``--shape``: layers by default; chain, fanout,
diamonds), dependencies written as ``needs:``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from engine_overhead import BUILDERS, Dag, mission_yaml, print_table  # noqa: E402

MEASURES = ("compile", "validate", "run", "foreach")
TARGETS = {  # issue 19, at 100,000 steps or items
    "compile": "≤ 1.5 s, ≤ 300 MB",
    "validate": "≤ 2 s, ≤ 300 MB",
    "foreach": "≤ 3 s, ≤ 200 MB",
    "run": "per step flat from 1k",
}
FOREACH_MISSION = """mission: scale-foreach
concurrency: 64
inputs:
  items: {type: array}
steps:
  - id: each
    uses: bench.noop
    foreach: ${{ inputs.items }}
    with: {after: "${{ item }}"}
"""


# -- the measures, each run in a child process --------------------------------------------------------


def _rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _nexus(workspace: Path, store: bool) -> Any:
    import bench_tools

    import toolnexus
    from toolnexus.registry import spec_of

    overrides = {"tracking.enabled": False} if "tracking" in toolnexus.Settings.model_fields else None
    nexus = toolnexus.Nexus(workspace, store=store, overrides=overrides)
    spec = spec_of(bench_tools.noop)
    assert spec is not None
    nexus.registry.register(spec)
    return nexus


def _timed(fn: Callable[[], Any]) -> dict[str, float]:
    before = _rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "rss": _rss_mb(),
            "rss_before": before}


def child_compile(text: str, _: Dag, workspace: Path) -> dict[str, float]:
    nexus = _nexus(workspace, store=False)
    return _timed(lambda: nexus.compile(text))


def child_ruamel(text: str, _: Dag, __: Path) -> dict[str, float]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")  # the C loader where it is built, as toolnexus uses ruamel's C parser
    return _timed(lambda: yaml.load(text))


def child_networkx(_: str, dag: Dag, __: Path) -> dict[str, float]:
    import networkx as nx

    def build() -> None:
        graph = nx.DiGraph()
        for step_id, parents in dag:
            graph.add_node(step_id)
            graph.add_edges_from((p, step_id) for p in parents)
        list(nx.topological_sort(graph))

    return _timed(build)


def child_run(text: str, dag: Dag, workspace: Path) -> dict[str, float]:
    nexus = _nexus(workspace, store=True)
    plan = nexus.compile(text)
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["result"] = nexus.run(plan)

    figures = _timed(run)
    if outcome["result"].status.value != "succeeded":
        raise SystemExit(f"run {outcome['result'].status.value}: {outcome['result'].error}")
    nexus.close()
    return figures


def child_foreach(_: str, dag: Dag, workspace: Path) -> dict[str, float]:
    nexus = _nexus(workspace, store=True)
    plan = nexus.compile(FOREACH_MISSION)
    items = list(range(len(dag)))
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["result"] = nexus.run(plan, {"items": items})

    figures = _timed(run)
    result = outcome["result"]
    if result.status.value != "succeeded":
        raise SystemExit(f"foreach run {result.status.value}: {result.error}")
    nexus.close()
    return figures


def child_awaits(_: str, dag: Dag, __: Path) -> dict[str, float]:
    import anyio
    import anyio.lowlevel

    async def noop() -> None:
        return None

    async def loop() -> None:
        for _ in range(len(dag)):
            await noop()
            await anyio.lowlevel.checkpoint()  # one trip round the event loop, as a step takes

    return _timed(lambda: anyio.run(loop))


def child_pyyaml(text: str, _: Dag, __: Path) -> dict[str, float]:
    import yaml  # PyYAML, a benchmark-only peer: libyaml's C loader, the fastest YAML load in Python

    return _timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader))


def child_phases(text: str, _: Dag, workspace: Path) -> dict[str, float]:
    """CPU time of each phase of ``nexus.compile(text)``, one after the other, the collector paused as a compile
    pauses it; and the parser's bare events (every event the C parser makes, dropped), the floor of the load."""
    from ruamel.yaml.events import StreamEndEvent

    from toolnexus.core.yamlpos import load_yaml
    from toolnexus.core.yamlpos.resolver import _yaml
    from toolnexus.mission.compiler.order import order_steps
    from toolnexus.mission.compiler.steps import StepCompiler, plan_hash
    from toolnexus.mission.gcpause import paused_gc
    from toolnexus.mission.loader import parse_mission
    from toolnexus.mission.model import Mission

    nexus = _nexus(workspace, store=False)
    figures: dict[str, float] = {}

    def timed(phase: str, fn: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = fn()
        figures[phase] = time.process_time() - started
        return result

    def events() -> None:
        parser = _yaml().get_constructor_parser(text)[1]
        get_event = parser.get_event
        while type(get_event()) is not StreamEndEvent:
            pass
        parser.dispose()

    with paused_gc():
        timed("parser events (floor)", events)
        data = timed("YAML to data (load_yaml)", lambda: load_yaml(text, None, [])[0])
        timed("Mission model", partial(Mission.model_validate, data))
        del data  # (freed before the load that follows, as a compile never holds both)
        loaded = timed("load: all (parse_mission)", lambda: parse_mission(text, None))
        compiler = StepCompiler(loaded, nexus.registry.get, nexus.runtimes, nexus.settings.min_runtime())
        timed("compile: index the steps", lambda: (compiler._index_steps(), compiler._check_input_defaults()))
        compiled = timed("compile: the steps", lambda: [(i, compiler.compile_step(i, s)) for i, s in loaded.steps])
        ordered = timed("compile: order", lambda: order_steps(compiled, compiler.error))
        compiler._release_indexes()
        plan = timed("compile: the plan (hash included)", lambda: compiler.finish(ordered))
        timed("  of which the plan hash", lambda: plan_hash(plan))
    figures["compile: all"] = sum(v for k, v in figures.items() if k.startswith("compile: "))
    return figures


def _has_libyaml() -> bool:
    """Whether PyYAML is installed with its libyaml C loader (its floor is skipped otherwise)."""
    if importlib.util.find_spec("yaml") is None:
        return False
    import yaml

    return bool(getattr(yaml, "__with_libyaml__", False))


CHILDREN: dict[str, Callable[[str, Dag, Path], dict[str, float]]] = {
    "compile": child_compile, "ruamel": child_ruamel, "pyyaml": child_pyyaml, "networkx": child_networkx,
    "run": child_run, "foreach": child_foreach, "awaits": child_awaits, "phases": child_phases,
}


def child_main(measure: str, shape: str, size: int, file: Path) -> None:
    workspace = Path(tempfile.mkdtemp(prefix="toolnexus-scale-"))
    if os.environ.get("TOOLNEXUS_SCALE_FREEZE", "1") == "1":
        # A one-shot process, as `toolnexus run` is: a large compile may freeze what it made (mission.gcpause).
        # TOOLNEXUS_SCALE_FREEZE=0 measures a long-lived process (a kernel, a server), which never freezes.
        from toolnexus.mission.gcpause import allow_freezing

        allow_freezing()
    if os.environ.get("TOOLNEXUS_SCALE_GC", "1") == "0":
        # A diagnostic, not a setting: what the cyclic garbage collector's full collections over the run's
        # growing state cost a step at this size (the rest of the per-step cost is then size-independent).
        gc.disable()
    figures = CHILDREN[measure](file.read_text(), BUILDERS[shape](size), workspace)
    print(json.dumps(figures))


# -- the parent: runs the children, interleaved, and prints the table --------------------------------


@dataclass
class Samples:
    """The figures of one measure's repetitions."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    rss_before: list[float] = field(default_factory=list)

    def add(self, figures: dict[str, float]) -> None:
        self.wall.append(figures["wall"])
        self.cpu.append(figures["cpu"])
        self.rss.append(figures["rss"])
        self.rss_before.append(figures.get("rss_before", 0.0))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    return env


def run_child(measure: str, shape: str, size: int, file: Path) -> dict[str, float]:
    """One measure in a fresh interpreter; its figures."""
    out = subprocess.run([sys.executable, __file__, "--child", measure, "--shape", shape, "--sizes", str(size),
                          "--file", str(file)], capture_output=True, text=True, env=_env(), check=False)
    if out.returncode != 0:
        raise SystemExit(f"{measure} at {size} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cli(args: list[str], workspace: Path) -> dict[str, float]:
    """The CLI in a fresh process: wall time, and its CPU time and peak RSS as the kernel counts them."""
    # stderr to a file, not a pipe: waiting (wait4) on a CLI that writes more than a pipe holds (a
    # mission with thousands of problems) would wait forever.
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "toolnexus.cli", *args], cwd=workspace, env=_env(),
                                   stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"toolnexus {' '.join(args)} failed:\n{stderr[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_step(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:.1f} µs"


def ratio(ours: float, floor: float) -> str:
    if floor <= 0:
        return "—"
    r = ours / floor
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×"


@dataclass
class Row:
    """One line of the table: a measure at a size, with its floor."""

    size: int
    measure: str
    ours: Samples
    floor_name: str = ""
    floor: Samples | None = None
    per_step: bool = False


def measure_size(size: int, shape: str, measures: list[str], repeat: int, tmp: Path) -> list[Row]:
    """Every measure at one size, each interleaved with its floors."""
    file = tmp / f"{shape}-{size}.yaml"
    file.write_text(mission_yaml(f"scale-{shape}", BUILDERS[shape](size)))
    workspace = tmp / "workspace"
    workspace.mkdir(exist_ok=True)
    (workspace / "toolnexus.toml").write_text('[tools]\nmodules = ["bench_tools"]\n\n[tracking]\nenabled = false\n')
    rows: list[Row] = []
    plans: dict[str, list[tuple[str, Callable[[], dict[str, float]]]]] = {
        "compile": [("ours", lambda: run_child("compile", shape, size, file)),
                    ("ruamel.yaml safe load", lambda: run_child("ruamel", shape, size, file)),
                    *([("PyYAML CSafeLoader (libyaml)", lambda: run_child("pyyaml", shape, size, file))]
                      if _has_libyaml() else []),
                    ("networkx DiGraph + topological sort", lambda: run_child("networkx", shape, size, file))],
        "validate": [("ours", lambda: run_cli(["validate", str(file), "-w", str(workspace)], workspace)),
                     ("CLI start-up (--version)", lambda: run_cli(["--version"], workspace))],
        "run": [("ours", lambda: run_child("run", shape, size, file)),
                ("anyio loop of N no-op awaits", lambda: run_child("awaits", shape, size, file))],
        "foreach": [("ours", lambda: run_child("foreach", shape, size, file)),
                    ("anyio loop of N no-op awaits", lambda: run_child("awaits", shape, size, file))],
    }
    for measure in measures:
        print(f"  {measure} at {size:,} …", flush=True)
        samples = {name: Samples() for name, _ in plans[measure]}
        for _ in range(repeat):
            for name, fn in plans[measure]:
                samples[name].add(fn())
        ours = samples.pop("ours")
        per_step = measure in ("run", "foreach")
        if not samples:
            rows.append(Row(size, measure, ours, per_step=per_step))
        for floor_name, floor in samples.items():
            rows.append(Row(size, measure, ours, floor_name, floor, per_step))
    return rows


def _grown(samples: Samples) -> list[float]:
    """How much each repetition's peak RSS grew during the measure (over what the imports took)."""
    return [peak - before for peak, before in zip(samples.rss, samples.rss_before, strict=True)]


def table(rows: list[Row]) -> None:
    headers = ["size", "measure", "wall min", "wall median", "cpu median", "per step (cpu)", "peak RSS", "RSS Δ",
               "floor", "floor wall", "floor cpu", "floor RSS", "cpu ratio"]
    lines = []
    for row in rows:
        o, f = row.ours, row.floor
        cpu = statistics.median(o.cpu)
        lines.append([
            f"{row.size:,}", row.measure, fmt_s(min(o.wall)), fmt_s(statistics.median(o.wall)), fmt_s(cpu),
            fmt_step(cpu, row.size) if row.per_step else "", f"{statistics.median(o.rss):.0f} MB",
            f"{statistics.median(_grown(o)):.0f} MB" if any(o.rss_before) else "",
            row.floor_name, fmt_s(statistics.median(f.wall)) if f else "", fmt_s(statistics.median(f.cpu)) if f else "",
            f"{statistics.median(f.rss):.0f} MB" if f else "",
            ratio(cpu, statistics.median(f.cpu)) if f else "",
        ])
    print_table(headers, lines)


def phases(sizes: list[int], shape: str, repeat: int, tmp: Path) -> None:
    """Print the CPU time of each phase of a compile at each size (median and min of ``repeat`` processes)."""
    for size in sizes:
        file = tmp / f"{shape}-{size}.yaml"
        file.write_text(mission_yaml(f"scale-{shape}", BUILDERS[shape](size)))
        print(f"  phases at {size:,} …", flush=True)
        runs = [run_child("phases", shape, size, file) for _ in range(repeat)]
        print()
        print_table([f"{size:,} steps: phase", "cpu median", "cpu min"],
                    [[phase, fmt_s(statistics.median(r[phase] for r in runs)), fmt_s(min(r[phase] for r in runs))]
                     for phase in runs[0]])
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated step counts (default 1000,10000,100000)")
    parser.add_argument("--measures", default=",".join(MEASURES), help=f"comma-separated, of {', '.join(MEASURES)}")
    parser.add_argument("--shape", default="layers", choices=sorted(BUILDERS), help="the DAG's shape")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions of each measure (default 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1,000 steps, one repetition")
    parser.add_argument("--phases", action="store_true", help="where a compile's CPU time goes, phase by phase")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child_main(args.child, args.shape, int(args.sizes), Path(args.file))
        return 0
    sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else "1000,10000,100000")).split(",")]
    measures = [m.strip() for m in args.measures.split(",") if m.strip()]
    for measure in measures:
        if measure not in MEASURES:
            parser.error(f"unknown measure {measure!r}; choose from {', '.join(MEASURES)}")
    repeat = args.repeat or (1 if args.quick else 3)

    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; shape {args.shape}; {repeat} repetition(s), "
          "each measure in a fresh process, interleaved with its floors")
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="toolnexus-scale-") as tmp:
        if args.phases:
            phases(sizes, args.shape, repeat, Path(tmp))
        else:
            for size in sizes:
                rows += measure_size(size, args.shape, measures, repeat, Path(tmp))
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f} — other work on the machine skews "
          "the wall times".format(*os.getloadavg()))
    if args.phases:
        return 0
    print()
    table(rows)
    print("\n  peak RSS: the whole process's (interpreter and imports included); RSS Δ: its growth during the\n"
          "  measure (compile, run, foreach, floors). cpu ratio: ours / floor, median CPU time. run, foreach:\n"
          "  per step is per step or per item. Targets at 100,000 (issue 19): "
          + "; ".join(f"{k}: {v}" for k, v in TARGETS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
