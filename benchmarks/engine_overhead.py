"""Engine overhead: the same DAG of no-op steps run by toolnexus, Prefect 3 and Dask's local schedulers.

Four shapes of N steps (default 1,000): a chain, a wide fan-out (one root, N-1 children), 10 layers
(each node has two parents in the layer before) and chained diamonds. Each step does nothing, so
wall time / steps is what the engine costs per step. Also: compiling generated missions, and a warm
call through the process runtime.

    bash benchmarks/setup.sh && benchmarks/.venv/bin/python benchmarks/engine_overhead.py

Peers that are not installed are skipped, so ``python benchmarks/engine_overhead.py --quick`` with
the system Python is a smoke test of the toolnexus part.

**The floor.** Each toolnexus run of a shape is followed, in the same process and the same anyio loop, by a
run of the bare floor: a networkx ``DiGraph`` of the same DAG walked topologically by plain anyio — each ready
node a task that awaits a no-op coroutine under a ``CapacityLimiter`` of the same concurrency (64) and then
releases the dependents whose last parent it was. Runs are interleaved (toolnexus, floor, toolnexus, floor…)
and the table gives toolnexus ÷ floor per shape, min and median over the repetitions, wall and CPU time.

``--rules`` loads the 1,000 enforced rules of ``governance_overhead.py`` (two of them on ``bench.noop``), so the
governance gate decides every step; ``--audit off`` turns the audit log off (it is on by default, as in a
Nexus). Issue 19's targets: ≤ 1.5× the floor with ``--rules --audit off``, ≤ 2× with ``--rules``.

    PYTHONPATH=. python benchmarks/engine_overhead.py --only toolnexus --rules --audit off
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the process runtime's workers import `bench_tools:noop` from here
    sys.path.insert(0, str(HERE))

ENGINES = ("toolnexus", "dask", "prefect")
SHAPES = ("chain", "fanout", "layers", "diamonds")
TARGET_MS_PER_STEP = 0.3
TARGET_PREFECT_RATIO = 30.0
TARGET_COMPILE_1K_MS = 200.0
TARGET_COMPILE_10K_MS = 2000.0
TARGET_PROCESS_CALL_MS = 2.0
CONCURRENCY = 64


# -- the DAGs ----------------------------------------------------------------------------------------

Dag = list[tuple[str, list[str]]]
"""Steps in topological order, each with the ids of its parents."""


def chain(n: int) -> Dag:
    return [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(n)]


def fanout(n: int) -> Dag:
    return [("s0", []), *((f"s{i}", ["s0"]) for i in range(1, n))]


def layers(n: int, depth: int = 10) -> Dag:
    """``depth`` layers of n/depth; node j of a layer needs nodes j and j+1 of the layer before."""
    width = max(1, n // depth)
    dag: Dag = []
    for layer in range(depth):
        for j in range(width):
            parents = [] if layer == 0 else sorted({f"l{layer - 1}_{j}", f"l{layer - 1}_{(j + 1) % width}"})
            dag.append((f"l{layer}_{j}", parents))
    return dag


def diamonds(n: int) -> Dag:
    """top → (left, right) → bottom, each diamond's top needing the previous diamond's bottom."""
    dag: Dag = []
    previous: list[str] = []
    i = 0
    while len(dag) < n:
        top, left, right, bottom = (f"d{i}_{part}" for part in ("top", "left", "right", "bottom"))
        for step in ((top, previous), (left, [top]), (right, [top]), (bottom, [left, right])):
            if len(dag) < n:
                dag.append(step)
        previous = [bottom]
        i += 1
    return dag


BUILDERS: dict[str, Callable[[int], Dag]] = {"chain": chain, "fanout": fanout, "layers": layers,
                                             "diamonds": diamonds}


def mission_yaml(name: str, dag: Dag, *, deps: str = "needs", concurrency: int = CONCURRENCY) -> str:
    """Mission text for ``dag``; dependencies as ``needs:`` or as ``${{ steps.X.outputs }}`` references."""
    lines = [f"mission: {name}", f"concurrency: {concurrency}", "steps:"]
    for step_id, parents in dag:
        lines += [f"  - id: {step_id}", "    uses: bench.noop"]
        if not parents:
            continue
        if deps == "needs":
            lines.append(f"    needs: [{', '.join(parents)}]")
        else:
            refs = [f'"${{{{ steps.{p}.outputs }}}}"' for p in parents]
            lines.append(f"    with: {{after: {refs[0] if len(refs) == 1 else '[' + ', '.join(refs) + ']'}}}")
    return "\n".join(lines) + "\n"


# -- measuring ---------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall times (seconds) of the timed repetitions."""

    runs: list[float] = field(default_factory=list)
    settled: list[float] = field(default_factory=list)  # Prefect: until its background writes finish
    cpu: list[float] = field(default_factory=list)  # toolnexus: CPU time of this process (all its threads)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def settled_median(self) -> float | None:
        return statistics.median(self.settled) if self.settled else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- toolnexus ---------------------------------------------------------------------------------------


