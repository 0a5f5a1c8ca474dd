"""Writing a run report to MLflow: the run (params, tags, metrics, artifacts) and its trace.

Idempotent, so a report can be synced again after a partial failure: the MLflow run is found by its
``toolnexus.run_id`` tag before one is created, MLflow drops identical metrics, and a trace is only
built when the run has none.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from toolnexus.tracking.graph import plan_svg

T = TypeVar("T")
RUN_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED", "interrupted": "KILLED",
              "running": "RUNNING"}
_TRACING = threading.Lock()  # MLflow has one global tracer; one tracker at a time points it at its store


@contextmanager
def exporting_traces_to(uri: str) -> Iterator[None]:
    """Point MLflow's global tracer (which follows the global tracking URI) at ``uri`` meanwhile.

    Setting it for good would send another workspace's traces to this store, and the
    ``MLFLOW_TRACKING_URI`` that ``mlflow.set_tracking_uri`` exports would become every later
    Nexus's default store; so the URI the user had, and the variable, are put back afterwards.
    """
    from mlflow.tracking._tracking_service import utils

    with _TRACING:
        before, variable = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
        try:
            utils.set_tracking_uri(uri)
            yield
        finally:
            utils.set_tracking_uri(before)
            if variable is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = variable


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def experiment_id(client: Any, name: str, cache: dict[str, str], artifact_root: str | None = None) -> str:
    """The id of the experiment named after the mission, created (with artifacts under ``artifact_root``,
    for a local store) on first use."""
    if name in cache:
        return cache[name]
    found = client.get_experiment_by_name(name)
    if found is None:
        from mlflow.exceptions import MlflowException

        try:
            location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
            cache[name] = client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by another process
            cache[name] = client.get_experiment_by_name(name).experiment_id
    else:
        cache[name] = found.experiment_id
    return cache[name]


def find_or_create_run(client: Any, exp_id: str, run_id: str, start_ms: int, tags: dict[str, str]) -> str:
    """The MLflow run id for toolnexus run ``run_id``, creating the MLflow run if there is none."""
    found = client.search_runs([exp_id], filter_string=f"tags.`toolnexus.run_id` = '{run_id}'", max_results=1)
    if found:
        return str(found[0].info.run_id)
    run = client.create_run(exp_id, start_time=start_ms, tags=tags, run_name=run_id)
    return str(run.info.run_id)


def log_metrics(client: Any, mlflow_run_id: str, metrics: dict[str, float], timestamp_ms: int) -> None:
    """Send ``metrics`` to an MLflow run in as few round-trips as MLflow allows (1,000 a batch), all stamped
    ``timestamp_ms``."""
    from mlflow.entities import Metric

    entries = [Metric(k, float(v), timestamp_ms, 0) for k, v in metrics.items()]
    for chunk in _chunks(entries, 1000):
        client.log_batch(mlflow_run_id, metrics=list(chunk), synchronous=True)


def build_trace(client: Any, exp_id: str, mlflow_run_id: str, report: dict[str, Any]) -> str:
    """One trace per run: a root span for the mission, a TOOL span per step, a child span per call where a
    step made several (each retry attempt, each foreach item), and a GUARDRAIL span per governance decision
    under its call's span (from the wait to the final decision, for a call parked for approval)."""
    from mlflow.tracing.constant import SpanAttributeKey

    run_id = report["run_id"]
    end_ns = report.get("end_ns") or report["start_ns"]
    root = client.start_trace(
        name=f"mission:{report['mission']}",
        span_type="CHAIN",
        inputs=report.get("inputs") or {},
        attributes={
            "toolnexus.run_id": run_id,
            "toolnexus.plan_hash": report["tags"].get("toolnexus.plan_hash", ""),
            # The run's total on the root: MLflow's trace cost counts the top-most span that carries a
            # cost, and the root is top-most however the spans are batched on their way to the store.
            SpanAttributeKey.LLM_COST: _cost(float(report.get("metrics", {}).get("cost", 0.0))),
        },
        tags={"toolnexus.run_id": run_id},
        experiment_id=exp_id,
        start_time_ns=report["start_ns"],
        run_id=mlflow_run_id,
    )
    trace = _Trace(client, root.trace_id, root.span_id)
    steps = sorted(report.get("steps", {}).values(), key=lambda s: (s.get("started_at") or "", s["step_id"]))
    for step in steps:
        trace.step(step, report.get("attempts", {}).get(step["step_id"], []), report["start_ns"])
    for decision in report.get("decisions", []):
        trace.decision(decision)
    client.end_trace(
        trace.trace_id,
        outputs=report.get("outputs"),
        status="OK" if report["status"] == "succeeded" else "ERROR",
        end_time_ns=end_ns,
    )
    return str(trace.trace_id)


