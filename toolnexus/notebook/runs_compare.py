"""Two runs side by side (``tn.compare(a, b)``): inputs, outputs, each step's status, duration and cost, from
the state store, and a link to MLflow's compare view of the same two runs when tracking recorded them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from toolnexus.notebook.display._html import box, esc, money, pretty, seconds, status_badge, table

if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.core.run import StepRecord
    from toolnexus.store.sqlite import StoredRun

Link = tuple[str, "str | None"]
"""``(text, url)``: url None when there is nothing to open (the text says why)."""

LOCAL_UI = "http://127.0.0.1:5000"
"""Where ``mlflow ui`` serves a local (file or SQLite) tracking store by default."""

VALUE_LIMIT = 400
"""Characters of an input or output value shown in a cell."""

DIFFERS = '<span class="tnx-badge tnx-warn" title="the runs differ">≠</span>'


def mlflow_compare_link(nexus: Nexus, run_ids: list[str]) -> Link | None:
    """The link to MLflow's compare view of ``run_ids`` (None without tracking); when a run is not in MLflow
    (yet, or MLflow cannot be read), the text says so and there is no url."""
    tracker = getattr(nexus, "tracker", None)
    if tracker is None:
        return None
    from toolnexus.tracking.compare import find_run

    try:
        client = nexus.tracking_client()
        found = [find_run(client, run_id) for run_id in run_ids]
    except LookupError as exc:
        return f"no MLflow compare view: {exc}", None
    ids = [run.info.run_id for run in found]
    experiments = sorted({run.info.experiment_id for run in found})
    uri = str(getattr(tracker, "uri", "") or "")
    view = (f"#/compare-runs?runs={quote(json.dumps(ids), safe='')}"
            f"&experiments={quote(json.dumps(experiments), safe='')}")
    if uri.startswith(("http://", "https://")):
        return "compare in MLflow", f"{uri.rstrip('/')}/{view}"
    return f"compare in MLflow (run `mlflow ui --backend-store-uri {uri}` first)", f"{LOCAL_UI}/{view}"


def _value(mapping: dict[str, Any], key: str) -> str:
    return pretty(mapping[key], VALUE_LIMIT) if key in mapping else ""


def _keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return list(a) + [key for key in b if key not in a]


def _step_cells(step: StepRecord | None) -> tuple[str, str, str]:
    if step is None:
        return "", "", ""
    return step.status.value, seconds(step.duration) if step.started_at else "", money(step.cost)


@dataclass
class Comparison:
    """Two stored runs (with their steps) side by side, and MLflow's compare view of them if known."""

    a: StoredRun
    b: StoredRun
    link: Link | None = None

    def values(self, kind: str) -> list[tuple[str, str, str]]:
        """``(name, value in a, value in b)`` for ``kind`` ``inputs`` or ``outputs`` (values as text)."""
        left, right = getattr(self.a, kind), getattr(self.b, kind)
        return [(key, _value(left, key), _value(right, key)) for key in _keys(left, right)]

    def steps(self) -> list[tuple[str, tuple[str, str, str], tuple[str, str, str]]]:
        """``(step id, (status, duration, cost) in a, … in b)``, in a's order, then b's own steps."""
        return [(step, _step_cells(self.a.steps.get(step)), _step_cells(self.b.steps.get(step)))
                for step in _keys(self.a.steps, self.b.steps)]

    def differences(self) -> list[str]:
        """What differs: ``input.NAME``, ``output.NAME`` and ``step.ID`` (status or cost; durations always do)."""
        found = [f"{kind[:-1]}.{name}" for kind in ("inputs", "outputs")
                 for name, left, right in self.values(kind) if left != right]
        return found + [f"step.{step}" for step, left, right in self.steps()
                        if (left[0], left[2]) != (right[0], right[2])]

    def _summary(self) -> str:
        rows = []
        for label, get in (("mission", lambda r: esc(r.mission)), ("status", lambda r: status_badge(r.status.value)),
                           ("started", lambda r: esc(r.started_at or "")), ("duration", lambda r: seconds(r.duration)),
                           ("cost", lambda r: money(r.cost or 0.0))):
            rows.append([label, get(self.a), get(self.b)])
        return table(("", self._name(self.a), self._name(self.b)), rows, escaped=True)

    @staticmethod
    def _name(run: StoredRun) -> str:
        return run.run_id

    def _values_html(self, kind: str) -> str:
        rows = [[f"<code>{esc(name)}</code>", f'<pre class="tnx-pre">{esc(left)}</pre>',
                 f'<pre class="tnx-pre">{esc(right)}</pre>', DIFFERS if left != right else ""]
                for name, left, right in self.values(kind)]
        if not rows:
            return f'<p class="tnx-dim">no {kind}</p>'
        return table((kind[:-1], self.a.run_id, self.b.run_id, ""), rows, escaped=True)

    def _steps_html(self) -> str:
        rows = [[f"<code>{esc(step)}</code>", status_badge(left[0]) if left[0] else "", esc(left[1]), esc(left[2]),
                 status_badge(right[0]) if right[0] else "", esc(right[1]), esc(right[2]),
                 DIFFERS if (left[0], left[2]) != (right[0], right[2]) else ""]
                for step, left, right in self.steps()]
        a, b = self.a.run_id[-8:], self.b.run_id[-8:]
        headers = ("step", f"status {a}", f"duration {a}", f"cost {a}", f"status {b}", f"duration {b}", f"cost {b}", "")
        return table(headers, rows, escaped=True)

    def _link_html(self) -> str:
        if self.link is None:
            return '<span class="tnx-dim">MLflow tracking is off for this workspace</span>'
        text, url = self.link
        if url is None:
            return f'<span class="tnx-dim">{esc(text)}</span>'
        return f'<a href="{esc(url)}" target="_blank" rel="noopener">{esc(text)}</a>'

    def _repr_html_(self) -> str:
        head = (f'<div class="tnx-head"><span class="tnx-title">{esc(self.a.run_id)} vs {esc(self.b.run_id)}</span>'
                f"{self._link_html()}</div>")
        return box("compare", head + self._summary() + "<h4>Inputs</h4>" + self._values_html("inputs")
                   + "<h4>Outputs</h4>" + self._values_html("outputs") + "<h4>Steps</h4>" + self._steps_html())

    def __repr__(self) -> str:
        lines = [f"{self.a.run_id} vs {self.b.run_id}",
                 f"  status    {self.a.status.value} | {self.b.status.value}",
                 f"  duration  {seconds(self.a.duration)} | {seconds(self.b.duration)}",
                 f"  cost      {money(self.a.cost or 0.0) or '0'} | {money(self.b.cost or 0.0) or '0'}"]
        differing = self.differences()
        lines.append("  differs: " + (", ".join(differing) if differing else "nothing but timings"))
        if self.link is not None:
            lines.append(f"  {self.link[0]}" + (f": {self.link[1]}" if self.link[1] else ""))
        return "\n".join(lines)
