"""Writing spooled run reports to MLflow from a detached process, so a short command never waits for MLflow.

A CLI command's run is over in a fraction of a second; writing it to MLflow (importing MLflow, opening its
store, a run with its metrics, artifacts and trace) takes seconds. With ``tracking.sync = "background"`` the
command only spools the run's report (a local JSON file: durable the moment the run ends) and starts this
module as a process of its own, in a new session, which writes every spooled report and exits. The prompt
comes back at once; the run is in MLflow a few seconds later. If the process cannot reach MLflow, or is
killed, the reports stay in the spool for the next command's syncer or ``toolnexus runs sync``.

One syncer works on a spool at a time (an exclusive ``flock`` on ``.syncer.lock``); one started meanwhile
waits for the lock, then writes what is left (usually nothing), so a report spooled while another syncer
works, or fails, is never left behind. The last failure is kept in ``.sync-failed`` for the
next command to report (see :func:`last_failure`).

    python -c "from toolnexus.tracking.background import main; raise SystemExit(main())" SPOOL_DIR URI [WORKSPACE]
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LOCK_NAME = ".syncer.lock"
FAILED_NAME = ".sync-failed"
LOG_NAME = "sync.log"

log = logging.getLogger("toolnexus.tracking")


@contextlib.contextmanager
def _exclusive(spool_dir: Path) -> Iterator[None]:
    """Hold the spool's syncer lock meanwhile (waiting for another syncer to finish first)."""
    with open(spool_dir / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pending(spool_dir: Path) -> bool:
    return any(spool_dir.glob("*.json")) or any((spool_dir / "checkpoints").glob("*.json"))


def sync_spool(spool_dir: Path, uri: str, workspace: str | None = None) -> tuple[int, list[str]]:
    """Write every spooled report (and audit checkpoint) to MLflow at ``uri``, holding the spool's lock;
    returns (how many written, failures). What fails stays spooled for the next syncer."""
    if not _pending(spool_dir):
        return 0, []
    with _exclusive(spool_dir):
        if not _pending(spool_dir):
            return 0, []  # the syncer we waited for wrote it all
        from toolnexus.tracking.tracker import MlflowTracker

        tracker = MlflowTracker(uri, spool_dir, workspace=workspace, sync="wait", register_exit=False)
        written, failed = tracker.sync_pending()
        _note_failure(spool_dir, failed)
    return written, failed


def _note_failure(spool_dir: Path, failed: list[str]) -> None:
    marker = spool_dir / FAILED_NAME
    if failed:
        marker.write_text(json.dumps({"at": time.time(), "failures": failed[:5]}), encoding="utf-8")
    else:
        marker.unlink(missing_ok=True)


def last_failure(spool_dir: Path) -> str | None:
    """The first failure of the last background sync that failed (None once one has succeeded)."""
    try:
        failures = json.loads((spool_dir / FAILED_NAME).read_text(encoding="utf-8"))["failures"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(failures[0]) if failures else None


def _newest(spool_dir: Path) -> float | None:
    """When the newest spooled report entered the spool (None: none); one written meanwhile is skipped."""
    times = []
    for path in spool_dir.glob("*.json"):
        with contextlib.suppress(FileNotFoundError):  # written to MLflow and dropped since the listing
            times.append(path.stat().st_mtime)
    return max(times, default=None)


class Syncer:
    """Starts the detached sync process of one spool, at most one of this process's at a time."""

    def __init__(self, spool_dir: Path, uri: str, workspace: str | None) -> None:
        self.spool_dir = spool_dir
        self.uri = uri
        self.workspace = workspace
        self._process: subprocess.Popen[bytes] | None = None
        self._warned = False
        self._started_at = 0.0
        self._lock = threading.Lock()  # the tracker's thread and a closing thread may both start one

    def start(self) -> bool:
        """Start a syncer unless nothing is spooled, or one of ours is going that started after the last
        report was spooled (so it will see it); True if one was started. Another one waits for the first."""
        with self._lock:
            return self._start()

    def _start(self) -> bool:
        newest = _newest(self.spool_dir)
        if newest is None and not _pending(self.spool_dir):
            return False
        if self._process is not None and self._process.poll() is None and newest is not None \
                and newest < self._started_at:
            return False
        self._warn_if_failing()
        argv = [sys.executable, "-c", _ENTRY, str(self.spool_dir), self.uri]
        if self.workspace:
            argv.append(self.workspace)
        self._started_at = time.time()
        try:
            with open(self.spool_dir / LOG_NAME, "ab") as logfile:
                # A session of its own: a Ctrl-C in the terminal, or the end of the command, does not stop it.
                self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                 stderr=logfile, start_new_session=True, close_fds=True)
        except OSError as exc:  # (no process or file to be had): closing a Nexus must not fail for it
            log.warning("could not start the MLflow writer (%s); runs stay in %s for `toolnexus runs sync`",
                        exc, self.spool_dir)
            return False
        return True

    def _warn_if_failing(self) -> None:
        failure = last_failure(self.spool_dir)
        if failure is not None and not self._warned:
            self._warned = True
            log.warning("MLflow tracking at %s was unavailable (%s); runs are kept in %s and synced in the "
                        "background after the next run, or by `toolnexus runs sync`", self.uri, failure,
                        self.spool_dir)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the syncer this process started last (tests, ``runs sync``); its exit code, or None."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def main(argv: list[str] | None = None, stderr: IO[str] | None = None) -> int:
    """The detached process: sync the spool named on the command line; exit 1 if something failed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print(__doc__, file=stderr or sys.stderr)
        return 2
    logging.basicConfig(stream=stderr or sys.stderr, level=logging.WARNING,
                        format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(name)s: %(message)s")
    from toolnexus.core.secrets import install_log_scrubbing

    install_log_scrubbing()
    _, failed = sync_spool(Path(args[0]), args[1], args[2] if len(args) == 3 else None)
    return 1 if failed else 0


# ``-c``, not ``-m``: the package imports this module before runpy would run it as __main__.
_ENTRY = "from toolnexus.tracking.background import main; raise SystemExit(main())"
