"""The MLflow tracking subscriber: one observer on the engine's events, never a caller in the engine.

The sink itself only appends to an in-memory report (no I/O on the run's path). A background thread
talks to MLflow: it opens the MLflow run when the mission starts, streams step metrics in batches as
steps finish, and when the run ends the finished report is written to a spool file first and then
synced. If the store or server is down or slow, the run still completes, one warning says so, and
the spool is synced on the next run or by ``toolnexus runs sync``.

With ``sync="background"`` (what CLI commands use) this process writes nothing to MLflow when a run ends:
the report is spooled and a detached process (:mod:`toolnexus.tracking.background`) writes it, so a short
command's prompt comes back at once.

Every wait on MLflow is bounded: a server request by ``timeout`` (MLflow's HTTP timeout, no retries),
and :meth:`MlflowTracker.flush` (what closing a Nexus waits for) stops at the first failure — a
server that accepts connections and never answers costs a closing process ``timeout`` seconds, not
minutes. What a flush leaves behind is in the spool; :meth:`MlflowTracker.pending_report` reads a
run's report from there (or from memory) until it is in MLflow, so comparing a run just finished
does not wait for the sync.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import math
import os
import queue
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Literal

from toolnexus.core.events import (
    CallFinished,
    Event,
    GateDecided,
    GovernanceChanged,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
)
from toolnexus.core.run import utcnow
from toolnexus.store.audit import CheckpointRow
from toolnexus.tracking.background import Syncer
from toolnexus.tracking.checkpoints import CheckpointSpool
from toolnexus.tracking.mlflow_sync import experiment_id, find_or_create_run, log_metrics, sync_report
from toolnexus.tracking.report import RunReport, identity_tags

log = logging.getLogger("toolnexus.tracking")


def default_tracking_uri(state_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite store in the state folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(state_dir / 'mlflow.db').as_posix()}"


_SET_BY_US: dict[str, str] = {}  # MLflow's variables as we set them (one the user set is left alone)


def _bound_http_requests(uri: str, timeout: float) -> None:
    """Make MLflow's HTTP client give up on a request after ``timeout`` seconds, without retrying.

    By default it waits 120 s and retries for minutes; a server that accepts connections and never
    answers would hold a closing process that long. Nothing is lost by giving up: the report is in
    the spool. MLflow reads these per request, process-wide; a variable the user set wins.
    """
    if not uri.startswith(("http://", "https://")):
        return
    wanted = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout))),  # MLflow reads whole seconds
              "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"}
    for name, value in wanted.items():
        current = os.environ.get(name)
        if current is None or current == _SET_BY_US.get(name):
            os.environ[name] = _SET_BY_US[name] = value


def _flush_at_exit(ref: weakref.ref[MlflowTracker]) -> None:
    tracker = ref()
    if tracker is None:
        return
    tracker._spool_ended()  # first what cannot wait: no ended run may go with the process
    if tracker.sync == "background":
        tracker.syncer.start()
        return
    # Then sync, unless a flush timed out already (it waited long enough) or MLflow was never reached
    # (its first use starts threads, which an interpreter that is shutting down refuses).
    if not tracker.gave_up and tracker._client is not None:
        tracker.flush(tracker.exit_timeout)


class MlflowTracker:
    """An event sink that records every run in MLflow, durably."""

    #: The events a run's report is made of (its metrics, spans and ``events.jsonl`` log); the bus sends
    #: the tracker only these. Gate decisions give a run its ``governance.*`` counts and decision spans, and
    #: governance changes (approvals requested and granted, kills) go into its event log: with tracking on,
    #: every decision's ``GateDecided`` is built (its arguments scrubbed), and the sink only appends it.
    #: Not ``StepStarted`` nor ``CallStarted``: an attempt's span starts at its first gate decision (see
    #: RunReport), and building two more events per step was most of what tracking cost a run.
    event_types: tuple[type[Event], ...] = (
        RunStarted, StepRetrying, CallFinished, StepFinished, RunFinished, GateDecided, GovernanceChanged,
    )

    def __init__(
        self,
        uri: str,
        spool_dir: str | Path,
        *,
        workspace: str | None = None,
        executor: str = "local",
        stream_steps: bool = True,
        exit_timeout: float = 60.0,
        timeout: float = 3.0,
        sync: Literal["wait", "background"] = "wait",
        register_exit: bool = True,
    ) -> None:
        self.uri = uri
        self.timeout = timeout  # seconds a request to an MLflow server may take
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.workspace = workspace
        self.executor = executor
        self.stream_steps = stream_steps
        #: "wait": this process writes reports to MLflow (on its thread) and a closing process waits for it;
        #: "background": ended runs are spooled and written by a detached process (see Syncer).
        self.sync = sync
        self.syncer = Syncer(self.spool_dir, uri, workspace)
        self._events: dict[str, list[Event]] = {}
        self._ended: dict[str, list[Event]] = {}  # runs that ended and whose report is not spooled yet
        self._streamed: dict[str, int] = {}  # per run going: how many of its events step metrics were sent for
        self._last_stream = 0.0
        self.stream_interval = 1.0  # seconds between step-metric batches while a run goes
        #: Seconds the worker waits, as a run ends, before it builds the run's report: the run's own thread
        #: still has its last steps to take (the store's last commit, handing back the result), and a report
        #: built at once would take the GIL from it (+40 % wall to a 20 ms run). A flush ends the wait.
        self.report_grace = 0.02
        self._hurry = threading.Event()  # set while a flush waits: no grace
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._client: Any = None
        self._experiments: dict[str, str] = {}
        self._mlflow_runs: dict[str, str] = {}
        self._warned = False
        self._replay_due = True  # sync the spool when MLflow is next reached: first, and after any failure
        self._starting: dict[str, RunStarted] = {}
        self._checkpoints_due = False  # audit checkpoints spooled while a run was going, not handed on yet
        self.failures: list[str] = []
        self.synced: list[str] = []
        # A local store keeps artifacts beside it in the state folder, not in ./mlruns of the cwd.
        self.artifact_root = (
            (self.spool_dir.parent / "mlartifacts").resolve().as_uri()
            if uri.startswith(("sqlite:", "file:")) or "://" not in uri
            else None
        )
        self.checkpoints = CheckpointSpool(self.spool_dir / "checkpoints", workspace or str(self.spool_dir.parent),
                                           self.artifact_root)
        # A script that never closes its Nexus (``toolnexus.run(...)``) still gets its runs synced or
        # spooled before the interpreter drops this daemon thread.
        self.exit_timeout = exit_timeout
        self.gave_up = False  # a flush timed out: the store is slow or gone
        if register_exit:
            atexit.register(_flush_at_exit, weakref.ref(self))

    # -- the sink (inline, no I/O) -----------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Add ``event`` to its run's report in memory, and hand the worker what it must send."""
        # Only appends: the report is built, scrubbed and serialised on the worker thread, and step
        # metrics are picked from the events there each stream interval (waking the worker per step
        # would make the two threads trade the GIL all through the run), so a run pays almost nothing.
        kind = type(event)
        if kind is RunStarted:
            self._events[event.run_id or ""] = [event]
            self._submit(("start", event))
            return
        events = self._events.get(event.run_id or "")
        if events is None:
            return
        events.append(event)
        if kind is RunFinished:
            run_id = event.run_id or ""
            with self._lock:
                self._ended[run_id] = self._events.pop(run_id)
            self._submit(("finish", run_id))

    def _spool(self, payload: dict[str, Any]) -> Path:
        path = self.spool_dir / f"{payload['run_id']}.json"
        # Unique per writer: flush() may spool a report the worker is spooling too.
        partial = self.spool_dir / f".{payload['run_id']}.{os.getpid()}.{threading.get_ident()}.partial"
        partial.write_text(json.dumps(payload, default=str), encoding="utf-8")
        os.replace(partial, path)  # atomic: a reader sees a whole report or none
        os.utime(path)  # dated when it entered the spool (what Syncer.start compares with a writer's start)
        return path

    def _submit(self, item: tuple[str, Any]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="toolnexus-mlflow", daemon=True)
                self._thread.start()
        self._queue.put(item)

    # -- the worker thread -------------------------------------------------------------------

    def client(self) -> Any:
        """The MlflowClient of this tracker's store (created on first use)."""
        if self._client is None:
            _bound_http_requests(self.uri, self.timeout)
            # Synchronous trace export: slower (MLflow writes each span on its own), but MLflow's trace
            # cost is then computed from the whole trace; its batched export sometimes totals a part.
            # A report leaves the spool only once its trace is stored either way.
            os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
            # Our stdout is the user's (`--json` output): MLflow must not print run URLs there.
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
            for noisy in ("mlflow.store.db.utils", "mlflow.tracing.export", "alembic.runtime.migration"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
            from mlflow import MlflowClient

            # Not mlflow.set_tracking_uri: that would redirect the user's own MLflow calls and, through
            # the MLFLOW_TRACKING_URI it exports, every later Nexus (see mlflow_sync.exporting_traces_to).
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _warn(self, what: str, exc: BaseException) -> None:
        message = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self.failures.append(message)
        self._replay_due = True
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
        while True:
            try:
                # While runs are going, wake each stream interval to send their step metrics.
                kind, payload = self._queue.get(timeout=self.stream_interval if self._events else None)
            except queue.Empty:
                self._send_step_metrics()
                continue
            try:
                self._handle(kind, payload)
            except Exception as exc:  # tracking never breaks a run: note it, keep the spool
                self._warn(kind, exc)
            finally:
                self._queue.task_done()
                with self._queue.all_tasks_done:  # a flush waiting for all of them looks at failures too
                    self._queue.all_tasks_done.notify_all()
            if self._events and time.monotonic() - self._last_stream >= self.stream_interval:
                self._send_step_metrics()

    def _handle(self, kind: str, payload: Any) -> None:
        """Do one thing the sink or a caller asked for (on the worker thread)."""
        if kind == "start":
            self._start(payload)
        elif kind == "finish":
            self._grace(payload)
            self._finish(payload)
        elif kind == "checkpoints":
            if self._events:
                # A run is going: its audit checkpoints (spooled already) wait until none is, or until the next
                # stream interval, so writing them to MLflow (or starting the detached writer) does not compete
                # with a short run for the GIL.
                self._checkpoints_due = True
                return
            self._sync_checkpoints()

    def _sync_checkpoints(self) -> None:
        """Hand the spooled audit checkpoints on: to the detached writer, or to MLflow from this thread."""
        self._checkpoints_due = False
        if self.sync == "background":
            self.syncer.start()
            return
        self._replay()
        self.checkpoints.sync(self.client(), self._experiments)

    def _new_step_metrics(self) -> dict[str, dict[str, float]]:
        """Per run going, the duration and cost of each step that finished since the last look (read on the
        worker from the events the sink appends: a list only ever appended to, so its prefix is stable)."""
        pending: dict[str, dict[str, float]] = {}
        if not self.stream_steps:
            return pending
        for run_id, events in list(self._events.items()):  # (a copy made in one step: the sink adds runs)
            seen, upto = self._streamed.get(run_id, 0), len(events)
            self._streamed[run_id] = upto
            metrics = {}
            for event in events[seen:upto]:
                if type(event) is StepFinished and not event.record.resumed:
                    record = event.record
                    metrics[f"step.{record.step_id}.duration"] = record.duration
                    metrics[f"step.{record.step_id}.cost"] = record.cost
            if metrics:
                pending[run_id] = metrics
        return pending

    def _send_step_metrics(self) -> None:
        """One round-trip per run for every step that finished since the last one."""
        pending = self._new_step_metrics()
        self._last_stream = time.monotonic()
        for run_id, metrics in pending.items():
            try:
                mlflow_run = self._ensure_run(run_id)
                if mlflow_run is not None:
                    log_metrics(self.client(), mlflow_run, metrics, int(time.time() * 1000))
            except Exception as exc:  # the final sync carries them too
                self._warn("step metrics", exc)
        if self._checkpoints_due:  # a run going a stream interval and more: its checkpoints go with its metrics
            try:
                self._sync_checkpoints()
            except Exception as exc:  # they stay spooled for the next sync
                self._warn("checkpoints", exc)

    def _report(self, events: list[Event]) -> dict[str, Any]:
        started = events[0]
        assert isinstance(started, RunStarted)
        report = RunReport(started, executor=started.executor or self.executor, workspace=self.workspace)
        for index, event in enumerate(events[1:]):
            report.add(event)
            if index % 16 == 15:
                # Let go of the GIL now and then: a thread of the run's process that wants it (the caller
                # getting its result, the next run) would otherwise wait a whole switch interval (5 ms).
                time.sleep(0)
        return report.to_json()

    def _grace(self, run_id: str) -> None:
        """Wait what is left of ``report_grace`` since ``run_id`` ended (counted from its ``RunFinished``, so runs
        that ended together wait once, not once each); a flush ends the wait."""
        with self._lock:
            events = self._ended.get(run_id)
        if not events:
            return
        left = self.report_grace - (utcnow() - events[-1].at).total_seconds()
        if left > 0:
            self._hurry.wait(min(left, self.report_grace))  # (min: a clock set back waits no longer)

    def _finish(self, run_id: str) -> None:
        self._streamed.pop(run_id, None)  # the full report has them all
        with self._lock:
            events = self._ended.get(run_id)
        if events is None:
            return
        path = self._spool(self._report(events))
        with self._lock:
            self._ended.pop(run_id, None)
        self._starting.pop(run_id, None)
        if self.sync == "background":
            self._checkpoints_due = False  # the detached process writes them too
            self.syncer.start()  # durable already: the detached process writes it, and any older report
            return
        self._sync_file(path)
        self._replay()
        if self._checkpoints_due and not self._events:  # the last run going ended: its checkpoints' turn
            self._sync_checkpoints()

    def _spool_ended(self) -> None:
        """Spool, from the calling thread, the reports of ended runs the worker has not reached."""
        with self._lock:
            ended = list(self._ended.values())
        for events in ended:
            try:
                self._spool(self._report(events))
            except Exception as exc:
                self._warn("spool", exc)

    def _start(self, started: RunStarted) -> None:
        # No I/O yet: a short run is written whole when it ends, and the MLflow run is only opened
        # once there are step metrics to stream (a stream interval in), so tracking does not compete
        # with the run it tracks.
        self._starting[started.run_id or ""] = started
        self._last_stream = time.monotonic()

    def _ensure_run(self, run_id: str) -> str | None:
        """The MLflow run of a run in progress, opened on first need."""
        if run_id in self._mlflow_runs:
            return self._mlflow_runs[run_id]
        started = self._starting.get(run_id)
        if started is None:
            return None
        self._replay(skip={run_id})
        client = self.client()
        exp = experiment_id(client, started.mission, self._experiments, self.artifact_root)
        tags = {"toolnexus.run_id": run_id, "toolnexus.mission": started.mission, "toolnexus.status": "running",
                **identity_tags(started)}
        start_ms = int(started.at.timestamp() * 1000)
        self._mlflow_runs[run_id] = find_or_create_run(client, exp, run_id, start_ms, tags)
        return self._mlflow_runs[run_id]

    def _replay(self, skip: set[str] | None = None) -> None:
        if self._replay_due and self.sync != "background":  # (there the detached process does it)
            self._replay_due = False
            self.sync_pending(skip=skip)

    def _sync_file(self, path: Path) -> bool:
        """Write one spooled report to MLflow and drop it from the spool; False if another thread or process
        is writing it (each report is locked while it is written: two writers could make two MLflow runs)."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 - held open for its lock, closed below
        except FileNotFoundError:
            return True  # synced meanwhile by another process
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if not path.exists():
                return True  # written and dropped by the writer that had the lock before us
            report = json.loads(handle.read().decode("utf-8"))
            self._mlflow_runs[report["run_id"]] = sync_report(self.client(), report, self._experiments,
                                                              self.artifact_root)
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
        if self.checkpoints.pending():  # MLflow is only reached when there is something to send
            try:
                self.checkpoints.sync(self.client(), self._experiments)
            except Exception as exc:
                failed.append(f"audit checkpoints: {type(exc).__name__}: {exc}")
                self._warn("checkpoints", exc)
        for path in self.pending():
            if skip and path.stem in skip:
                continue
            try:
                synced += self._sync_file(path)
            except Exception as exc:
                failed.append(f"{path.stem}: {type(exc).__name__}: {exc}")
                self._warn("sync", exc)
        return synced, failed

    def record_checkpoint(self, checkpoint: CheckpointRow) -> None:
        """Copy an audit checkpoint to MLflow, in the background (the ``on_checkpoint`` of the audit log).

        Never waits on MLflow: the checkpoint is spooled here (a small file, once per ``checkpoint_every``
        audit records, so it outlives this process), and the worker tags it on the workspace's run in the
        ``toolnexus-audit`` experiment (see :mod:`toolnexus.tracking.checkpoints`); one MLflow could not
        take stays spooled until the next sync.
        """
        self.checkpoints.spool(checkpoint)
        self._submit(("checkpoints", None))

    def mlflow_run_id(self, run_id: str) -> str | None:
        """The id of the MLflow run this tracker opened or synced for ``run_id``, or None if it has none yet."""
        return self._mlflow_runs.get(run_id)

    def experiment_of(self, mission: str | None) -> str | None:
        """The id of the MLflow experiment this tracker records ``mission``'s runs in, once it has one."""
        return self._experiments.get(mission) if mission is not None else None

    def pending_report(self, run_id: str) -> dict[str, Any] | None:
        """The report of an ended run that is not in MLflow yet — just finished, or spooled while MLflow
        was unreachable (by this process or another) — or None.

        Looked for in memory first, then in the spool: the worker spools a report before it drops it
        from memory, and syncs it before it deletes the spool file, so a run is always in one of the
        two or in MLflow.
        """
        with self._lock:
            events = self._ended.get(run_id)
        if events is not None:
            return self._report(events)
        if not run_id or run_id.startswith(".") or os.sep in run_id or "/" in run_id:
            return None  # not a run id: no file outside the spool is read
        try:
            report: dict[str, Any] = json.loads((self.spool_dir / f"{run_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return report

    def close(self, timeout: float | None = 60.0) -> bool:
        """What a closing process does: in "wait" mode, :meth:`flush`; in "background" mode, spool what is
        left and start the detached writer if anything is spooled (a report left by an earlier command too),
        without waiting for MLflow. True if nothing is left undone in this process."""
        if self.sync != "background":
            return self.flush(timeout)
        self._spool_ended()
        self.syncer.start()
        return True

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until everything submitted so far has been handled; False if ``timeout`` ran out first, or
        if handling one failed while others were still waiting (MLflow is unreachable or does not answer:
        each would fail the same way, and waiting for them only holds the caller).

        What is not synced by then is in the spool (written now if the worker has not got to it), so
        giving up loses nothing.
        """
        self._hurry.set()
        try:
            return self._wait_handled(timeout)
        finally:
            self._hurry.clear()

    def _wait_handled(self, timeout: float | None) -> bool:
        """:meth:`flush`'s wait (the worker has no grace meanwhile)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            failures = len(self.failures)
            while self._queue.unfinished_tasks and len(self.failures) == failures:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._queue.all_tasks_done.wait(remaining)
            if not self._queue.unfinished_tasks:
                return True
        self.gave_up = True
        self._spool_ended()
        return False
