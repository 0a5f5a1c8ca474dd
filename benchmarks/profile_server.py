"""Run a Python module or script under pyinstrument and write its profile when it exits (benchmark-only).

``mcp_throughput.py --profile DIR`` starts each server process through this wrapper, so the profile covers
the server under the benchmark's load (warm-up and measures alike, and its start-up):

    python benchmarks/profile_server.py OUT.html -m jupyter_server --port=8888 ...
    python benchmarks/profile_server.py OUT.html path/to/script.py ARGS...

SIGTERM (how the benchmark stops its servers) ends the run normally: Jupyter stops its loop and
returns; a script's ``KeyboardInterrupt``-style shutdown (uvicorn) returns too. The profile is written as
HTML (``OUT.html``), as text (``OUT.txt``, the call tree, frames under 0.5 % hidden) and as a session
(``OUT.pyisession``: ``pyinstrument --load OUT.pyisession -r text --flat`` lists self time by function). The sampling
interval is 0.5 ms (``PROFILE_INTERVAL`` seconds to change it). ``PROFILER=yappi`` counts every call in CPU
time instead (``OUT.yappi.txt``, ``OUT.pstat``); ``PROFILER=gc`` only counts the garbage collector's runs and
their CPU time (``OUT.gc.txt``).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType


def main() -> None:
    from pyinstrument import Profiler

    out = Path(sys.argv[1])
    if sys.argv[2] == "-m":
        target, run_module = sys.argv[3], True
        sys.argv = [target, *sys.argv[4:]]
    else:
        target, run_module = sys.argv[2], False
        sys.argv = sys.argv[2:]
    # Profiled or not, SIGTERM must stop the server the way the benchmark expects: as SIGINT would.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        def interrupt(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # the benchmark's "ready" signal: only yappi waits for it
    if os.environ.get("PROFILER") == "gc":
        _run_counting_collections(out, target, run_module)
        return
    if os.environ.get("PROFILER") == "yappi":
        _run_under_yappi(out, target, run_module)
        return
    profiler = Profiler(interval=float(os.environ.get("PROFILE_INTERVAL", "0.0005")), async_mode="disabled")
    profiler.start()
    try:
        _run_target(target, run_module)
    finally:
        profiler.stop()
        session = profiler.last_session
        if session is not None:
            session.save(str(out.with_suffix(".pyisession")))  # `pyinstrument --load FILE -r text --flat` & co
        out.with_suffix(".html").write_text(profiler.output_html())
        out.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False,
                                                                 timeline=False))


def _run_target(target: str, run_module: bool) -> None:
    """Run the server (a module or a script) as ``__main__`` until it stops or is interrupted."""
    try:
        if run_module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except (KeyboardInterrupt, SystemExit):
        pass


def _run_under_yappi(out: Path, target: str, run_module: bool) -> None:
    """``PROFILER=yappi``: every call counted, in CPU time (all threads); ``OUT.yappi.txt`` lists the functions by
    their total time. Slower than sampling, but it attributes the server's CPU per function exactly."""
    import yappi

    yappi.set_clock_type("cpu")
    # The benchmark sends SIGUSR2 once the server is ready, so start-up (imports, schema building) stays out of the
    # profile; without a signal nothing is profiled. (Jupyter keeps SIGUSR1 for itself.)
    signal.signal(signal.SIGUSR2, lambda signum, frame: yappi.start(builtins=True))
    try:
        _run_target(target, run_module)
    finally:
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.save(str(out.with_suffix(".pstat")), type="pstat")  # python -m pstats OUT.pstat
        with out.with_suffix(".yappi.txt").open("w") as f:
            stats.sort("ttot").print_all(out=f, columns={0: ("name", 90), 1: ("ncall", 12), 2: ("tsub", 8),
                                                             3: ("ttot", 8), 4: ("tavg", 8)})


def _run_counting_collections(out: Path, target: str, run_module: bool) -> None:
    """``PROFILER=gc``: the garbage collector's runs per generation and their CPU time, from the benchmark's ready
    signal on (``OUT.gc.txt``). No profiler: the server runs at its own speed."""
    import gc
    import time

    counting = False
    started: list[float] = [0.0]
    runs = [[0, 0.0, 0] for _ in range(3)]  # per generation: collections, CPU seconds, objects collected

    def callback(phase: str, info: dict[str, int]) -> None:
        if not counting:
            return
        if phase == "start":
            started[0] = time.thread_time()
        else:
            run = runs[info["generation"]]
            run[0] += 1
            run[1] += time.thread_time() - started[0]
            run[2] += info["collected"]

    def start(signum: int, frame: FrameType | None) -> None:
        nonlocal counting
        counting = True

    gc.callbacks.append(callback)
    signal.signal(signal.SIGUSR2, start)
    try:
        _run_target(target, run_module)
    finally:
        lines = [f"generation {g}: {n} collections, {cpu * 1000:.1f} ms CPU, {collected} objects collected"
                 for g, (n, cpu, collected) in enumerate(runs)]
        lines.append(f"threshold {gc.get_threshold()}, frozen {gc.get_freeze_count()}, tracked {len(gc.get_objects())}")
        out.with_suffix(".gc.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
