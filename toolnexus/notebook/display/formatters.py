"""Hooks the HTML builders into IPython's display system, by type name (nothing is imported to register)."""

from __future__ import annotations

import threading
import time
from typing import Any

from IPython.core.formatters import BaseFormatter
from traitlets import ObjectName, Unicode

MERMAID = "text/vnd.mermaid"

# (module, class name) of each displayed type, as IPython matches them: the class's own ``__module__``.
PLAN = ("toolnexus.mission.plan", "Plan")
RUN_RESULT = ("toolnexus.core.run", "RunResult")
TOOL_RESULT = ("toolnexus.core.call", "ToolResult")
TOOL_SPEC = ("toolnexus.core.spec", "ToolSpec")
SEARCH_HIT = ("toolnexus.registry.search_model", "SearchHit")

_DECISIONS_FRESH = 2.0  # seconds: the HTML and Mermaid of one display share one governance forecast


class MermaidFormatter(BaseFormatter):  # type: ignore[misc]
    """IPython's formatter for ``text/vnd.mermaid`` (Mermaid text, rendered natively by JupyterLab 4.1+)."""

    format_type = Unicode(MERMAID)
    print_method = ObjectName("_repr_mermaid_")


class _Forecasts:
    """The last plan's plan-time decisions, so formatting one plan in two mimetypes asks governance once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[int, str, float, dict[str, str]] | None = None

    def of(self, plan: Any) -> dict[str, str]:
        from toolnexus.notebook.display.decisions import plan_decisions

        now = time.monotonic()
        with self._lock:
            last = self._last
            if last is not None and last[0] == id(plan) and last[1] == plan.hash and now - last[2] < _DECISIONS_FRESH:
                return last[3]
        decisions = plan_decisions(plan)
        with self._lock:
            self._last = (id(plan), plan.hash, now, decisions)
        return decisions


_forecasts = _Forecasts()


def plan_to_html(plan: Any) -> str:
    """The ``text/html`` of a Plan (with the governance forecast of the kernel's Nexus, when there is one)."""
    from toolnexus.notebook.display.plan import plan_html

    return plan_html(plan, _forecasts.of(plan))


def plan_to_mermaid(plan: Any) -> str | None:
    """The ``text/vnd.mermaid`` of a Plan (None above the size Mermaid draws)."""
    from toolnexus.notebook.display.plan import MAX_MERMAID, plan_mermaid

    if len(plan.steps) > MAX_MERMAID:
        return None
    return plan_mermaid(plan, _forecasts.of(plan))


def run_to_html(result: Any) -> str:
    """The ``text/html`` of a RunResult."""
    from toolnexus.notebook.display.results import run_html

    return run_html(result)


def tool_result_to_html(result: Any) -> str:
    """The ``text/html`` of a ToolResult."""
    from toolnexus.notebook.display.results import tool_result_html

    return tool_result_html(result)


def spec_to_html(spec: Any) -> str:
    """The ``text/html`` of a ToolSpec: its card."""
    from toolnexus.notebook.display.tools import tool_card_html

    return tool_card_html(spec)


def hit_to_html(hit: Any) -> str:
    """The ``text/html`` of one SearchHit."""
    from toolnexus.notebook.display.tools import search_hit_html

    return search_hit_html(hit)


def _is_hits(value: Any) -> bool:
    # Cheap for every other list: the first item's class name decides before any import or full scan.
    if not value or type(value[0]).__name__ != SEARCH_HIT[1]:
        return False
    from toolnexus.registry.search_model import SearchHit

    return all(isinstance(item, SearchHit) for item in value)


def _hits_or(previous: Any) -> Any:
    """A ``list`` printer: a table for a list of search hits (``registry.search``), else ``previous``'s answer."""

    def hits_to_html(value: Any) -> str | None:
        if _is_hits(value):
            from toolnexus.notebook.display.tools import search_hits_html

            return search_hits_html(value)
        return previous(value) if previous is not None else None

    hits_to_html.toolnexus = True  # type: ignore[attr-defined]  # so a second register does not chain twice
    return hits_to_html


def register(ip: Any) -> None:
    """Register the toolnexus displays with the IPython shell ``ip`` (idempotent; imports no toolnexus type).

    ``text/html`` for Plan, RunResult, ToolResult, ToolSpec, SearchHit and lists of search hits;
    ``text/vnd.mermaid`` for Plan (a formatter for that mimetype is added if the shell has none).
    """
    formatters = ip.display_formatter.formatters
    if MERMAID not in formatters:
        formatters[MERMAID] = MermaidFormatter(parent=ip.display_formatter)
    html = formatters["text/html"]
    for (module, name), printer in ((PLAN, plan_to_html), (RUN_RESULT, run_to_html),
                                    (TOOL_RESULT, tool_result_to_html), (TOOL_SPEC, spec_to_html),
                                    (SEARCH_HIT, hit_to_html)):
        html.for_type_by_name(module, name, printer)
    formatters[MERMAID].for_type_by_name(*PLAN, plan_to_mermaid)
    previous = html.type_printers.get(list)
    if not getattr(previous, "toolnexus", False):
        html.for_type(list, _hits_or(previous))
