"""Rich display of toolnexus objects in notebooks: plans as graphs, runs, call results, search hits, tool cards.

:func:`register` hands IPython formatters for each type **by name** (``for_type_by_name``), so registering
imports nothing heavy: a formatter's module loads the first time such an object is displayed. Every
display is self-contained HTML (inline SVG and a scoped stylesheet, no CDN, no JavaScript) that reads in
JupyterLab, classic Notebook, VS Code and a static nbconvert export; a plan also gets ``text/vnd.mermaid``,
which JupyterLab 4.1+ renders natively.

The HTML builders are plain functions other surfaces reuse: :func:`plan_html`, :func:`plan_svg`,
:func:`plan_mermaid`, :func:`run_html`, :func:`tool_result_html`, :func:`tool_card_html`,
:func:`search_hits_html`.
"""

from __future__ import annotations

from toolnexus.notebook.display.decisions import plan_decisions
from toolnexus.notebook.display.formatters import MERMAID, register
from toolnexus.notebook.display.plan import MAX_DRAWN, plan_html, plan_mermaid, plan_svg, plan_table
from toolnexus.notebook.display.results import mlflow_link, run_html, tool_result_html
from toolnexus.notebook.display.tools import search_hit_html, search_hits_html, tool_card_html

__all__ = [
    "MAX_DRAWN",
    "MERMAID",
    "mlflow_link",
    "plan_decisions",
    "plan_html",
    "plan_mermaid",
    "plan_svg",
    "plan_table",
    "register",
    "run_html",
    "search_hit_html",
    "search_hits_html",
    "tool_card_html",
    "tool_result_html",
]