def floor_graph(dag: Dag) -> Any:
    """The networkx ``DiGraph`` of ``dag`` (parent → child edges)."""
    import networkx as nx

    graph = nx.DiGraph()
    for step_id, parents in dag:
        graph.add_node(step_id)
        graph.add_edges_from((parent, step_id) for parent in parents)
    return graph


async def _floor_noop() -> None:
    return None


async def run_floor(graph: Any, concurrency: int = CONCURRENCY) -> None:
    """The bare floor: walk ``graph`` topologically in one anyio loop, each ready node a task awaiting a no-op
    under a limiter of ``concurrency``, releasing its dependents as it finishes."""
    import anyio

    waiting = dict(graph.in_degree())
    limiter = anyio.CapacityLimiter(concurrency)
    async with anyio.create_task_group() as group:

        async def step(node: str) -> None:
            async with limiter:
                await _floor_noop()
            for child in graph.successors(node):
                waiting[child] -= 1
                if not waiting[child]:
                    group.start_soon(step, child)

        for node, parents in waiting.items():
            if not parents:
                group.start_soon(step, node)


class ToolnexusBench:
    def __init__(self, workspace: Path, *, rules: bool = False, audit: bool = True) -> None:
        import bench_tools

        import toolnexus
        from toolnexus.registry import spec_of

        # State store on (in the temporary workspace), MLflow tracking off: this measures the engine.
        overrides: dict[str, Any] = {"governance.audit": audit}
        if "tracking" in toolnexus.Settings.model_fields:
            overrides["tracking.enabled"] = False
        gate = None
        if rules:  # the 1,000 enforced rules of the governance benchmark: the gate decides every step
            from governance_overhead import dag_policy, gate_of

            gate = gate_of(dag_policy())
        self.nexus = toolnexus.Nexus(workspace, gate=gate, overrides=overrides)
        assert self.nexus.store is not None and getattr(self.nexus, "tracker", None) is None
        spec = spec_of(bench_tools.noop)
        assert spec is not None
        self.nexus.registry.register(spec)

    def close(self) -> None:
        self.nexus.close()

    def run_shape(self, name: str, dag: Dag, repeat: int, deps: str, floor: Timing | None = None) -> Timing:
        """Time ``repeat`` runs of ``dag`` (after a warm-up); with ``floor``, each followed by a run of the bare
        floor in the same loop, whose times go there."""
        import anyio

        plan = self.nexus.compile(mission_yaml(f"bench-{name}", dag, deps=deps))
        graph = floor_graph(dag) if floor is not None else None
        timing = Timing()

        async def floor_once() -> None:
            gc.collect()
            started, cpu = time.perf_counter(), time.process_time()
            await run_floor(graph)
            assert floor is not None
            floor.runs.append(time.perf_counter() - started)
            floor.cpu.append(time.process_time() - cpu)

        async def once() -> tuple[float, float]:
            gc.collect()
            started, cpu = time.perf_counter(), time.process_time()
            result = await self.nexus.arun(plan)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            if result.status.value != "succeeded":
                raise RuntimeError(f"toolnexus {name}: run {result.status.value}: {result.error}")
            return elapsed, cpu

        async def all_runs() -> None:
            await once()  # warm-up
            if floor is not None:
                await run_floor(graph)
            for _ in range(repeat):
                elapsed, cpu = await once()
                timing.runs.append(elapsed)
                timing.cpu.append(cpu)
                if floor is not None:
                    await floor_once()

        anyio.run(all_runs)
        return timing

    def compile_time(self, dag: Dag, repeat: int, deps: str) -> tuple[float, float]:
        """Median wall and CPU seconds of compiling the mission text of ``dag``."""
        text = mission_yaml("bench-compile", dag, deps=deps)
        self.nexus.compile(text)  # warm-up (imports, validator caches)
        walls, cpus = [], []
        for _ in range(repeat):
            cpu = time.process_time()
            walls.append(timed(lambda: self.nexus.compile(text)))
            cpus.append(time.process_time() - cpu)
        return statistics.median(walls), statistics.median(cpus)

    def process_calls(self, calls: int) -> list[float]:
        import anyio

        durations: list[float] = []

        async def go() -> None:
            first = await self.nexus.acall("bench.noop", runtime="process")  # starts a worker
            if not first.ok:
                raise RuntimeError(f"process runtime call failed: {first.error}")
            for _ in range(calls):
                started = time.perf_counter()
                result = await self.nexus.acall("bench.noop", runtime="process")
                durations.append(time.perf_counter() - started)
                if not result.ok:
                    raise RuntimeError(f"process runtime call failed: {result.error}")

        anyio.run(go)
        return durations


