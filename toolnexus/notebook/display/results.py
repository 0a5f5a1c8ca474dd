"""A mission run's :class:`RunResult` and a tool call's :class:`ToolResult`, as HTML.

Outputs are shown as indented JSON, cut at :data:`~toolnexus.notebook.display._html.MAX_TEXT` characters,
and a run lists at most :data:`MAX_STEP_ROWS` steps (failed ones first): a 1,000-step result stays small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolnexus.notebook.display._html import STATUS_KIND, badge, box, esc, money, pretty, seconds, status_badge, table

if TYPE_CHECKING:
    from toolnexus.core.call import ToolResult
    from toolnexus.core.run import RunResult, StepRecord

MAX_STEP_ROWS = 200
MAX_OUTPUTS = 50


def mlflow_link(result: RunResult, nexus: Any = None) -> tuple[str, str | None] | None:
    """``(text, url)`` of the MLflow run that records ``result`` (url None for a store without a web UI), from
    ``nexus``'s tracker (default: the kernel's default Nexus, if one was made); None when there is none yet."""
    if nexus is None:
        from toolnexus.notebook.display.decisions import existing_default_nexus

        nexus = existing_default_nexus()
    return tracker_link(getattr(nexus, "tracker", None), result.run_id, result.mission)


def tracker_link(tracker: Any, run_id: str | None, mission: str | None, *,
                 ui_hint: bool = False) -> tuple[str, str | None] | None:
    """``(text, url)`` of the MLflow run ``tracker`` keeps for ``run_id`` (url None for a store without a web
    UI; ``ui_hint``: the text then says how to open one), or None when there is no such run (yet)."""
    if tracker is None or run_id is None:
        return None
    mlflow_run = tracker.mlflow_run_id(run_id)
    if mlflow_run is None:
        return None
    uri = str(getattr(tracker, "uri", ""))
    experiment = tracker.experiment_of(mission)
    if uri.startswith(("http://", "https://")) and experiment:
        return f"MLflow run {mlflow_run[:8]}", f"{uri.rstrip('/')}/#/experiments/{experiment}/runs/{mlflow_run}"
    hint = f" (mlflow ui --backend-store-uri {uri})" if ui_hint else ""
    return f"MLflow run {mlflow_run}{hint}", None


def _link_html(link: tuple[str, str | None] | None) -> str:
    if link is None:
        return ""
    text, url = link
    if url is None:
        return f'<span class="tnx-dim">{esc(text)}</span>'
    return f'<a href="{esc(url)}" target="_blank" rel="noopener">{esc(text)}</a>'


def _error_text(error: Any) -> str:
    return f"{error.kind}: {error.message}" if error is not None else ""


def _step_row(record: StepRecord) -> list[str]:
    note = _error_text(record.error) or (record.skip_reason or "")
    if record.cached:
        note = "cached" + (f"; {note}" if note else "")
    items = f"{record.items} items" if record.items is not None else ""
    return [f"<code>{esc(record.step_id)}</code>", esc(f"{record.tool}@{record.version}"),
            status_badge(record.status.value), esc(seconds(record.duration) if record.started_at else ""),
            esc(str(record.attempts) if record.attempts else ""), esc(money(record.cost)), esc(items),
            f'<span class="tnx-bad">{esc(note)}</span>' if record.error is not None else esc(note)]


def _outputs(outputs: dict[str, Any]) -> str:
    if not outputs:
        return ""
    shown = list(outputs.items())[:MAX_OUTPUTS]
    rows = [[f"<code>{esc(k)}</code>", f'<pre class="tnx-pre">{esc(pretty(v))}</pre>'] for k, v in shown]
    more = len(outputs) - len(shown)
    note = f'<div class="tnx-dim">… and {more:,} more outputs</div>' if more > 0 else ""
    return table(["output", "value"], rows, escaped=True) + note


def run_html(result: RunResult, *, link: tuple[str, str | None] | None = None, budget: float | None = None,
             nexus: Any = None) -> str:
    """The run as HTML: status, duration, cost (against ``budget``), the MLflow link (``link``, default: asked of
    ``nexus``'s tracker), the error, the outputs, and a table of steps (failed first)."""
    link = link if link is not None else mlflow_link(result, nexus)
    cost = money(result.cost, result.currency) or f"0 {result.currency}"
    if budget is not None:
        cost += f" of {budget:g}"
    head = [f'<span class="tnx-title">{esc(result.mission)}</span>', status_badge(result.status.value),
            f"<code>{esc(result.run_id)}</code>", f"<span>{esc(seconds(result.duration))}</span>",
            f"<span>{esc(cost)}</span>", _link_html(link)]
    if result.resumed_from:
        head.append(f'<span class="tnx-dim">resumes <code>{esc(result.resumed_from)}</code></span>')
    parts = [f'<div class="tnx-head">{"".join(head)}</div>']
    if result.error is not None:
        parts.append(f'<div class="tnx-bad">{esc(_error_text(result.error))}</div>')
    parts.append(_outputs(result.outputs))
    records = sorted(result.steps.values(), key=lambda r: r.status.value != "failed")  # stable: plan order kept
    rows = [_step_row(r) for r in records[:MAX_STEP_ROWS]]
    if rows:
        counts: dict[str, int] = {}
        for record in records:
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        tally = "".join(badge(f"{n} {s}", STATUS_KIND.get(s, "none")) for s, n in sorted(counts.items()))
        parts.append(f'<div class="tnx-head">{tally}</div>')
        parts.append(table(["step", "tool", "status", "duration", "attempts", "cost", "fan-out", "error / note"],
                           rows, escaped=True))
        more = len(records) - len(rows)
        if more > 0:
            parts.append(f'<div class="tnx-dim">… and {more:,} more steps</div>')
    return box("run", "".join(parts))


def tool_result_html(result: ToolResult) -> str:
    """A call's result as HTML: ok or the error, the output (indented JSON, cut), warnings, duration, cost."""
    head = [f'<span class="tnx-title">{esc(f"{result.tool}@{result.version}")}</span>',
            badge("ok", "ok") if result.ok else badge("error", "bad"), f"<span>{esc(seconds(result.duration))}</span>"]
    if result.cost:
        head.append(f"<span>{esc(money(result.cost, result.currency))}</span>")
    if result.runtime:
        head.append(f'<span class="tnx-dim">{esc(result.runtime)}</span>')
    parts = [f'<div class="tnx-head">{"".join(head)}</div>']
    parts.extend(f"<div>{badge('warning', 'warn')} {esc(w)}</div>" for w in result.warnings)
    if result.error is not None:
        retry = " (retryable)" if result.error.retryable else ""
        parts.append(f'<div class="tnx-bad">{esc(_error_text(result.error) + retry)}</div>')
    else:
        parts.append(f'<pre class="tnx-pre">{esc(pretty(result.output))}</pre>')
    if result.stderr:
        parts.append(f'<details><summary>stderr</summary><pre class="tnx-pre">{esc(pretty(result.stderr))}</pre>'
                     "</details>")
    return box("result", "".join(parts))
