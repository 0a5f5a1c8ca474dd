"""Past runs in a notebook: ``tn.runs()`` lists them as a table, ``tn.compare(a, b)`` shows two side by side.

Both read the workspace's state store — the record of every run, whichever surface started it — and return
objects that display as self-contained HTML (``_repr_html_``: no script, no CDN; it reads the same in a
static export) and as plain text elsewhere. :func:`compare` adds a link to MLflow's compare view of the same
runs when tracking has recorded them (see :mod:`toolnexus.notebook.runs_compare`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolnexus.errors import NotFound
from toolnexus.notebook.display._html import box, esc, money, seconds, status_badge, table
from toolnexus.notebook.runs_compare import Comparison, mlflow_compare_link

if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.store.sqlite import StateStore, StoredRun

__all__ = ["Comparison", "RunsTable", "UnknownRun", "compare", "runs"]


class UnknownRun(NotFound, LookupError):
    """No run (or several) matches the id given."""

    def __init__(self, message: str, hint: str | None = "see tn.runs()") -> None:
        super().__init__(message)
        self.hint = hint

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the message and the hint."""
        return [f"{type(self).__name__}: {self}" + (f" ({self.hint})" if self.hint else "")]


@dataclass
class RunsTable:
    """Past runs, newest first, with how many steps each has (``runs``: the stored runs)."""

    runs: list[StoredRun]
    steps: dict[str, int] = field(default_factory=dict)
    mission: str | None = None

    def rows(self) -> list[list[str]]:
        """One row of text per run: id, mission, status, started, duration, cost, steps."""
        return [[run.run_id, run.mission, run.status.value, run.started_at or "", seconds(run.duration),
                 money(run.cost or 0.0), str(self.steps.get(run.run_id, 0))] for run in self.runs]

    def _repr_html_(self) -> str:
        title = f"runs of {self.mission}" if self.mission else "recent runs"
        if not self.runs:
            return box("runs", f'<div class="tnx-head"><span class="tnx-title">{esc(title)}</span></div>'
                               '<span class="tnx-dim">no run yet</span>')
        rows = [[f"<code>{esc(row[0])}</code>", esc(row[1]), status_badge(row[2]), *(esc(c) for c in row[3:])]
                for row in self.rows()]
        return box("runs", f'<div class="tnx-head"><span class="tnx-title">{esc(title)}</span>'
                           f'<span class="tnx-dim">{len(self.runs)} shown, newest first</span></div>'
                           + table(HEADERS, rows, escaped=True))

    def __repr__(self) -> str:
        if not self.runs:
            return "no run yet"
        rows = [HEADERS, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                         for row in rows)


HEADERS = ("run", "mission", "status", "started", "duration", "cost", "steps")


def _nexus(nexus: Nexus | None) -> Nexus:
    if nexus is None:
        from toolnexus.api import default_nexus

        nexus = default_nexus()
    return nexus


def _store(nexus: Nexus) -> StateStore:
    if nexus.store is None:
        raise UnknownRun("this Nexus keeps no state store, so no runs", hint="use Nexus(store=True)")
    return nexus.store


def runs(nexus: Nexus | None = None, limit: int = 20, mission: str | None = None) -> RunsTable:
    """The ``limit`` most recent runs of the workspace (of ``mission`` only, if given), as a table."""
    store = _store(_nexus(nexus))
    found = store.list_runs(limit, mission)
    counts = {run.run_id: _step_count(store, run.run_id) for run in found}
    return RunsTable(found, counts, mission)


def _step_count(store: StateStore, run_id: str) -> int:
    row = store.connection().execute("SELECT COUNT(*) FROM steps WHERE run_id = ?", (run_id,)).fetchone()
    return int(row[0])


def _run_id(run: Any) -> str:
    """The run id of ``run``: an id (or a unique prefix), or anything with a ``run_id`` (a RunResult)."""
    return str(getattr(run, "run_id", run))


def compare(run_a: Any, run_b: Any, nexus: Nexus | None = None) -> Comparison:
    """Two runs side by side — inputs, outputs, each step's status, duration and cost — with a link to
    MLflow's compare view of the same runs when tracking recorded them. ``run_a``/``run_b``: run ids (a unique
    prefix will do) or RunResults."""
    nexus = _nexus(nexus)
    store = _store(nexus)
    stored = []
    for run in (run_a, run_b):
        found = store.get_run(_run_id(run))
        if found is None:
            raise UnknownRun(f"no run {_run_id(run)!r} (or several) in {store.where}")
        stored.append(found)
    return Comparison(stored[0], stored[1], mlflow_compare_link(nexus, [r.run_id for r in stored]))