# -- Dask --------------------------------------------------------------------------------------------


def _dask_noop(*_: Any) -> None:
    return None


def dask_graph(dag: Dag) -> dict[str, Any]:
    return {step_id: (_dask_noop, *parents) for step_id, parents in dag}


def run_dask(dag: Dag, repeat: int, scheduler: str) -> Timing:
    import dask
    import dask.threaded

    graph = dask_graph(dag)
    keys = [step_id for step_id, _ in dag]
    get = dask.threaded.get if scheduler == "threads" else dask.get
    get(graph, keys)  # warm-up
    return Timing(runs=[timed(lambda: get(graph, keys)) for _ in range(repeat)])


# -- Prefect -----------------------------------------------------------------------------------------


class PrefectBench:
    """Prefect 3 flows of ``@task`` no-ops submitted with ``wait_for=``.

    With no ``PREFECT_API_URL`` Prefect starts a temporary local API server (a subprocess with its own
    SQLite database under a temporary ``PREFECT_HOME``). Task runs are orchestrated client-side and
    reported as events; after the flow returns, Prefect's events and log writers are still sending and
    the server is still recording task runs. "settled" is the time until (1) the client's event and log
    workers are drained and (2) the server reports every task run of the flow as Completed.
    """

    def __init__(self, home: Path, settle_timeout: float) -> None:
        os.environ.setdefault("PREFECT_HOME", str(home))
        # Per-task INFO lines to console and API would only add to Prefect's time; keep them out.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        self.settle_timeout = settle_timeout
        from prefect import flow, task
        from prefect.futures import wait
        from prefect.task_runners import ThreadPoolTaskRunner

        @task
        def noop() -> None:
            return None

        @flow(task_runner=ThreadPoolTaskRunner(max_workers=CONCURRENCY), log_prints=False)
        def dag_flow(dag: Dag) -> str:
            from prefect.context import get_run_context

            futures: dict[str, Any] = {}
            for step_id, parents in dag:
                futures[step_id] = noop.submit(wait_for=[futures[p] for p in parents])
            done, not_done = wait(list(futures.values()))
            failed = [f for f in done if not f.state.is_completed()]
            if not_done or failed:
                raise RuntimeError(f"{len(not_done)} unfinished, {len(failed)} failed task runs")
            return str(get_run_context().flow_run.id)

        self.flow = dag_flow

    def drain_client(self) -> None:
        import logging

        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for name in ("EventsWorker", "APILogWorker"):  # "Still processing items…": what we measure
            logging.getLogger(name).setLevel(logging.ERROR)
        EventsWorker.drain_all(timeout=self.settle_timeout, at_exit=False)
        APILogWorker.drain_all(timeout=self.settle_timeout, at_exit=False)

    def completed_task_runs(self, flow_run_id: str) -> int:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            response = client._client.post("/task_runs/count", json={
                "flow_runs": {"id": {"any_": [flow_run_id]}},
                "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
            })
            response.raise_for_status()
            return int(response.json())

    def run_once(self, dag: Dag) -> tuple[float, float | None]:
        gc.collect()
        started = time.perf_counter()
        flow_run_id = self.flow(dag)
        flow_time = time.perf_counter() - started
        self.drain_client()
        deadline = time.perf_counter() + self.settle_timeout
        while self.completed_task_runs(flow_run_id) < len(dag):
            if time.perf_counter() > deadline:
                return flow_time, None
            time.sleep(0.05)
        return flow_time, time.perf_counter() - started

    def run_shape(self, dag: Dag, repeat: int) -> Timing:
        self.run_once(dag)  # warm-up (the first flow also starts the temporary server)
        timing = Timing()
        for _ in range(repeat):
            flow_time, settled = self.run_once(dag)
            timing.runs.append(flow_time)
            if settled is None:
                timing.note = f"did not settle within {self.settle_timeout:g}s"
            else:
                timing.settled.append(settled)
        return timing


