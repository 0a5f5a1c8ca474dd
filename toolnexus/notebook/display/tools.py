"""Tools as HTML: a :class:`ToolSpec`'s card (its arguments as a table) and ranked search hits.

The facts are those of :mod:`toolnexus.registry.disclosure`, the same on every surface; only the layout
is HTML here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from toolnexus.notebook.display._html import badge, box, cut, esc, pretty, table

if TYPE_CHECKING:
    from toolnexus.core.spec import ToolSpec
    from toolnexus.registry.search_model import SearchHit

TIER_KIND = {"read_only": "ok", "side_effecting": "warn", "privileged": "bad"}
LIFECYCLE_KIND = {"active": "ok", "experimental": "info", "deprecated": "warn", "retired": "bad"}
MAX_HITS = 100


def _default(arg: dict[str, Any]) -> str:
    if "default" in arg:
        return json.dumps(arg["default"], ensure_ascii=False, default=str)
    return ""


def _argument_row(arg: dict[str, Any]) -> list[str]:
    kind = arg["type"] + (f" — one of {', '.join(json.dumps(v, default=str) for v in arg['enum'])}"
                          if "enum" in arg else "")
    return [f"<code>{esc(arg['name'])}</code>", esc(kind), "required" if arg["required"] else "",
            esc(_default(arg)), esc(cut(arg.get("description", ""), 500))]


def _badges(spec: ToolSpec) -> str:
    tier, state = spec.tier.value, spec.lifecycle.value
    return (badge(tier, TIER_KIND.get(tier, "none")) + badge(state, LIFECYCLE_KIND.get(state, "none"))
            + badge(spec.runtime, "none"))


def tool_card_html(spec: ToolSpec, level: str = "card") -> str:
    """A tool's card: name, version, tier, lifecycle, runtime, summary and description, its arguments as a
    table, cost, limits, tags and successor; ``level="schema"`` adds the schemas and examples, ``"listing"``
    is the head line alone."""
    from toolnexus.registry.disclosure import Level, card, parse_level

    chosen = parse_level(level)
    head = (f'<div class="tnx-head"><span class="tnx-title">{esc(spec.name)}</span>'
            f'<span class="tnx-dim">{esc(spec.version)}</span>{_badges(spec)}</div>')
    parts = [head]
    if spec.summary:
        parts.append(f"<div>{esc(spec.summary)}</div>")
    if chosen is Level.LISTING:
        return box("tool", "".join(parts))
    info = card(spec)
    if spec.description and spec.description.strip() != spec.summary.strip():
        parts.append(f'<div class="tnx-dim" style="white-space:pre-wrap">{esc(cut(spec.description.strip()))}</div>')
    if info["arguments"]:
        parts.append(table(["argument", "type", "", "default", "description"],
                           [_argument_row(a) for a in info["arguments"]], escaped=True))
    else:
        parts.append('<div class="tnx-dim">no arguments</div>')
    facts = [("cost", _cost(info["cost"])),
             ("limits", ", ".join(f"{k} {_limit(k, v)}" for k, v in info["limits"].items()) or "none")]
    if spec.tags:
        facts.append(("tags", ", ".join(spec.tags)))
    if spec.successor:
        facts.append(("successor", spec.successor))
    parts.append("<div>" + " &nbsp; ".join(f'<span class="tnx-dim">{esc(k)}:</span> {esc(v)}' for k, v in facts)
                 + "</div>")
    if chosen is Level.SCHEMA:
        parts.append(_schemas(spec))
    return box("tool", "".join(parts))


def _limit(name: str, value: Any) -> str:
    """A limit for people: sizes in KiB/MiB/GiB, durations in seconds."""
    if name in ("memory", "max_output") and isinstance(value, int):
        for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if value >= scale:
                return f"{value / scale:g} {unit}"
    if name in ("timeout", "cpu_time") and isinstance(value, int | float):
        return f"{value:g} s"
    return str(value)


def _cost(cost: dict[str, Any]) -> str:
    from toolnexus.registry.disclosure import _cost_text

    return _cost_text(cost)


def _schemas(spec: ToolSpec) -> str:
    parts = [f'<div><b>input schema</b></div><pre class="tnx-pre">{esc(pretty(spec.input_schema, 20_000))}</pre>']
    if spec.output_schema is not None:
        parts.append(f'<div><b>output schema</b></div><pre class="tnx-pre">{esc(pretty(spec.output_schema, 20_000))}'
                     "</pre>")
    for number, example in enumerate(spec.examples, 1):
        title = f"example {number}" + (f": {example.description}" if example.description else "")
        body = {"arguments": example.arguments} | ({"result": example.result} if example.result is not None else {})
        parts.append(f'<div><b>{esc(title)}</b></div><pre class="tnx-pre">{esc(pretty(body))}</pre>')
    return "".join(parts)


def matched_terms(hit: SearchHit) -> str:
    """The query terms a hit matched, per field: ``name: read · summary: read, file``."""
    return " · ".join(f"{field}: {', '.join(terms)}" for field, terms in hit.matched.items() if terms)


def search_hits_html(hits: Sequence[SearchHit], query: str | None = None) -> str:
    """Ranked hits as a table: rank, tool, score, matched terms (per field), tier and summary."""
    rows = [[str(rank), f"<code>{esc(hit.spec.ref)}</code>", f"{hit.score:.3f}", esc(matched_terms(hit)),
             badge(hit.spec.tier.value, TIER_KIND.get(hit.spec.tier.value, "none")), esc(cut(hit.spec.summary, 300))]
            for rank, hit in enumerate(hits[:MAX_HITS], 1)]
    title = f"{len(hits):,} tool{'s' * (len(hits) != 1)}" + (f" for “{query}”" if query else "")
    parts = [f'<div class="tnx-head"><span class="tnx-title">{esc(title)}</span></div>']
    if rows:
        parts.append(table(["#", "tool", "score", "matched", "tier", "summary"], rows, escaped=True))
    if len(hits) > MAX_HITS:
        parts.append(f'<div class="tnx-dim">… and {len(hits) - MAX_HITS:,} more</div>')
    return box("hits", "".join(parts))


def search_hit_line(hit: SearchHit) -> str:
    """A hit's score and matched terms, as a line (with the stylesheet) to put above the tool's card."""
    return box("hit", f'<div class="tnx-head">{badge(f"score {hit.score:.3f}", "info")}'
                      f'<span class="tnx-dim">matched {esc(matched_terms(hit) or "nothing lexically")}</span></div>')


def search_hit_html(hit: SearchHit) -> str:
    """One hit: its score and matched terms above the tool's card."""
    return search_hit_line(hit) + tool_card_html(hit.spec)
