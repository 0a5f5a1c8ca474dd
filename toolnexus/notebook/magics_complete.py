"""Tab completion for the magics: tool names after ``%tn call``/``%tn tools show`` and after ``uses:`` in a
``%%mission`` cell; the cell's step ids after ``needs:`` and ``steps.``; ``%tn``'s commands.

One IPython matcher (completer API v2) that answers only where it knows the context, and then alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, SimpleMatcherResult, context_matcher

_NAME = r"[\w.@-]*"
_TN = re.compile(rf"^\s*%tn\s+(?:call|tools\s+show)\s+({_NAME})$")
_TN_COMMAND = re.compile(r"^\s*%tn\s+(\w*)$")
_TN_TOOLS = re.compile(r"^\s*%tn\s+tools\s+(\w*)$")
_USES = re.compile(rf"^\s*(?:-\s+)?uses:\s*({_NAME})$")
_NEEDS = re.compile(r"^\s*(?:-\s+)?needs:\s*(?:\[\s*)?(?:\w+\s*,\s*)*(\w*)$")
_STEP_REF = re.compile(r"steps\.(\w*)$")
_STEP_ID = re.compile(r"^\s*(?:-\s+)?id:\s*([A-Za-z_]\w*)\s*$", re.MULTILINE)


def _result(candidates: Iterable[str], prefix: str, kind: str) -> SimpleMatcherResult:
    found = sorted({c for c in candidates if c.startswith(prefix)})
    return SimpleMatcherResult(completions=[SimpleCompletion(c, type=kind) for c in found], matched_fragment=prefix,
                               suppress=bool(found))


def _nothing() -> SimpleMatcherResult:
    return SimpleMatcherResult(completions=[], suppress=False)


def _in_mission_cell(context: CompletionContext, tools: Callable[[], list[str]]) -> SimpleMatcherResult | None:
    before = context.text_until_cursor
    if (match := _USES.match(before)) is not None:
        return _result(tools(), match.group(1), "tool")
    ids = _STEP_ID.findall(context.full_text)
    if (match := _NEEDS.match(before)) is not None:
        return _result(ids, match.group(1), "step")
    if (match := _STEP_REF.search(before)) is not None and "${{" in before:
        return _result(ids, match.group(1), "step")
    return None


def _on_tn_line(before: str, tools: Callable[[], list[str]]) -> SimpleMatcherResult | None:
    from toolnexus.notebook.magics_tn import COMMANDS

    if (match := _TN.match(before)) is not None:
        return _result(tools(), match.group(1), "tool")
    if (match := _TN_COMMAND.match(before)) is not None:
        return _result(COMMANDS, match.group(1), "command")
    if (match := _TN_TOOLS.match(before)) is not None:
        return _result(("search", "show"), match.group(1), "command")
    return None


def make_matcher(tools: Callable[[], list[str]]) -> Any:
    """The matcher, reading tool names from ``tools()`` when (and only when) it completes one."""

    @context_matcher(identifier="toolnexus.magics")
    def toolnexus_matcher(context: CompletionContext) -> SimpleMatcherResult:
        if context.full_text.lstrip().startswith("%%mission") and context.cursor_line > 0:
            found = _in_mission_cell(context, tools)
        else:
            found = _on_tn_line(context.text_until_cursor, tools)
        return found if found is not None else _nothing()

    return toolnexus_matcher


def tool_names() -> list[str]:
    """The names of the default Nexus's tools (those a ``%%mission`` cell can use), ``@tn.tool`` ones included."""
    from toolnexus.api import default_nexus

    return default_nexus().registry.names()