# -- report ------------------------------------------------------------------------------------------


def ms_per_step(seconds: float | None, steps: int) -> str:
    return "—" if seconds is None else f"{seconds / steps * 1000:.3f}"


def ratio(peer: float | None, ours: float | None) -> str:
    if peer is None or ours is None or ours == 0:
        return "—"
    r = peer / ours
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×" if r >= 1 else f"{r:.2f}×"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        # The first column reads left-aligned, the figures right-aligned.
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs)

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def check(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per DAG (default 1000; 100 with --quick)")
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions per engine and shape "
                        "(default 5; 1 with --quick); the median is reported after one warm-up run")
    parser.add_argument("--prefect-repeat", type=int, default=None,
                        help="repetitions for Prefect, which is slow (default: min(repeat, 3))")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated engines to run, of {', '.join(ENGINES)} "
                             "(default: all that are installed)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--calls", type=int, default=None, help="process-runtime calls to time (default 200)")
    parser.add_argument("--settle-timeout", type=float, default=300.0,
                        help="seconds to wait for Prefect's background writes to settle")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 steps, one repetition")
    parser.add_argument("--rules", action="store_true",
                        help="load 1,000 enforced rules (governance_overhead.py's): the gate decides every step")
    parser.add_argument("--audit", choices=("on", "off"), default="on",
                        help="the audit log (default on, as in a Nexus)")
    parser.add_argument("--no-micro", action="store_true",
                        help="skip the compile and process-runtime micro-benchmarks")
    args = parser.parse_args(argv)

    steps = args.steps or (100 if args.quick else 1000)
    repeat = args.repeat or (1 if args.quick else 5)
    prefect_repeat = args.prefect_repeat or min(repeat, 3)
    calls = max(50, args.calls or (50 if args.quick else 200))
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    for shape in shapes:
        if shape not in SHAPES:
            parser.error(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    wanted = [e.strip() for e in (args.only or ",".join(ENGINES)).split(",") if e.strip()]
    for engine in wanted:
        if engine not in ENGINES:
            parser.error(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    engines = []
    for engine in wanted:
        module = {"toolnexus": "toolnexus", "dask": "dask", "prefect": "prefect"}[engine]
        if available(module):
            engines.append(engine)
        else:
            print(f"skipping {engine}: `{module}` is not installed in {sys.executable} "
                  f"(run `bash benchmarks/setup.sh` and use benchmarks/.venv/bin/python)")
    if "toolnexus" not in engines:
        print("toolnexus is required (the ratios are relative to it)", file=sys.stderr)
        return 2

    dags = {shape: BUILDERS[shape](steps) for shape in shapes}
    results: dict[str, dict[str, Timing]] = {shape: {} for shape in shapes}
    floors: dict[str, Timing] = {shape: Timing() for shape in shapes}
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {steps} steps per DAG, median of "
          f"{repeat} (Prefect: {prefect_repeat}) after one warm-up; toolnexus concurrency "
          f"{CONCURRENCY}, state store on, tracking off, "
          f"{'1,000 enforce rules' if args.rules else 'no policy'}, audit {args.audit}")
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    with tempfile.TemporaryDirectory(prefix="toolnexus-bench-") as tmp:
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        bench = ToolnexusBench(workspace, rules=args.rules, audit=args.audit == "on")
        try:
            for shape in shapes:
                print(f"  toolnexus {shape} (and the floor, interleaved) …", flush=True)
                results[shape]["toolnexus"] = bench.run_shape(shape, dags[shape], repeat, "needs", floors[shape])
                results[shape]["toolnexus-refs"] = bench.run_shape(shape, dags[shape], repeat, "refs")
            micro = None
            if not args.no_micro:
                print("  toolnexus compile and process-runtime calls …", flush=True)
                micro = (bench.compile_time(layers(1000), max(3, repeat), "refs"),
                         bench.compile_time(layers(10_000), max(1, min(repeat, 3)), "refs"),
                         bench.process_calls(calls))
        finally:
            bench.close()

        if "dask" in engines:
            for shape in shapes:
                print(f"  dask {shape} …", flush=True)
                results[shape]["dask"] = run_dask(dags[shape], repeat, "threads")
                results[shape]["dask-sync"] = run_dask(dags[shape], repeat, "sync")

        if "prefect" in engines:  # last: its server and writers must not disturb the others
            prefect = PrefectBench(Path(tmp) / "prefect-home", args.settle_timeout)
            for shape in shapes:
                print(f"  prefect {shape} …", flush=True)
                results[shape]["prefect"] = prefect.run_shape(dags[shape], prefect_repeat)

    print()
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f} — other work on the machine skews "
          "the figures".format(*os.getloadavg()))
    print()
    print("Per-step overhead, ms (wall time of the whole DAG / steps; median)")
    headers = ["shape", "steps", "toolnexus", "tn cpu", "tn refs", "prefect", "prefect settled", "dask threads",
               "dask sync", "prefect/tn", "settled/tn", "dask/tn", "tn ≤ 0.3 ms"]
    rows = []
    misses = []
    for shape in shapes:
        n = len(dags[shape])
        r = results[shape]
        tn = r["toolnexus"].median
        tr = r["toolnexus-refs"].median
        pf = r["prefect"].median if "prefect" in r else None
        ps = r["prefect"].settled_median if "prefect" in r else None
        dt = r["dask"].median if "dask" in r else None
        ds = r["dask-sync"].median if "dask-sync" in r else None
        ok = max(tn, tr) / n * 1000 <= TARGET_MS_PER_STEP
        if not ok:
            misses.append(shape)
        rows.append([shape, str(n), ms_per_step(tn, n), ms_per_step(r["toolnexus"].cpu_median, n),
                     ms_per_step(tr, n), ms_per_step(pf, n),
                     ms_per_step(ps, n), ms_per_step(dt, n), ms_per_step(ds, n),
                     ratio(pf, tn), ratio(ps, tn), ratio(dt, tn), check(ok)])
    print_table(headers, rows)
    notes = [f"{shape}: prefect {r['prefect'].note}" for shape, r in results.items()
             if "prefect" in r and r["prefect"].note]
    for note in notes:
        print("  note:", note)
    print("  toolnexus: dependencies as `needs:` (the ratios use it); tn cpu: its CPU time (all threads of\n"
          "  the process: a figure other work on the machine disturbs less than wall time);\n"
          "  tn refs: dependencies as ${{ steps.X.outputs }}\n"
          "  arguments. prefect: the flow call's wall time; prefect settled: until its event and log\n"
          "  writers are drained and its server reports every task run Completed.\n"
          "  dask threads: dask.threaded.get; dask sync: dask.get (single thread).")
    if "prefect" in engines:
        below = [s for s in shapes if "prefect" in results[s]
                 and results[s]["prefect"].median / results[s]["toolnexus"].median < TARGET_PREFECT_RATIO]
        print(f"  target prefect/tn ≥ {TARGET_PREFECT_RATIO:g}×: "
              + (f"MISSED on {', '.join(below)}" if below else "ok on every shape"))

    print_floor_table(shapes, dags, results, floors)
    if micro is not None:
        print_micro(*micro)
    if misses:
        print(f"\ntoolnexus missed {TARGET_MS_PER_STEP} ms/step on: {', '.join(misses)}")
    return 0


