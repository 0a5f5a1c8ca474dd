"""A Plan drawn for people: an SVG of its DAG laid out in layers, a table of its steps, and Mermaid text.

The SVG is computed here (networkx's topological generations give the layers; no Graphviz, no JavaScript),
so a static export shows it. Above :data:`MAX_DRAWN` steps the graph is not drawn — a summary says so —
and the table shows the first :data:`MAX_ROWS` steps: a 1,000-step plan renders in milliseconds and a few
hundred kilobytes at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from toolnexus.notebook.display._html import badge, box, esc, seconds, table

if TYPE_CHECKING:
    from toolnexus.mission.plan import Plan, PlanStep

MAX_DRAWN = 200
"""Steps above which the graph is summarised, not drawn."""
MAX_ROWS = 200
"""Steps the table lists at most."""
MAX_MERMAID = 200
"""Steps above which no Mermaid text is given (Mermaid refuses charts of more than 500 edges)."""
PER_ROW = 6
"""Nodes side by side at most: a wider layer wraps onto more rows, so the graph fits a cell."""

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 190, 66, 24, 40, 8


def decision_kind(text: str) -> str:
    """How a governance decision reads: ``bad`` (denied, retired, killed), ``warn`` (approval, deprecated),
    ``info`` (observe-mode would-be decisions, experimental)."""
    lowered = text.lower()
    if lowered.startswith("would") or "experimental" in lowered:
        return "info"
    if any(word in lowered for word in ("denied", "deny", "retired", "killed", "refused")):
        return "bad"
    return "warn"


def layers(plan: Plan) -> list[list[str]]:
    """The steps in layers: each step in the first layer after all of those it needs."""
    import networkx as nx

    return [list(generation) for generation in nx.topological_generations(plan.graph())]


def _rows(plan: Plan) -> list[list[str]]:
    order = {step.id: i for i, step in enumerate(plan.steps)}
    rows: list[list[str]] = []
    for layer in layers(plan):
        layer.sort(key=order.__getitem__)  # plan order inside a layer: stable across renders
        rows.extend(layer[i:i + PER_ROW] for i in range(0, len(layer), PER_ROW))
    return rows


def _node(step: PlanStep, x: int, y: int, decision: str | None) -> str:
    kind = decision_kind(decision) if decision else ""
    lines = [f'<text class="tnx-id" x="{x + 8}" y="{y + 16}">{esc(_fit(step.id, 26))}</text>',
             f'<text x="{x + 8}" y="{y + 31}">{esc(_fit(f"{step.tool}@{step.version}", 30))}</text>',
             f'<text class="tnx-dim" x="{x + 8}" y="{y + 45}">{esc(_fit(_traits(step), 30))}</text>']
    if decision:
        lines.append(f'<text class="tnx-t-{kind}" x="{x + 8}" y="{y + 59}">{esc(_fit(decision, 30))}</text>')
    title = f"{step.id}: {step.tool}@{step.version} [{step.runtime}, {step.tier.value}]"
    title += f" — {decision}" if decision else ""
    klass = f"tnx-node tnx-n-{kind}" if kind else "tnx-node"
    return (f'<g class="{klass}" data-step="{esc(step.id)}"><title>{esc(title)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>{"".join(lines)}</g>')


def _traits(step: PlanStep) -> str:
    parts = [step.runtime, step.tier.value]
    if step.foreach is not None:
        parts.append("foreach")
    if step.if_ is not None:
        parts.append("if")
    return " · ".join(parts)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def plan_svg(plan: Plan, decisions: Mapping[str, str] | None = None) -> str:
    """The DAG as an SVG element, top to bottom by layer; an empty string above :data:`MAX_DRAWN` steps."""
    if len(plan.steps) > MAX_DRAWN or not plan.steps:
        return ""
    decisions = decisions or {}
    rows = _rows(plan)
    width = max(len(r) for r in rows) * (NODE_W + GAP_X) - GAP_X + 2 * PAD
    height = len(rows) * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD
    where: dict[str, tuple[int, int]] = {}
    for r, row in enumerate(rows):
        offset = (width - 2 * PAD - (len(row) * (NODE_W + GAP_X) - GAP_X)) // 2  # centre short rows
        for c, step_id in enumerate(row):
            where[step_id] = (PAD + offset + c * (NODE_W + GAP_X), PAD + r * (NODE_H + GAP_Y))
    edges = []
    for step in plan.steps:
        x2, y2 = where[step.id]
        for dep in step.needs:
            x1, y1 = where[dep]
            ax, ay, bx, by = x1 + NODE_W // 2, y1 + NODE_H, x2 + NODE_W // 2, y2
            bend = max(GAP_Y // 2, (by - ay) // 2)
            edges.append(f'<path class="tnx-edge" data-edge="{esc(dep)}→{esc(step.id)}" marker-end="url(#tnx-arrow)" '
                         f'd="M{ax},{ay} C{ax},{ay + bend} {bx},{by - bend} {bx},{by - 2}"/>')
    nodes = [_node(step, *where[step.id], decisions.get(step.id)) for step in plan.steps]
    return (f'<svg class="tnx-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="plan of {esc(plan.mission)}">'
            '<defs><marker id="tnx-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path class="tnx-arrow" d="M0,0 L10,5 L0,10 z"/></marker></defs>'
            f'{"".join(edges)}{"".join(nodes)}</svg>')


def _step_row(step: PlanStep, decision: str | None) -> list[str]:
    flags = []
    if step.foreach is not None:
        flags.append("foreach")
    if step.if_ is not None:
        flags.append(f"if {step.if_}")
    if step.retry is not None:
        flags.append(f"retry ×{step.retry.attempts}")
    if step.timeout is not None:
        flags.append(f"timeout {seconds(step.timeout)}")
    if step.continue_on_error:
        flags.append("continue on error")
    return [f"<code>{esc(step.id)}</code>", esc(f"{step.tool}@{step.version}"), esc(step.runtime),
            esc(step.tier.value), esc(", ".join(step.needs)), esc("; ".join(flags)),
            badge(decision, decision_kind(decision)) if decision else ""]


def plan_table(plan: Plan, decisions: Mapping[str, str] | None = None, limit: int = MAX_ROWS) -> str:
    """The steps as a table (id, tool, runtime, tier, needs, options, governance), the first ``limit`` of them."""
    decisions = decisions or {}
    rows = [_step_row(step, decisions.get(step.id)) for step in plan.steps[:limit]]
    more = len(plan.steps) - limit
    note = f'<div class="tnx-dim">… and {more:,} more steps (the first {limit:,} are listed)</div>' if more > 0 else ""
    headers = ["step", "tool", "runtime", "tier", "needs", "options", "governance"]
    return table(headers, rows, escaped=True) + note


def _plan_head(plan: Plan, depth: int, decisions: Mapping[str, str]) -> str:
    count = len(plan.steps)
    head = [f'<span class="tnx-title">{esc(plan.mission)}</span>']
    if plan.mission_version:
        head.append(f'<span class="tnx-dim">v{esc(plan.mission_version)}</span>')
    head.append(f'<span>{count:,} step{"s" * (count != 1)} in {depth:,} layer{"s" * (depth != 1)}</span>')
    budget = plan.budget
    if budget is not None and budget.max_cost is not None:
        head.append(badge(f"budget {budget.max_cost:g} {budget.currency}", "info"))
    if budget is not None and budget.max_duration is not None:
        head.append(badge(f"max {seconds(budget.max_duration)}", "info"))
    governed = sum(1 for d in decisions.values() if decision_kind(d) != "info")
    if governed:
        head.append(badge(f"{governed} governed step{'s' * (governed != 1)}", "warn"))
    head.append(f'<span class="tnx-dim"><code>{esc(plan.hash[:19])}</code></span>')
    return f'<div class="tnx-head">{"".join(head)}</div>'


def plan_html(plan: Plan, decisions: Mapping[str, str] | None = None) -> str:
    """The plan as HTML: a header (mission, steps, layers, budget, hash), the graph (or, for a big plan, a
    summary saying it is not drawn) and the table of steps; ``decisions`` maps step ids to what governance
    says of them at plan time (see :func:`plan_decisions`)."""
    decisions = decisions or {}
    levels = layers(plan) if plan.steps else []
    parts = [_plan_head(plan, len(levels), decisions)]
    if plan.description:
        parts.append(f"<div>{esc(plan.description)}</div>")
    graph = plan_svg(plan, decisions)
    if graph:
        parts.append(graph)
    elif plan.steps:
        parts.append(f'<div class="tnx-dim">The graph is not drawn above {MAX_DRAWN} steps: this plan has '
                     f'{len(plan.steps):,} steps in {len(levels):,} layers (widest: {max(map(len, levels)):,}).</div>')
    parts.append(plan_table(plan, decisions))
    return box("plan", "".join(parts))


def _mermaid_label(text: str) -> str:
    # Mermaid's entity codes: no quote, bracket or angle bracket of the text can end the label or be markup.
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;")):
        text = text.replace(raw, code)
    return text.replace("\n", " ")


def plan_mermaid(plan: Plan, decisions: Mapping[str, str] | None = None) -> str | None:
    """Mermaid ``flowchart TD`` text of the DAG (JupyterLab 4.1+ renders it natively); None above
    :data:`MAX_MERMAID` steps. Node ids are ``s0``, ``s1``… so no step id can be read as Mermaid syntax."""
    if len(plan.steps) > MAX_MERMAID:
        return None
    decisions = decisions or {}
    ids = {step.id: f"s{i}" for i, step in enumerate(plan.steps)}
    lines = ["flowchart TD"]
    styled: dict[str, list[str]] = {}
    for step in plan.steps:
        parts = [step.id, f"{step.tool}@{step.version}", f"{step.runtime} · {step.tier.value}"]
        decision = decisions.get(step.id)
        if decision:
            parts.append(decision)
            styled.setdefault(decision_kind(decision), []).append(ids[step.id])
        label = "<br/>".join(_mermaid_label(part) for part in parts)  # the only markup is ours
        lines.append(f'  {ids[step.id]}["{label}"]')
    for step in plan.steps:
        lines.extend(f"  {ids[dep]} --> {ids[step.id]}" for dep in step.needs)
    colours = {"bad": "#c62828", "warn": "#f57c00", "info": "#1565c0"}
    for kind, members in styled.items():
        lines.append(f"  classDef {kind} stroke:{colours[kind]},stroke-width:2px")
        lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"
