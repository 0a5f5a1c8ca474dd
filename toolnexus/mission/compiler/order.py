"""The order a plan's steps run in: the file's order wherever dependencies allow, and the cycles that stop it."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolnexus.mission.plan import PlanStep

if TYPE_CHECKING:
    import networkx as nx  # imported where a cycle is named: a plan without one never needs it (~0.1 s)

ErrorSink = Callable[[tuple[Any, ...], str, str | None], None]
"""Where a cycle is reported: ``(path, message, hint)``."""


def order_steps(compiled: list[tuple[int, PlanStep]], error: ErrorSink) -> list[PlanStep]:
    """The steps in dependency order; on cycles, each is reported through ``error`` and the list is empty."""
    if _in_file_order(compiled):
        return [s for _, s in compiled]
    index_of: dict[str, int] = {}
    for i, s in compiled:
        index_of.setdefault(s.id, i)  # a duplicate id (reported) keeps its first position
    ordered = sorted_in_file_order(compiled, index_of)
    if ordered is not None:
        return ordered
    # The sort got stuck: there are cycles. networkx finds and names each one.
    for cycle in dependency_cycles(compiled, index_of):
        _report_cycle(cycle, index_of, error)
    return []


def dependency_cycles(compiled: list[tuple[int, PlanStep]], index_of: dict[str, int]) -> list[list[str]]:
    """One cycle of each knot of mutually dependent steps, in file order, each starting at its first step."""
    import networkx as nx

    graph = _dependency_graph(compiled, index_of)
    cyclic = [c for c in nx.strongly_connected_components(graph) if len(c) > 1 or graph.has_edge(*(list(c) * 2))]
    cycles = []
    for component in sorted(cyclic, key=lambda c: min(index_of.get(n, 0) for n in c)):
        start = min(component, key=lambda n: index_of.get(n, 0))
        cycles.append([u for u, _ in nx.find_cycle(graph.subgraph(component), source=start)])
    return cycles


def _dependency_graph(compiled: list[tuple[int, PlanStep]], index_of: dict[str, int]) -> nx.DiGraph:
    """An edge from each known step (or the step itself) to every step that needs it."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(s.id for _, s in compiled)
    graph.add_edges_from((d, s.id) for _, s in compiled for d in s.needs if d in index_of or d == s.id)
    return graph


def _report_cycle(cycle: list[str], index_of: dict[str, int], error: ErrorSink) -> None:
    """Report one cycle at its first step: a step that needs itself, or a loop through several."""
    start = cycle[0]
    names = " → ".join([*cycle, start])
    if len(cycle) == 1:
        error(
            ("steps", index_of.get(start, 0), "id"),
            f"step `{start}` depends on itself (dependency cycle: {names})",
            "remove it from its own `needs:` and expressions",
        )
    else:
        error(
            ("steps", index_of.get(start, 0), "id"),
            f"dependency cycle: {names}",
            "a step cannot depend, directly or through others, on itself; remove one of these dependencies",
        )


def sorted_in_file_order(compiled: list[tuple[int, PlanStep]], index_of: dict[str, int]) -> list[PlanStep] | None:
    """A topological order that keeps the file's order wherever dependencies allow (Kahn's algorithm
    with the ready steps in a heap by position); None when a cycle stops it."""
    by_id = {s.id: s for _, s in compiled}
    waiting, dependents = _dependency_counts(compiled, by_id)
    ready = [(index_of[sid], sid) for sid, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    out: list[PlanStep] = []
    while ready:
        _, sid = heapq.heappop(ready)
        out.append(by_id[sid])
        for dependent in dependents[sid]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (index_of[dependent], dependent))
    return out if len(out) == len(by_id) else None


def _in_file_order(compiled: list[tuple[int, PlanStep]]) -> bool:
    """Whether every step comes after the steps it needs and no id repeats, as missions are mostly written: then
    the file's order is the order Kahn's algorithm would give (the first in the file of the ready steps is always
    the next one), found in one pass and with one set (the sort's indexes by id were 10 MB at the peak of
    compiling 100,000 steps). A need of an unknown step (reported elsewhere) leaves it to the sort."""
    seen: set[str] = set()
    for _, step in compiled:
        if step.id in seen:
            return False
        for dep in step.needs:
            if dep not in seen:
                return False
        seen.add(step.id)
    return True


def _dependency_counts(
    compiled: list[tuple[int, PlanStep]], by_id: dict[str, PlanStep]
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """How many known steps each step waits for, and the steps that wait for each."""
    waiting = {s.id: 0 for _, s in compiled}
    dependents: dict[str, list[str]] = {s.id: [] for _, s in compiled}
    for _, step in compiled:
        for dep in set(step.needs):
            if dep in by_id:
                waiting[step.id] += 1
                dependents[dep].append(step.id)
    return waiting, dependents