def print_floor_table(shapes: list[str], dags: dict[str, Dag], results: dict[str, dict[str, Timing]],
                      floors: dict[str, Timing]) -> None:
    """toolnexus ÷ the bare networkx + anyio floor per shape: each run over the floor run that followed it."""
    print()
    print("toolnexus ÷ the bare networkx + anyio floor (runs interleaved; min and median of the per-run ratios)")
    rows = []
    for shape in shapes:
        ours, floor = results[shape]["toolnexus"], floors[shape]
        n = len(dags[shape])
        walls = [a / b for a, b in zip(ours.runs, floor.runs, strict=True)]
        cpus = [a / b for a, b in zip(ours.cpu, floor.cpu, strict=True)]
        rows.append([shape, str(n), f"{min(ours.runs) / n * 1e6:.0f}", f"{min(floor.runs) / n * 1e6:.0f}",
                     f"{min(walls):.2f}×", f"{statistics.median(walls):.2f}×", f"{min(cpus):.2f}×",
                     f"{statistics.median(cpus):.2f}×"])
    print_table(["shape", "steps", "tn µs/step (min)", "floor µs/step (min)", "wall min", "wall median",
                 "cpu min", "cpu median"], rows)
    print("  targets (issue 19): ≤ 1.5× with --rules --audit off; ≤ 2× with --rules (audit on)")


