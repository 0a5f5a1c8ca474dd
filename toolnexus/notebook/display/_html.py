"""The pieces every rich display is made of: escaping, truncation, a scoped stylesheet, badges and tables.

Each display is self-contained HTML: its ``<style>`` is scoped under the ``tnx`` class prefix, colours come
from JupyterLab's CSS variables with fallbacks that read on light and dark backgrounds (``currentColor``
and translucent tints), and nothing is fetched: no CDN, no JavaScript. The same HTML reads in JupyterLab,
classic Notebook, VS Code and a static nbconvert export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from toolnexus.core.units import format_duration

MAX_TEXT = 2_000
"""Characters of a value shown before it is cut (the rest is said, never sent)."""

STYLE = """<style>
.tnx{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:var(--jp-ui-font-size1,13px);
color:var(--jp-ui-font-color1,currentColor);max-width:100%;overflow-x:auto;line-height:1.4}
.tnx .tnx-head{display:flex;flex-wrap:wrap;gap:.5em;align-items:baseline;margin:.2em 0 .5em}
.tnx .tnx-title{font-weight:600;font-size:1.1em}
.tnx .tnx-dim{color:var(--jp-ui-font-color2,currentColor);opacity:.75}
.tnx .tnx-badge{display:inline-block;padding:0 .45em;border-radius:.6em;font-size:.85em;font-weight:600;
border:1px solid currentColor;white-space:nowrap}
.tnx .tnx-ok{color:var(--jp-success-color1,#2e7d32);background:rgba(46,125,50,.12)}
.tnx .tnx-bad{color:var(--jp-error-color1,#c62828);background:rgba(198,40,40,.12)}
.tnx .tnx-warn{color:var(--jp-warn-color1,#b26a00);background:rgba(245,124,0,.14)}
.tnx .tnx-info{color:var(--jp-info-color1,#1565c0);background:rgba(21,101,192,.12)}
.tnx .tnx-none{color:var(--jp-ui-font-color2,currentColor);background:rgba(128,128,128,.12)}
.tnx table.tnx-table{border-collapse:collapse;margin:.3em 0;font-size:.95em;max-width:100%}
.tnx .tnx-table th,.tnx .tnx-table td{border:1px solid var(--jp-border-color2,rgba(128,128,128,.35));
padding:.15em .5em;text-align:left;vertical-align:top}
.tnx .tnx-table th{background:rgba(128,128,128,.1);font-weight:600}
.tnx pre.tnx-pre{margin:.2em 0;padding:.4em .6em;white-space:pre-wrap;word-break:break-word;max-height:24em;
overflow:auto;background:rgba(128,128,128,.08);border-radius:3px;font-family:var(--jp-code-font-family,monospace)}
.tnx code{font-family:var(--jp-code-font-family,monospace)}
.tnx svg.tnx-graph{display:block;max-width:100%;height:auto}
.tnx svg .tnx-node rect{fill:var(--jp-layout-color1,rgba(128,128,128,.06));
stroke:var(--jp-border-color1,currentColor);stroke-width:1}
.tnx svg .tnx-node.tnx-n-warn rect{stroke:var(--jp-warn-color1,#f57c00);stroke-width:2}
.tnx svg .tnx-node.tnx-n-bad rect{stroke:var(--jp-error-color1,#c62828);stroke-width:2}
.tnx svg .tnx-node.tnx-n-info rect{stroke:var(--jp-info-color1,#1565c0);stroke-width:2}
.tnx svg text{fill:var(--jp-ui-font-color1,currentColor);font-family:var(--jp-ui-font-family,sans-serif);font-size:11px}
.tnx svg text.tnx-id{font-weight:600;font-size:12px}
.tnx svg text.tnx-t-warn{fill:var(--jp-warn-color1,#f57c00)}
.tnx svg text.tnx-t-bad{fill:var(--jp-error-color1,#c62828)}
.tnx svg text.tnx-t-info{fill:var(--jp-info-color1,#1565c0)}
.tnx svg .tnx-edge{stroke:var(--jp-ui-font-color2,currentColor);stroke-opacity:.6;fill:none;stroke-width:1.2}
.tnx svg .tnx-arrow{fill:var(--jp-ui-font-color2,currentColor);fill-opacity:.6}
</style>"""


def esc(value: Any) -> str:
    """``value`` as text that HTML shows literally (quotes too: it may stand in an attribute)."""
    return escape(str(value), quote=True)


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def pretty(value: Any, limit: int = MAX_TEXT) -> str:
    """``value`` as indented JSON (its ``str`` when it is not JSON), cut to ``limit`` characters."""
    if isinstance(value, str):
        return cut(value, limit)
    try:
        text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # a circular structure: its str is still worth showing
        text = str(value)
    return cut(text, limit)


def badge(text: str, kind: str = "none") -> str:
    """A small coloured label (``kind``: ok, bad, warn, info, none)."""
    return f'<span class="tnx-badge tnx-{kind}">{esc(text)}</span>'


STATUS_KIND = {"succeeded": "ok", "ok": "ok", "allow": "ok", "active": "ok", "failed": "bad", "error": "bad",
               "deny": "bad", "retired": "bad", "interrupted": "bad", "cancelled": "warn", "deprecated": "warn",
               "wait": "warn", "experimental": "info", "running": "info", "pending": "none", "skipped": "none"}


def status_badge(status: str) -> str:
    """A badge for a status word, coloured by what it means (succeeded green, failed red, …)."""
    return badge(status, STATUS_KIND.get(status, "none"))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, escaped: bool = False) -> str:
    """An HTML table; cells are escaped unless ``escaped`` says they already are HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if escaped else esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="tnx-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def box(kind: str, inner: str) -> str:
    """``inner`` wrapped in the scoped stylesheet and a ``tnx tnx-<kind>`` element (what each display returns)."""
    return f'{STYLE}<div class="tnx tnx-{kind}">{inner}</div>'


def seconds(value: float | None) -> str:
    """A duration for people (``420ms``, ``1.50s``, ``2m05s``); empty for None."""
    return format_duration(value) if value is not None else ""


def money(amount: float, currency: str = "USD") -> str:
    """A cost: ``0.0123 USD``; an empty string for nothing spent."""
    return f"{amount:.4g} {currency}" if amount else ""