class _Trace:
    """The spans of one run's trace, as :func:`build_trace` makes them; remembers each call's span, so a
    decision goes under the span of the call it decided."""

    def __init__(self, client: Any, trace_id: str, root_id: str) -> None:
        self.client = client
        self.trace_id = trace_id
        self.root_id = root_id
        self.call_spans: dict[str, str] = {}  # call id -> its span (the step's, when the step made one call)
        self.step_spans: dict[str, str] = {}

    def step(self, step: dict[str, Any], attempts: list[dict[str, Any]], run_start_ns: int) -> None:
        """The step's span; a child span per call when it made several."""
        from mlflow.tracing.constant import SpanAttributeKey

        start_ns = min((a["start_ns"] for a in attempts), default=_iso_ns(step.get("started_at")) or run_start_ns)
        finish_ns = max((a["end_ns"] for a in attempts), default=_iso_ns(step.get("finished_at")) or start_ns)
        error = step.get("error")
        # One call: the step's span is the call's span. Several (retries, foreach items): a child each.
        single = len(attempts) <= 1
        cost_attributes = {SpanAttributeKey.LLM_COST: _cost(step.get("cost", 0.0))} if single else {}
        span = self.client.start_span(
            name=step["step_id"],
            trace_id=self.trace_id,
            parent_id=self.root_id,
            span_type="TOOL",
            inputs=attempts[0]["arguments"] if attempts else None,
            start_time_ns=start_ns,
            attributes={
                "toolnexus.tool": f"{step['tool']}@{step['version']}",
                "toolnexus.status": step["status"],
                "toolnexus.duration_s": step.get("duration", 0.0),
                "toolnexus.cost": step.get("cost", 0.0),
                "toolnexus.attempts": step.get("attempts", 0),
                "toolnexus.cached": step.get("cached", False),
                "toolnexus.resumed": step.get("resumed", False),
                "toolnexus.skip_reason": step.get("skip_reason") or "",
                "toolnexus.error": json.dumps(error) if error else "",
                "toolnexus.runtime": attempts[0].get("runtime", "") if attempts else "",
                **cost_attributes,
            },
        )
        self.step_spans[step["step_id"]] = span.span_id
        for attempt in attempts:
            self.call_spans[attempt.get("call_id", "")] = span.span_id
        for number, attempt in enumerate([] if single else attempts, start=1):
            self._attempt(step["step_id"], span.span_id, number, attempt)
        self.client.end_span(
            self.trace_id,
            span.span_id,
            outputs=_summary(step.get("output")),
            status="ERROR" if step["status"] in ("failed", "cancelled") else "OK",
            end_time_ns=max(finish_ns, start_ns),
        )

    def _attempt(self, step_id: str, parent_id: str, number: int, attempt: dict[str, Any]) -> None:
        from mlflow.tracing.constant import SpanAttributeKey

        child = self.client.start_span(
            name=f"{step_id} #{number} (attempt {attempt['attempt']})",
            trace_id=self.trace_id,
            parent_id=parent_id,
            span_type="TOOL",
            inputs=attempt["arguments"],
            start_time_ns=attempt["start_ns"],
            attributes={
                "toolnexus.tool": attempt["tool"],
                "toolnexus.runtime": attempt.get("runtime", ""),
                "toolnexus.attempt": attempt["attempt"],
                "toolnexus.duration_s": attempt.get("duration", 0.0),
                "toolnexus.cost": attempt.get("cost", 0.0),
                "toolnexus.currency": attempt.get("currency", "USD"),
                # MLflow's own cost convention, so the trace view's totals agree with ours.
                SpanAttributeKey.LLM_COST: _cost(attempt.get("cost", 0.0)),
                "toolnexus.error": json.dumps(attempt["error"]) if attempt.get("error") else "",
            },
        )
        self.call_spans[attempt.get("call_id", "")] = child.span_id
        self.client.end_span(
            self.trace_id,
            child.span_id,
            outputs=_summary(attempt.get("output")),
            status="OK" if attempt.get("ok") else "ERROR",
            end_time_ns=attempt["end_ns"],
        )

    def decision(self, entry: dict[str, Any]) -> None:
        """A GUARDRAIL span for one decided call, under the call's span (else its step's, else the root)."""
        parent_id = self.call_spans.get(entry["call_id"]) or self.step_spans.get(entry.get("step_id") or "")
        span = self.client.start_span(
            name=f"decision: {entry['verdict']}" + (f" ({entry['policy']})" if entry["policy"] else ""),
            trace_id=self.trace_id,
            parent_id=parent_id or self.root_id,
            span_type="GUARDRAIL",
            inputs={"tool": entry["tool"], "step": entry.get("step_id"), "attempt": entry.get("attempt")},
            start_time_ns=entry["start_ns"],
            attributes={f"toolnexus.{key}": entry[key] for key in DECISION_ATTRIBUTES},
        )
        self.client.end_span(self.trace_id, span.span_id, outputs={"reason": entry["reason"]},
                             status="ERROR" if entry["verdict"] == "deny" else "OK", end_time_ns=entry["end_ns"])


