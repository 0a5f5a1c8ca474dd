"""Where the time goes in the workloads of issue 19's rows that are not at their target: one profile each.

Each workload runs under pyinstrument (a sampling profiler, 0.2 ms) in this process; ``DIR/<row>.txt`` is
pyinstrument's call tree and ``DIR/<row>.html`` its interactive view. The script prints, per row, the
share of the samples spent in each *area* (self time of the frames, grouped by the module they are in:
toolnexus's packages, ``sqlite3``, pydantic, ruamel, the event loop …) and the functions with the most
self time — time spent in C (an SQLite statement, the JSON encoder) counts for the Python function that
called it. These are the profiles ``docs/performance.md`` cites for what stands in the way of a row.

- ``engine``: the 1,000-step chain of ``engine_overhead.py``, 1,000 enforced rules loaded and the audit log
  on, run 5 times after a warm-up (state store on, tracking off); ``engine-audit-off``: the same, audit off;
- ``compile``: ``nexus.compile(text)`` of the 100,000-step layered mission of ``scale.py``;
- ``foreach``: one ``foreach:`` step over 100,000 items (``scale.py``'s foreach mission).

    PYTHONPATH=. python benchmarks/profile_rows.py                      # all rows, profiles in ./profiles
    PYTHONPATH=. python benchmarks/profile_rows.py --only engine --out /tmp/prof
    PYTHONPATH=. python benchmarks/profile_rows.py --quick              # a smoke run: small sizes

Needs ``pyinstrument`` (``bash benchmarks/setup.sh`` installs it in ``benchmarks/.venv``). The MCP row has its
own: ``python benchmarks/mcp_throughput.py --profile DIR``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import sysconfig
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from engine_overhead import BUILDERS, ToolnexusBench, mission_yaml  # noqa: E402
from scale import FOREACH_MISSION, _nexus  # noqa: E402

ROWS = ("engine", "engine-audit-off", "compile", "foreach")
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def area(file_path: str | None, function: str) -> str:
    """The area a frame's self time counts for: a toolnexus package, a third-party package, a stdlib module."""
    if not file_path:
        return "?"
    if file_path == "<built-in>":
        return f"built-in {function}"
    parts = Path(file_path).parts
    if "toolnexus" in parts:
        tail = list(parts[len(parts) - parts[::-1].index("toolnexus"):])
        tail[-1] = tail[-1].removesuffix(".py")
        return "toolnexus." + ".".join(tail[:2] if len(tail) > 2 else tail)
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    try:
        return Path(file_path).resolve().relative_to(STDLIB).parts[0].removesuffix(".py")
    except ValueError:
        return Path(file_path).stem


def self_times(root: Any) -> tuple[Counter[str], Counter[str]]:
    """Self time of the tree under ``root``, summed by area and by function."""
    areas: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    stack = [root]
    while stack:
        frame = stack.pop()
        own = sum(child.time for child in frame.children if child.is_synthetic)
        if own and not frame.is_synthetic:
            areas[area(frame.file_path, frame.function)] += own
            where = f"{Path(frame.file_path).name}:{frame.line_no}" if frame.file_path else "?"
            functions[f"{frame.function} ({where})"] += own
        stack.extend(child for child in frame.children if not child.is_synthetic)
    return areas, functions


def report(name: str, session: Any, out: Path, top: int) -> None:
    """Write ``name``'s profile to ``out`` and print its shares by area and its top functions."""
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer

    text = ConsoleRenderer(unicode=True, color=False, show_all=False, short_mode=True).render(session)
    (out / f"{name}.txt").write_text(text)
    (out / f"{name}.html").write_text(HTMLRenderer().render(session))
    root = session.root_frame()
    total = root.time if root is not None else 0.0
    areas, functions = self_times(root) if root is not None else (Counter(), Counter())
    print(f"\n## {name}: {total:.2f} s sampled  ({out / name}.txt)")
    print("  by area (self time):")
    for label, seconds in areas.most_common(top):
        print(f"    {100 * seconds / total:5.1f} %  {label}")
    print("  by function (self time):")
    for label, seconds in functions.most_common(top):
        print(f"    {100 * seconds / total:5.1f} %  {label}")


def profiled(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` under pyinstrument; its session."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    try:
        fn()
    finally:
        profiler.stop()
    return profiler.last_session


def engine_row(steps: int, workspace: Path, audit: bool = True) -> Any:
    import anyio

    bench = ToolnexusBench(workspace, rules=True, audit=audit)
    plan = bench.nexus.compile(mission_yaml("profile-chain", BUILDERS["chain"](steps)))

    async def runs(times: int) -> None:
        for _ in range(times):
            result = await bench.nexus.arun(plan)
            if result.status.value != "succeeded":
                raise SystemExit(f"chain run {result.status.value}: {result.error}")

    try:
        anyio.run(runs, 1)  # warm-up: imports, caches, the store's tables
        return profiled(lambda: anyio.run(runs, 5))
    finally:
        bench.close()


def compile_row(steps: int, workspace: Path) -> Any:
    nexus = _nexus(workspace, store=False)
    text = mission_yaml("profile-compile", BUILDERS["layers"](steps))
    nexus.compile(mission_yaml("warm-up", BUILDERS["layers"](100)))
    try:
        return profiled(lambda: nexus.compile(text))
    finally:
        nexus.close()


def foreach_row(items: int, workspace: Path) -> Any:
    nexus = _nexus(workspace, store=True)
    plan = nexus.compile(FOREACH_MISSION)
    nexus.run(plan, {"items": list(range(100))})  # warm-up

    def run() -> None:
        result = nexus.run(plan, {"items": list(range(items))})
        if result.status.value != "succeeded":
            raise SystemExit(f"foreach run {result.status.value}: {result.error}")

    try:
        return profiled(run)
    finally:
        nexus.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--out", type=Path, default=Path("profiles"), help="where the profiles go (default ./profiles)")
    parser.add_argument("--top", type=int, default=12, help="lines per table (default 12)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes")
    args = parser.parse_args(argv)
    rows = [row.strip() for row in args.only.split(",") if row.strip()]
    for row in rows:
        if row not in ROWS:
            parser.error(f"unknown row {row!r}; choose from {', '.join(ROWS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = {"engine": 200, "engine-audit-off": 200, "compile": 2000, "foreach": 2000} if args.quick \
        else {"engine": 1000, "engine-audit-off": 1000, "compile": 100_000, "foreach": 100_000}
    makers = {"engine": engine_row, "engine-audit-off": functools.partial(engine_row, audit=False),
              "compile": compile_row, "foreach": foreach_row}
    for row in rows:
        with tempfile.TemporaryDirectory(prefix=f"toolnexus-profile-{row}-") as workspace:
            from toolnexus.mission.gcpause import allow_freezing

            if row == "compile":
                allow_freezing()  # as the CLI does (see scale.py)
            session = makers[row](sizes[row], Path(workspace))
            report(row, session, args.out, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
