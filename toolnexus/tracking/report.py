"""A run's tracking report, built from engine events: everything MLflow will hold, as plain JSON.

Building it needs no MLflow and no network, so a report can be written to disk the moment a run ends
and synced whenever the tracking store is reachable — nothing is lost when it is not.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from toolnexus.core.events import (
    CallFinished,
    Event,
    GateDecided,
    RunFinished,
    RunStarted,
    StepFinished,
)
from toolnexus.core.run import StepStatus
from toolnexus.core.secrets import scrub, scrub_text
from toolnexus.tracking.decisions import DecisionLog

PARAM_LIMIT = 6000  # MLflow's limit on a param value
SUMMARY_LIMIT = 500


def _ns(event: Event) -> int:
    return int(event.at.timestamp() * 1e9)


def _short(value: Any, limit: int = SUMMARY_LIMIT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def git_commit(folder: str | Path) -> str | None:
    """The HEAD commit of the repository holding ``folder``, if it is one."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _scrub_strings(value: Any) -> Any:
    """``value`` with credential-looking strings redacted, keeping its shape (keys are not judged)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_strings(v) for v in value]
    return value


def identity_tags(started: RunStarted) -> dict[str, str]:
    """The tags that say who started a run (principal, surface, tenant where known) and its correlation id."""
    tags = {"toolnexus.correlation_id": started.correlation_id or started.run_id or ""}
    caller = started.caller
    if caller is not None:
        tags["toolnexus.principal"] = caller.principal
        tags["toolnexus.surface"] = caller.surface.value
        if caller.tenant:
            tags["toolnexus.tenant"] = caller.tenant
    return tags


class RunReport:
    """Accumulates one run's events into params, tags, metrics, spans and artifacts."""

    def __init__(self, started: RunStarted, *, executor: str = "local", workspace: str | None = None) -> None:
        self.run_id = started.run_id or ""
        self.mission = started.mission
        self.start_ns = _ns(started)
        plan = started.plan or {}
        steps = plan.get("steps", [])
        self.params: dict[str, str] = {
            "mission_version": str(started.mission_version or ""),
            "executor": executor,
            "concurrency": str(plan.get("concurrency", "")),
        }
        for name, value in scrub(started.inputs).items():
            self.params[f"input.{name}"] = _short(value, PARAM_LIMIT)
        for step in steps:
            self.params[f"runtime.{step['id']}"] = step.get("runtime", "")
        self.tags: dict[str, str] = {
            "toolnexus.run_id": self.run_id,
            "toolnexus.mission": started.mission,
            "toolnexus.plan_hash": started.plan_hash,
            "mlflow.runName": self.run_id,
        }
        if started.resumed_from:
            self.tags["toolnexus.resumed_from"] = started.resumed_from
        self.tags.update(identity_tags(started))
        for step in steps:
            self.tags[f"tool.{step['tool']}"] = step.get("version", "")
        if workspace is not None:
            commit = git_commit(workspace)
            if commit:
                self.tags["mlflow.source.git.commit"] = commit
                self.tags["toolnexus.git_commit"] = commit
        self.metrics: dict[str, float] = {}
        self.step_metrics: dict[str, float] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.attempts: dict[str, list[dict[str, Any]]] = {}
        self._decided: dict[str, int] = {}  # call id → when the gate first decided it (ns)
        self.decisions = DecisionLog()
        self.artifacts: dict[str, str] = {}
        # The mission text and plan as run, less credential-looking values (a literal token in `with:`);
        # only values are touched, so plan.json still loads as a Plan.
        if started.source:
            self.artifacts["mission.yaml"] = scrub_text(started.source)
        if started.plan:
            self.artifacts["plan.json"] = json.dumps(_scrub_strings(started.plan), indent=2, sort_keys=True)
        self.events: list[str] = []
        self._log(started)
        self.inputs = scrub(started.inputs)
        self.status = "running"
        self.end_ns: int | None = None
        self.outputs: Any = None
        self.error: dict[str, Any] | None = None
        self.currency = "USD"

    def _log(self, event: Event) -> None:
        # Events carry inputs, call arguments, outputs and error messages as they were: scrubbed, like
        # everything else that leaves for MLflow.
        self.events.append(json.dumps(scrub(event.model_dump(mode="json")), default=str))

    def add(self, event: Event) -> None:
        """Fold the next event of the run into the report (every one also goes into its ``events.jsonl`` log)."""
        self._log(event)
        if isinstance(event, CallFinished) and event.call.step_id:
            self._attempt(event)
        elif isinstance(event, StepFinished):
            record = event.record
            self.steps[record.step_id] = scrub(record.model_dump(mode="json"))
            self.tags[f"step.{record.step_id}.status"] = record.status.value
            if not record.resumed:
                self.step_metrics[f"step.{record.step_id}.duration"] = record.duration
                self.step_metrics[f"step.{record.step_id}.cost"] = record.cost
                self.step_metrics[f"step.{record.step_id}.attempts"] = float(record.attempts)
        elif isinstance(event, GateDecided):
            self.decisions.add(event)
            self._decided.setdefault(event.call.id, _ns(event))
        elif isinstance(event, RunFinished):
            self._finished(event)

    def _attempt(self, event: CallFinished) -> None:
        """A step's attempt, for its span: from its first gate decision (what follows resolving and checking its
        arguments, microseconds after it began; the tracker takes no ``CallStarted`` event, one per call that
        would cost every run) — or, decided by nobody, from the runtime's start — to its end."""
        result, end_ns = event.result, _ns(event)
        start_ns = self._decided.pop(event.call.id, None)
        if start_ns is None:
            start_ns = end_ns - int(result.duration * 1e9)
        error = result.error
        self.attempts.setdefault(event.call.step_id or "", []).append({
            "call_id": event.call.id, "step_id": event.call.step_id, "attempt": event.call.attempt,
            "start_ns": start_ns, "end_ns": end_ns, "arguments": scrub(event.call.arguments),
            "tool": f"{event.call.tool}@{event.call.version or ''}", "duration": result.duration,
            "cost": result.cost, "currency": result.currency, "runtime": result.runtime, "ok": result.ok,
            "output": scrub(result.output) if result.ok else None,
            "error": scrub(error.model_dump(mode="json")) if error else None,
        })

    def _finished(self, event: RunFinished) -> None:
        """The run's outcome: its status, outputs, totals and counts."""
        result = event.result
        self.status = result.status.value
        self.end_ns = _ns(event)
        self.outputs = scrub(result.outputs)
        self.error = scrub(result.error.model_dump(mode="json")) if result.error else None
        self.currency = result.currency
        counts = {s.value: 0 for s in StepStatus}
        cached = 0
        per_tool: dict[str, float] = {}
        for record in result.steps.values():
            counts[record.status.value] += 1
            cached += int(record.cached)
            per_tool[record.tool] = per_tool.get(record.tool, 0.0) + record.cost
        self.metrics.update(
            {
                "duration": result.duration,
                "cost": result.cost,
                "steps_succeeded": counts["succeeded"],
                "steps_failed": counts["failed"],
                "steps_skipped": counts["skipped"],
                "steps_cancelled": counts["cancelled"],
                "steps_cached": cached,
            }
        )
        for tool, cost in per_tool.items():
            self.metrics[f"tool.{tool}.cost"] = cost
        self.decisions.close(self.end_ns)
        self.metrics.update(self.decisions.metrics())
        self.tags["toolnexus.status"] = self.status
        self.artifacts["outputs.json"] = json.dumps(self.outputs, indent=2, default=str, sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        """The whole report as JSON-compatible data (what a spool file holds)."""
        self.artifacts["events.jsonl"] = "\n".join(self.events) + "\n"
        return {
            "version": 1,
            "run_id": self.run_id,
            "mission": self.mission,
            "status": self.status,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "params": self.params,
            "tags": self.tags,
            "metrics": {**self.step_metrics, **self.metrics},
            "steps": self.steps,
            "attempts": self.attempts,
            "decisions": self.decisions.entries,
            "artifacts": self.artifacts,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error": self.error,
            "currency": self.currency,
        }
