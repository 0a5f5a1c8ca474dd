"""Every wait on MLflow is bounded: a server that accepts connections and never answers costs a run and
its Nexus's close seconds, not minutes, and keeps the run; comparing runs right after they ran reads
their reports while MLflow does not have them yet."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import toolnexus as tn
import toolnexus.api
from tests.tracking.conftest import register_test_tools, seed_store
from tests.tracking.support import GREETING, synced
from toolnexus import RunStatus


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection, reads nothing and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.uri = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.connections.append(conn)  # held open, unanswered

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone would not)
        self.sock.close()
        for conn in self.connections:
            conn.close()
        self._thread.join(10)


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentServer]:
    # Tracking sets MLflow's HTTP variables for the process; put them back as they were afterwards.
    for name in ("TIMEOUT", "MAX_RETRIES", "BACKOFF_FACTOR"):
        monkeypatch.setenv(f"MLFLOW_HTTP_REQUEST_{name}", "")  # remembers what was there, to restore it
        monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{name}")
    server = SilentServer()
    yield server
    server.close()


def tracked(workspace: Path, **overrides: object) -> tn.Nexus:
    return register_test_tools(tn.Nexus(workspace, overrides={"tracking.enabled": True, **overrides}))


def test_a_server_that_never_answers_holds_neither_the_run_nor_closing_and_the_run_is_kept(
    workspace: Path, silent: SilentServer
) -> None:
    began = time.monotonic()
    with tracked(workspace, **{"tracking.uri": silent.uri}) as nexus:
        result = nexus.run(GREETING, {"who": "alpha"})
    elapsed = time.monotonic() - began
    assert result.ok
    assert silent.connections, "MLflow was never asked: the test would prove nothing"
    assert elapsed < 10, f"a 1-step run and its close took {elapsed:.1f}s against a silent server"
    spooled = workspace / ".toolnexus" / "tracking-spool" / f"{result.run_id}.json"
    report = json.loads(spooled.read_text(encoding="utf-8"))  # queued for the next run or `runs sync`
    assert report["status"] == "succeeded" and report["params"]["input.who"] == "alpha"
    with tn.Nexus(workspace, overrides={"tracking.enabled": False}) as reader:
        assert reader.store is not None
        stored = reader.store.get_run(result.run_id)
    assert stored is not None and stored.status == RunStatus.SUCCEEDED  # and recorded locally


def test_compare_right_after_runs_that_mlflow_cannot_have_reads_their_reports(
    workspace: Path, silent: SilentServer
) -> None:
    with tracked(workspace, **{"tracking.uri": silent.uri}) as nexus:
        first, second = nexus.run(GREETING, {"who": "alpha"}), nexus.run(GREETING, {"who": "beta"})
        began = time.monotonic()
        frame = nexus.compare(first.run_id, second.run_id)
        assert time.monotonic() - began < 5  # read from the reports, not waiting for the server
    assert list(frame.columns) == [first.run_id, second.run_id]
    assert list(frame.loc["input.who"]) == ["alpha", "beta"]
    assert list(frame.loc["status"]) == ["succeeded", "succeeded"]
    assert list(frame.loc["cost"]) == pytest.approx([first.cost, second.cost])


@pytest.fixture
def project(workspace: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The cwd, with tracking on in its toolnexus.toml, and the default Nexus (``tn.run``) on it."""
    monkeypatch.delenv("TOOLNEXUS_TRACKING__ENABLED")
    (workspace / "toolnexus.toml").write_text("[tracking]\nenabled = true\n")
    seed_store(workspace / ".toolnexus" / "mlflow.db", mlflow_template)
    monkeypatch.setattr(toolnexus.api, "_default", None)
    yield workspace
    if toolnexus.api._default is not None:
        toolnexus.api._default.close()


def test_compare_runs_right_after_run_gives_what_mlflow_gives_once_synced(project: Path) -> None:
    nexus = register_test_tools(toolnexus.api.default_nexus())
    first, second = tn.run(GREETING, {"who": "alpha"}), tn.run(GREETING, {"who": "beta"})
    right_after = tn.compare_runs(first.run_id, second.run_id)  # no LookupError while the sync is under way
    assert isinstance(right_after, pd.DataFrame)
    assert list(right_after.columns) == [first.run_id, second.run_id]
    assert list(right_after.loc["input.who"]) == ["alpha", "beta"]
    synced(nexus)
    assert nexus.tracker is not None and nexus.tracker.pending_report(first.run_id) is None  # in MLflow now
    from_mlflow = tn.compare_runs(first.run_id, second.run_id)
    pd.testing.assert_frame_equal(right_after, from_mlflow)
