"""Ctrl-C and SIGTERM end `toolnexus run` and `toolnexus call` within 2 s while an in-process tool computes:
a CPU-heavy ``text.render`` is interrupted in its thread, and a tool stuck in C code (whose thread cannot be
interrupted) does not keep the process from exiting. Either way the run is recorded as cancelled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.support import wait_until
from toolnexus import RunStatus, StepStatus
from toolnexus.store import StateStore, StoredRun

REPO = Path(__file__).resolve().parents[2]
PROMPTLY = 2.0  # seconds from the signal to the end of the process: what the issue asks

# A million macro calls (text.render's budget of steps): seconds of pure Python in one render. Beside it,
# a probe notes when the render is computing, so the signal is sent while it is.
HEAVY = """
mission: heavy
steps:
  - id: render
    uses: text.render@1
    with:
      template: "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
  - id: probe
    uses: probe.rendering
    with: {marker: rendering}
"""

WORKSPACE_TOOLS = '''
import sys
import time
from pathlib import Path

import anyio

from toolnexus import ToolFailure, tool


@tool(name="stuck.sleep", register=False)
def stuck(marker: str) -> str:
    """Note that it started, then sleep in C for ten minutes: an exception raised in its thread waits."""
    Path(marker).write_text("started")
    time.sleep(600)
    return "woke"


def _in_a_template(frame):
    while frame is not None:
        if frame.f_code.co_filename == "<template>":  # the code Jinja2 compiles a template to
            return True
        frame = frame.f_back
    return False


@tool(name="probe.rendering", register=False)
async def rendering(marker: str) -> str:
    """Note, once another thread of this process runs a template's code, that a render is computing."""
    deadline = time.monotonic() + 60
    while not any(map(_in_a_template, sys._current_frames().values())):
        if time.monotonic() > deadline:
            raise ToolFailure("no render started within a minute")
        await anyio.sleep(0.005)
    Path(marker).write_text("rendering")
    return "seen"
'''

STUCK = """
mission: stuck
steps:
  - id: sleep
    uses: stuck.sleep
    with: {marker: started}
"""

SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])


@pytest.fixture
def cli_workspace(workspace: Path) -> Path:
    (workspace / "workspace_tools.py").write_text(WORKSPACE_TOOLS)
    (workspace / "toolnexus.toml").write_text(
        '[tools]\nmodules = ["workspace_tools"]\nentry_points = false\n[tracking]\nenabled = false\n')
    (workspace / "heavy.yaml").write_text(HEAVY)
    (workspace / "stuck.yaml").write_text(STUCK)
    return workspace


@pytest.fixture
def store(cli_workspace: Path) -> Iterator[StateStore]:
    state = StateStore(cli_workspace / ".toolnexus" / "state.db")
    yield state
    state.close()


_LAUNCHED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_cli_left_behind() -> Iterator[None]:
    """Whatever a test asserts, the CLI it started does not outlive it (a failed wait would leave it on)."""
    yield
    while _LAUNCHED:
        proc = _LAUNCHED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def start(cli_workspace: Path, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(cli_workspace), *filter(None, [env.get("PYTHONPATH")])])
    log = open(cli_workspace / "cli.log", "wb")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen([sys.executable, "-m", "toolnexus.cli", *args], cwd=cli_workspace, env=env,
                            stdout=log, stderr=log)
    log.close()
    _LAUNCHED.append(proc)
    return proc


def signal_and_time(proc: subprocess.Popen[bytes], signum: signal.Signals, log: Path) -> float:
    """Send ``signum``; how long the process took to exit (it must exit 130)."""
    assert proc.poll() is None, log.read_text()
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    took = time.monotonic() - sent
    assert code == 130, log.read_text()
    return took


def only_run(store: StateStore) -> StoredRun | None:
    runs = store.list_runs()
    return store.get_run(runs[0].run_id) if len(runs) == 1 else None


def running(store: StateStore) -> bool:
    run = only_run(store)
    return run is not None and run.recorded_status == RunStatus.RUNNING


def assert_cancelled(store: StateStore, step: str, signum: signal.Signals) -> None:
    run = only_run(store)
    assert run is not None
    assert run.recorded_status == RunStatus.CANCELLED
    assert run.error is not None and signum.name in run.error.message
    assert run.steps[step].status == StepStatus.CANCELLED


@SIGNALS
def test_a_signal_during_a_cpu_heavy_render_ends_the_cli_within_2s(
        cli_workspace: Path, store: StateStore, signum: signal.Signals) -> None:
    proc = start(cli_workspace, "run", "heavy.yaml", "--no-progress")
    wait_until(lambda: proc.poll() is not None or ((cli_workspace / "rendering").exists() and running(store)),
               within=60, what="the render to compute")
    took = signal_and_time(proc, signum, cli_workspace / "cli.log")
    assert took < PROMPTLY, took
    assert_cancelled(store, "render", signum)


@SIGNALS
def test_a_signal_ends_the_cli_within_2s_though_a_tool_is_stuck_in_c(
        cli_workspace: Path, store: StateStore, signum: signal.Signals) -> None:
    proc = start(cli_workspace, "run", "stuck.yaml", "--no-progress")
    wait_until(lambda: proc.poll() is not None or (cli_workspace / "started").exists(), within=60,
               what="the tool to start")
    took = signal_and_time(proc, signum, cli_workspace / "cli.log")
    assert took < PROMPTLY, took
    assert_cancelled(store, "sleep", signum)
    assert "cancelled run" in (cli_workspace / "cli.log").read_text()  # printed before the process ended


def test_ctrl_c_ends_a_single_call_stuck_in_c_within_2s(cli_workspace: Path) -> None:
    proc = start(cli_workspace, "call", "stuck.sleep", "--arg", "marker=started")
    wait_until(lambda: proc.poll() is not None or (cli_workspace / "started").exists(), within=60,
               what="the tool to start")
    took = signal_and_time(proc, signal.SIGINT, cli_workspace / "cli.log")
    assert took < PROMPTLY, took
    assert "cancelled" in (cli_workspace / "cli.log").read_text()
