"""The MLflow tracking subscriber: one observer on the engine's events, never a caller in the engine.

The sink itself only appends to an in-memory report (no I/O on the run's path). A background thread
talks to MLflow: it opens the MLflow run when the mission starts, streams step metrics in batches as
steps finish, and when the run ends the finished report is written to a spool file first and then
synced. If the store or server is down or slow, the run still completes, one warning says so, and
the spool is synced on the next run or by ``toolnexus runs sync``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

from toolnexus.core.events import Event, RunFinished, RunStarted, StepFinished
from toolnexus.tracking.mlflow_sync import experiment_id, find_or_create_run, log_metrics, sync_report
from toolnexus.tracking.report import RunReport

log = logging.getLogger("toolnexus.tracking")


def default_tracking_uri(state_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite store in the state folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(state_dir / 'mlflow.db').as_posix()}"


def _quiet_http_defaults(uri: str) -> None:
    # MLflow's HTTP client retries for minutes by default; a run must not wait that long on a dead server.
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


class MlflowTracker:
    """An event sink that records every run in MLflow, durably."""

    def __init__(
        self,
        uri: str,
        spool_dir: str | Path,
        *,
        workspace: str | None = None,
        executor: str = "local",
        stream_steps: bool = True,
    ) -> None:
        self.uri = uri
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.workspace = workspace
        self.executor = executor
        self.stream_steps = stream_steps
        self._reports: dict[str, RunReport] = {}
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._client: Any = None
        self._experiments: dict[str, str] = {}
        self._mlflow_runs: dict[str, str] = {}
        self._warned = False
        self._replayed = False
        self.failures: list[str] = []
        self.synced: list[str] = []
        # A local store keeps artifacts beside it in the state folder, not in ./mlruns of the cwd.
        self.artifact_root = (self.spool_dir.parent / "mlartifacts").resolve().as_uri() \
            if uri.startswith(("sqlite:", "file:")) or "://" not in uri else None

    # -- the sink (inline, no I/O) -----------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            report = RunReport(event, executor=self.executor, workspace=self.workspace)
            self._reports[report.run_id] = report
            self._submit(
                (
                    "start",
                    {
                        "run_id": report.run_id,
                        "mission": report.mission,
                        "start_ms": report.start_ns // 1_000_000,
                        "tags": dict(report.tags),
                    },
                )
            )
            return
        report = self._reports.get(event.run_id or "")
        if report is None:
            return
        report.add(event)
        if isinstance(event, StepFinished) and self.stream_steps and not event.record.resumed:
            record = event.record
            self._submit(
                (
                    "steps",
                    (
                        report.run_id,
                        {
                            f"step.{record.step_id}.duration": record.duration,
                            f"step.{record.step_id}.cost": record.cost,
                        },
                    ),
                )
            )
        elif isinstance(event, RunFinished):
            del self._reports[report.run_id]
            path = self._spool(report.to_json())
            self._submit(("sync", path))

    def _spool(self, payload: dict[str, Any]) -> Path:
        path = self.spool_dir / f"{payload['run_id']}.json"
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(payload, default=str), encoding="utf-8")
        os.replace(partial, path)  # atomic: a reader sees a whole report or none
        return path

    def _submit(self, item: tuple[str, Any]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="toolnexus-mlflow", daemon=True)
                self._thread.start()
        self._queue.put(item)

    # -- the worker thread -------------------------------------------------------------------

    def client(self) -> Any:
        if self._client is None:
            _quiet_http_defaults(self.uri)
            # Export traces synchronously: a report leaves the spool only once its trace is stored.
            os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
            # Our stdout is the user's (`--json` output): MLflow must not print run URLs there.
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
            for noisy in ("mlflow.store.db.utils", "mlflow.tracing.export", "alembic.runtime.migration"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
            import mlflow
            from mlflow import MlflowClient

            # Traces are exported through MLflow's global tracer, which follows the global tracking URI.
            mlflow.set_tracking_uri(self.uri)
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _warn(self, what: str, exc: BaseException) -> None:
        message = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self.failures.append(message)
        if not self._warned:
            self._warned = True
            log.warning(
                "MLflow tracking at %s is unavailable (%s); runs are kept in %s and synced on the next "
                "run or by `toolnexus runs sync`",
                self.uri,
                message,
                self.spool_dir,
            )

    def _work(self) -> None:
        carry: tuple[str, Any] | None = None
        while True:
            kind, payload = carry if carry is not None else self._queue.get()
            carry = None
            try:
                if kind == "steps":
                    batch = [payload]
                    while True:  # drain: one round-trip for every step that finished meanwhile
                        try:
                            following = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if following[0] != "steps":
                            carry = following  # handled next, in order
                            break
                        batch.append(following[1])
                        self._queue.task_done()
                    self._stream(batch)
                elif kind == "start":
                    self._start(payload)
                elif kind == "sync":
                    self._sync_file(Path(payload))
            except Exception as exc:  # tracking never breaks a run: note it, keep the spool
                self._warn(kind, exc)
            finally:
                self._queue.task_done()

    def _start(self, info: dict[str, Any]) -> None:
        if not self._replayed:
            self._replayed = True
            self.sync_pending(skip={info["run_id"]})
        client = self.client()
        exp = experiment_id(client, info["mission"], self._experiments, self.artifact_root)
        self._mlflow_runs[info["run_id"]] = find_or_create_run(
            client, exp, info["run_id"], info["start_ms"], info["tags"]
        )

    def _stream(self, batch: list[tuple[str, dict[str, float]]]) -> None:
        by_run: dict[str, dict[str, float]] = {}
        for run_id, metrics in batch:
            by_run.setdefault(run_id, {}).update(metrics)
        for run_id, metrics in by_run.items():
            mlflow_run = self._mlflow_runs.get(run_id)
            if mlflow_run is not None:
                log_metrics(self.client(), mlflow_run, metrics, int(time.time() * 1000))

    def _sync_file(self, path: Path) -> bool:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return True  # synced meanwhile by another process
        self._mlflow_runs[report["run_id"]] = sync_report(self.client(), report, self._experiments, self.artifact_root)
        path.unlink(missing_ok=True)
        self.synced.append(report["run_id"])
        return True

    # -- public ------------------------------------------------------------------------------

    def pending(self) -> list[Path]:
        """Spooled reports not yet in MLflow."""
        return sorted(self.spool_dir.glob("*.json"))

    def sync_pending(self, skip: set[str] | None = None) -> tuple[int, list[str]]:
        """Sync every spooled report now; returns (how many synced, failures)."""
        synced, failed = 0, []
        for path in self.pending():
            if skip and path.stem in skip:
                continue
            try:
                self._sync_file(path)
                synced += 1
            except Exception as exc:
                failed.append(f"{path.stem}: {type(exc).__name__}: {exc}")
                self._warn("sync", exc)
        return synced, failed

    def mlflow_run_id(self, run_id: str) -> str | None:
        return self._mlflow_runs.get(run_id)

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until everything submitted so far has been handled; False if ``timeout`` ran out first.

        What is not synced by then stays in the spool, so giving up loses nothing.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True
