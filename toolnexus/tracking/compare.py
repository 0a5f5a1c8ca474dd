"""Comparing runs side by side, read back from MLflow (or from a report not in MLflow yet)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PendingReports = Callable[[str], "dict[str, Any] | None"]


def find_run(client: Any, run_id: str) -> Any:
    """The MLflow run for a toolnexus run id (or an MLflow run id); LookupError if there is none."""
    from mlflow.exceptions import MlflowException

    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
    except MlflowException as exc:  # a server that is down or does not answer (in its bounded time)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LookupError(f"cannot read run {run_id!r}: MLflow at {client.tracking_uri} is unavailable ({first})") \
            from None
    if experiments:
        found = client.search_runs(experiments, filter_string=f"tags.`toolnexus.run_id` = '{run_id}'", max_results=1)
        if found:
            return found[0]
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise LookupError(f"no run {run_id!r} in MLflow at {client.tracking_uri}") from None


def compare_runs(run_ids: list[str], client: Any, pending: PendingReports | None = None) -> Any:
    """A pandas DataFrame: one column per run, one row per field — status, mission, duration, cost,
    inputs (``input.*``), tool versions (``tool.*``), and each step's status, duration and cost.

    ``pending`` gives the report of a run not in MLflow yet (see ``MlflowTracker.pending_report``):
    such a run is read from it, the same fields MLflow would give once the report is synced.
    ``client`` is an MlflowClient, or a function returning one: then MLflow is only reached for runs
    that are not pending.
    """
    import pandas as pd

    columns: dict[str, dict[str, Any]] = {}
    for run_id in run_ids:
        report = pending(run_id) if pending is not None else None
        if report is not None:
            key, column = _report_column(report)
        else:
            if callable(client):
                client = client()
            key, column = _mlflow_column(find_run(client, run_id), run_id)
        columns[key] = column
    frame = pd.DataFrame(columns)
    return frame.reindex(sorted(frame.index, key=_row_order))


def _mlflow_column(run: Any, run_id: str) -> tuple[str, dict[str, Any]]:
    data = run.data
    return data.tags.get("toolnexus.run_id", run_id), _column(data.params, data.tags, data.metrics, run.info.status)


def _report_column(report: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # What sync_report would log: params and tags as strings, metrics as floats.
    metrics = {key: float(value) for key, value in report.get("metrics", {}).items()}
    params = {key: str(value) for key, value in report.get("params", {}).items()}
    tags = {key: str(value) for key, value in report.get("tags", {}).items()}
    return report["run_id"], _column(params, tags, metrics, str(report.get("status", "")))


def _column(params: dict[str, str], tags: dict[str, str], metrics: dict[str, float], status: str) -> dict[str, Any]:
    column: dict[str, Any] = {
        "mission": tags.get("toolnexus.mission"),
        "status": tags.get("toolnexus.status", status),
        "plan_hash": tags.get("toolnexus.plan_hash"),
        "duration": metrics.get("duration"),
        "cost": metrics.get("cost"),
    }
    for key, value in sorted(params.items()):
        if key.startswith("input."):
            column[key] = value
    for key, value in sorted(tags.items()):
        if key.startswith(("tool.", "step.")):
            column[key] = value
    for key, value in sorted(metrics.items()):
        if key.startswith(("step.", "steps_")):
            column[key] = value
    return column


_FIELD_ORDER = {"status": 0, "duration": 1, "cost": 2, "attempts": 3}


def _row_order(label: str) -> tuple[int, str, int]:
    """Summary first, then inputs, tool versions and counts, then each step's fields together."""
    head = {"mission": 0, "status": 1, "plan_hash": 2, "duration": 3, "cost": 4}
    if label in head:
        return (0, "", head[label])
    for rank, prefix in enumerate(("input.", "tool.", "steps_"), start=1):
        if label.startswith(prefix):
            return (rank, label, 0)
    step, _, field = label.removeprefix("step.").rpartition(".")
    return (9, step, _FIELD_ORDER.get(field, 9))


def differing_rows(frame: Any) -> list[str]:
    """Row labels whose values are not the same in every column."""
    return [label for label, row in frame.iterrows() if row.astype(str).nunique(dropna=False) > 1]