DECISION_ATTRIBUTES = ("verdict", "decider", "policy", "mode", "would", "ticket", "waited", "warning", "cached")
"""The attributes of a decision span, ``toolnexus.``-prefixed (``waited``: seconds between the wait and the
final decision)."""


def _cost(total: float) -> dict[str, float]:
    # Tools have no input/output split; the total is what MLflow adds up for the trace.
    return {"input_cost": 0.0, "output_cost": 0.0, "total_cost": float(total)}


def _summary(value: Any, limit: int = 2000) -> Any:
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else text[: limit - 1] + "…"


def _iso_ns(text: str | None) -> int | None:
    if not text:
        return None
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp() * 1e9)


def sync_report(
    client: Any, report: dict[str, Any], experiments: dict[str, str], artifact_root: str | None = None
) -> str:
    """Write ``report`` to MLflow; return the MLflow run id. Raises on any MLflow or network error."""
    from mlflow.entities import Param, RunTag

    exp_id = experiment_id(client, report["mission"], experiments, artifact_root)
    start_ms = report["start_ns"] // 1_000_000
    end_ms = (report.get("end_ns") or report["start_ns"]) // 1_000_000
    run = find_or_create_run(client, exp_id, report["run_id"], start_ms, {"toolnexus.run_id": report["run_id"]})
    params = [Param(k, v) for k, v in report["params"].items()]
    tags = [RunTag(k, v) for k, v in report["tags"].items()]
    for chunk in _chunks(params, 100):
        client.log_batch(run, params=list(chunk), synchronous=True)
    for chunk in _chunks(tags, 100):
        client.log_batch(run, tags=list(chunk), synchronous=True)
    log_metrics(client, run, report["metrics"], end_ms)
    with tempfile.TemporaryDirectory(prefix="toolnexus-artifacts-") as folder:
        for name, text in report.get("artifacts", {}).items():
            (Path(folder) / name).write_text(text, encoding="utf-8")
        plan_text = report.get("artifacts", {}).get("plan.json")
        if plan_text:
            from toolnexus.mission.plan import Plan

            plan = json.loads(plan_text)
            (Path(folder) / "plan.svg").write_text(plan_svg(plan), encoding="utf-8")
            compiled = Plan.model_validate(plan)
            (Path(folder) / "plan.mmd").write_text(compiled.to_mermaid(), encoding="utf-8")
            (Path(folder) / "plan.dot").write_text(compiled.to_dot(), encoding="utf-8")
        client.log_artifacts(run, folder)
    if not client.search_traces(locations=[exp_id], run_id=run, max_results=1, include_spans=False):
        import mlflow

        with exporting_traces_to(client.tracking_uri):
            build_trace(client, exp_id, run, report)
            mlflow.flush_trace_async_logging(terminate=False)
    if report["status"] != "running":
        client.set_terminated(run, RUN_STATUS.get(report["status"], "FINISHED"), end_time=end_ms)
    return run