def print_micro(compile_1k: tuple[float, float], compile_10k: tuple[float, float], process: list[float]) -> None:
    """The compile and process-runtime micro-benchmarks."""
    print()
    print("toolnexus micro-benchmarks (median)")
    p50, p95 = statistics.median(process) * 1000, percentile(process, 0.95) * 1000
    print_table(["measure", "value", "target", ""], [
        ["compile 1,000-step mission (YAML text, layers, refs)", f"{compile_1k[0] * 1000:.1f} ms",
         f"≤ {TARGET_COMPILE_1K_MS:g} ms", check(compile_1k[0] * 1000 <= TARGET_COMPILE_1K_MS)],
        ["  its CPU time", f"{compile_1k[1] * 1000:.1f} ms", "", ""],
        ["compile 10,000-step mission (YAML text, layers, refs)", f"{compile_10k[0] * 1000:.0f} ms",
         f"≤ {TARGET_COMPILE_10K_MS:g} ms", check(compile_10k[0] * 1000 <= TARGET_COMPILE_10K_MS)],
        ["  its CPU time", f"{compile_10k[1] * 1000:.0f} ms", "", ""],
        [f"process-runtime no-op call, median of {len(process)}", f"{p50:.2f} ms",
         f"≤ {TARGET_PROCESS_CALL_MS:g} ms", check(p50 <= TARGET_PROCESS_CALL_MS)],
        [f"process-runtime no-op call, p95 of {len(process)}", f"{p95:.2f} ms", "", ""],
    ])


if __name__ == "__main__":
    sys.exit(main())
