"""Reading runs back through MLflow's own client, and a real ``mlflow server`` to point runs at."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run, Trace

import toolnexus as tn
from toolnexus import RunResult


def wait_until(condition: Callable[[], Any], within: float, what: str, every: float = 0.05) -> Any:
    """Poll ``condition`` until it is truthy (returning its value); fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        time.sleep(every)
    return value


def synced(nexus: tn.Nexus, within: float = 60.0) -> None:
    """Wait until the tracker has handled every event so far, and check nothing failed."""
    assert nexus.tracker is not None
    assert nexus.tracker.flush(within), "the tracker did not catch up"
    assert nexus.tracker.failures == []


def client_of(nexus: tn.Nexus) -> MlflowClient:
    """A client of our own on the Nexus's store (not the tracker's), to read back what it wrote."""
    assert nexus.tracker is not None
    return MlflowClient(tracking_uri=nexus.tracker.uri)


def mlflow_run(client: MlflowClient, result: RunResult) -> Run:
    """The one MLflow run of a toolnexus run, found in the experiment named after its mission."""
    experiment = client.get_experiment_by_name(result.mission)
    assert experiment is not None, f"no experiment {result.mission!r}"
    found = client.search_runs([experiment.experiment_id], filter_string=f"tags.`toolnexus.run_id` = '{result.run_id}'")
    assert len(found) == 1, f"{len(found)} MLflow runs for {result.run_id}"
    return found[0]


def trace_of(client: MlflowClient, run: Run) -> Trace:
    """The one trace linked to ``run``, with its spans."""
    found = client.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)
    assert len(found) == 1, f"{len(found)} traces for MLflow run {run.info.run_id}"
    return client.get_trace(found[0].info.trace_id)


def spans_by_name(trace: Trace) -> dict[str, Any]:
    return {span.name: span for span in trace.data.spans}


def artifact_texts(client: MlflowClient, run: Run, into: Path) -> dict[str, str]:
    """Every artifact of ``run``, downloaded, as text by relative path."""
    folder = Path(client.download_artifacts(run.info.run_id, "", str(into)))
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refuses_connections(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class MlflowServer:
    """``mlflow server`` on a loopback port, over a SQLite store; stopped and started again at will."""

    def __init__(self, folder: Path, template_db: Path) -> None:
        self.folder = folder
        db = folder / "mlflow.db"
        shutil.copyfile(template_db, db)  # migrated already: start-up skips creating the schema
        self.backend = f"sqlite:///{db}"
        self.artifacts = (folder / "artifacts").as_uri()
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.startup_seconds: list[float] = []

    def start(self, within: float = 120.0) -> None:
        assert self.process is None, "already running"
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job-runner processes: they only slow start-up
        log = open(self.folder / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - the server writes it
        began = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend,
             "--default-artifact-root", self.artifacts, "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + within
        while not self.healthy():
            if (code := self.process.poll()) is not None:
                text = (self.folder / f"server-{self.starts}.log").read_text(errors="replace")
                self.process = None
                pytest.fail(f"mlflow server exited with status {code}: {text[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"mlflow server not healthy within {within}s")
            time.sleep(0.1)
        self.startup_seconds.append(time.monotonic() - began)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server and every process it started (its process group), and wait for the port to close."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
        process.wait(15)
        wait_until(lambda: refuses_connections(self.port), 15, "the server's port to close")


# Two steps, the second with a cost: the mission the compare tests run twice with different inputs.
GREETING = """\
mission: greeting
inputs:
  who: {type: string}
  times: {type: integer, default: 2}
steps:
  - id: greet
    uses: test.echo
    with: {value: "hello ${{ inputs.who }}"}
  - id: pay
    uses: test.costly
    needs: greet
"""
