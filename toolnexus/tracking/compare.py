"""Comparing runs side by side, read back from MLflow."""

from __future__ import annotations

from typing import Any


def find_run(client: Any, run_id: str) -> Any:
    """The MLflow run for a toolnexus run id (or an MLflow run id); LookupError if there is none."""
    from mlflow.exceptions import MlflowException

    experiments = [e.experiment_id for e in client.search_experiments()]
    if experiments:
        found = client.search_runs(experiments, filter_string=f"tags.`toolnexus.run_id` = '{run_id}'", max_results=1)
        if found:
            return found[0]
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise LookupError(f"no run {run_id!r} in MLflow at {client.tracking_uri}") from None


def compare_runs(run_ids: list[str], client: Any) -> Any:
    """A pandas DataFrame: one column per run, one row per field — status, mission, duration, cost,
    inputs (``input.*``), tool versions (``tool.*``), and each step's status, duration and cost."""
    import pandas as pd

    columns: dict[str, dict[str, Any]] = {}
    for run_id in run_ids:
        run = find_run(client, run_id)
        data = run.data
        column: dict[str, Any] = {
            "mission": data.tags.get("toolnexus.mission"),
            "status": data.tags.get("toolnexus.status", run.info.status),
            "plan_hash": data.tags.get("toolnexus.plan_hash"),
            "duration": data.metrics.get("duration"),
            "cost": data.metrics.get("cost"),
        }
        for key, value in sorted(data.params.items()):
            if key.startswith("input."):
                column[key] = value
        for key, value in sorted(data.tags.items()):
            if key.startswith(("tool.", "step.")):
                column[key] = value
        for key, value in sorted(data.metrics.items()):
            if key.startswith(("step.", "steps_")):
                column[key] = value
        columns[data.tags.get("toolnexus.run_id", run_id)] = column
    frame = pd.DataFrame(columns)
    return frame.reindex(sorted(frame.index, key=_row_order))


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
