"""The plan's DAG as an SVG image: layered left to right, one box per step.

Written directly rather than through matplotlib or Graphviz: importing matplotlib costs seconds in
every short-lived CLI process, and Graphviz is not a Python dependency. The layout is simple —
a step's column is the length of the longest path to it — which is what a DAG of tool calls needs.
"""

from __future__ import annotations

from html import escape
from typing import Any

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 170, 44, 60, 18, 20


def plan_svg(plan: dict[str, Any]) -> str:
    """SVG text of the plan's DAG (a JSON-form Plan, as ``Plan.model_dump(mode="json")`` gives)."""
    import networkx as nx  # here, not at module level: the Nexus imports this package, few need the picture

    graph = nx.DiGraph()
    tools = {}
    for step in plan.get("steps", []):
        graph.add_node(step["id"])
        tools[step["id"]] = f"{step['tool']}@{step.get('version', '')}"
        graph.add_edges_from((dep, step["id"]) for dep in step.get("needs", []))
    layers = [sorted(layer, key=list(graph.nodes).index) for layer in nx.topological_generations(graph)]
    where: dict[str, tuple[int, int]] = {}
    for column, layer in enumerate(layers):
        for row, node in enumerate(layer):
            where[node] = (PAD + column * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    width = PAD * 2 + max(len(layers), 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(layer) for layer in layers), default=1) * (BOX_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#667"/></marker></defs>',
        f"<title>{escape(str(plan.get('mission', 'plan')))}</title>",
    ]
    for source, target in graph.edges:
        (x1, y1), (x2, y2) = where[source], where[target]
        parts.append(
            f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H // 2}" x2="{x2}" y2="{y2 + BOX_H // 2}" '
            'stroke="#667" stroke-width="1.2" marker-end="url(#arrow)"/>'
        )
    for node, (x, y) in where.items():
        parts.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#dbe9f6" stroke="#4a6fa5"/>')
        parts.append(f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{escape(node[:26])}</text>')
        parts.append(f'<text x="{x + 8}" y="{y + 34}" fill="#334">{escape(tools[node][:28])}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
