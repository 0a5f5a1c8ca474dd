"""Live run view overhead: the engine benchmark's 1,000-step no-op DAGs run with and without the notebook's
live run view attached, in one process, alternating, and the ratio of the medians printed.

The view is what ``tn.run`` shows in a notebook once ``toolnexus.notebook.runview.install`` ran: an event sink
that updates its model per event and renders its HTML at most 10 times a second. Without a kernel the
widgets' comms have no listener (nothing is sent), so this measures the view's own work: the model, the
throttle and the rendering. Target: ≤ 1.10 (the view costs at most 10 % of a run's time).

    /tmp/tnvenv/bin/python benchmarks/live_view_overhead.py [--steps 1000] [--repeat 7] [--shapes layers,fanout]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from engine_overhead import BUILDERS, mission_yaml  # noqa: E402  (benchmarks/ on the path first)

TARGET_RATIO = 1.10


class TimedView:
    """A RunView that also adds up the CPU time spent in itself (its event sink and its renders; the CPU time
    of the thread each runs in, so time the thread waits for the GIL or a core is not counted)."""

    def __new__(cls, nexus: Any) -> Any:
        from toolnexus.notebook.runview import RunView

        class Timed(RunView):
            spent = 0.0

            def __call__(self, event: Any) -> None:
                started = time.thread_time()
                super().__call__(event)
                self.spent += time.thread_time() - started

            def render(self) -> None:
                started = time.thread_time()
                super().render()
                self.spent += time.thread_time() - started

        return Timed(nexus)


def measure(nexus: Any, plan: Any, arm: str) -> tuple[float, float, float, int]:
    """Wall and CPU seconds (this process, all its threads) of one run of ``plan``: ``plain`` (no view), ``view``
    (a RunView attached) or ``timed`` (one that adds up its own CPU time: only for that figure, as its clock
    reads cost time too); the CPU seconds spent in the view itself (timed only) and its renders."""
    import anyio

    from toolnexus.notebook.runview import RunView

    gc.collect()
    spent, renders = 0.0, 0
    started, cpu = time.perf_counter(), time.process_time()
    if arm == "plain":
        result = anyio.run(nexus.arun, plan)
    else:
        view = TimedView(nexus) if arm == "timed" else RunView(nexus)
        with view.attached():
            result = anyio.run(lambda: nexus.arun(plan, control=view.control))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if arm != "plain":
        spent, renders = getattr(view, "spent", 0.0), view.renders
        if view.model.counts.get("succeeded") != len(plan.steps):
            raise RuntimeError("the view missed steps")
    if result.status.value != "succeeded":
        raise RuntimeError(f"run {result.status.value}: {result.error}")
    return elapsed, cpu, spent, renders


def bench_shape(nexus: Any, shape: str, steps: int, repeat: int) -> dict[str, float]:
    """Runs without and with the view, alternating (after a warm-up of each): the medians and the best of
    each; then the median CPU time spent in the view and its renders (timed runs)."""
    plan = nexus.compile(mission_yaml(f"live-{shape}", BUILDERS[shape](steps)))
    for arm in ("plain", "view", "timed"):
        measure(nexus, plan, arm)
    runs: dict[str, list[tuple[float, float, float, int]]] = {"plain": [], "view": [], "timed": []}
    for i in range(repeat):
        for arm in ("plain", "view") if i % 2 else ("view", "plain"):  # neither always goes first
            runs[arm].append(measure(nexus, plan, arm))
    runs["timed"] = [measure(nexus, plan, "timed") for _ in range(max(3, repeat // 2))]
    plain, viewed, timed = runs["plain"], runs["view"], runs["timed"]
    return {
        "wall": statistics.median(r[0] for r in plain), "wall_view": statistics.median(r[0] for r in viewed),
        "best": min(r[0] for r in plain), "best_view": min(r[0] for r in viewed),
        "cpu": statistics.median(r[1] for r in plain), "cpu_view": statistics.median(r[1] for r in viewed),
        "in_view": statistics.median(r[2] for r in timed), "renders": statistics.median(r[3] for r in viewed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--shapes", default="chain,fanout,layers,diamonds")
    args = parser.parse_args()

    import bench_tools

    import toolnexus as tn
    from toolnexus.registry import spec_of

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp, tn.Nexus(tmp, overrides={"tracking.enabled": False}) as nexus:
        spec = spec_of(bench_tools.noop)
        assert spec is not None
        nexus.registry.register(spec)
        print(f"live run view overhead, {args.steps} no-op steps, {args.repeat} runs each way, alternating "
              "(state store on, MLflow off); ms")
        print(f"{'shape':<9} {'median wall':>17} {'ratio':>6} {'best wall':>15} {'ratio':>6} {'median CPU':>15} "
              f"{'ratio':>6} {'in view':>8} {'share':>6} {'renders':>7}")
        for shape in args.shapes.split(","):
            m = bench_shape(nexus, shape, args.steps, args.repeat)
            best = m["best_view"] / m["best"]
            worst = max(worst, m["wall_view"] / m["wall"])
            print(f"{shape:<9} {m['wall'] * 1e3:>7.1f} → {m['wall_view'] * 1e3:>7.1f} "
                  f"{m['wall_view'] / m['wall']:>6.3f} "
                  f"{m['best'] * 1e3:>6.1f} → {m['best_view'] * 1e3:>6.1f} {best:>6.3f} "
                  f"{m['cpu'] * 1e3:>6.1f} → {m['cpu_view'] * 1e3:>6.1f} {m['cpu_view'] / m['cpu']:>6.3f} "
                  f"{m['in_view'] * 1e3:>8.1f} {m['in_view'] / m['cpu']:>6.1%} {m['renders']:>7.0f}")
    verdict = "ok" if worst <= TARGET_RATIO else "OVER TARGET"
    print(f"worst median wall-time ratio {worst:.3f} (target ≤ {TARGET_RATIO:.2f}): {verdict}")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
