"""Secrets of every class stay out of every sink.

Planted through real runs — a mission run and a single call, from the CLI (a real process, with MLflow
on) and from the API and MCP (in this process) — then searched for in the bytes of every sink: the CLI's
stdout and stderr (plain and ``--json``), ``runs show``, the state database and its WAL, the MLflow store,
the events a subscriber saw, MCP results and log notifications, and the log records.

The classes: an environment variable's secret value, a secret a tool declares, ``password=…`` in free
text, a token with special characters, a bare 40-hex key, a secret-named input (``api_token``), a
fragment (8+ characters) of a known secret, and a known secret's base64 and hex encodings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import string
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

import toolnexus as tn
from toolnexus.core.events import Event
from toolnexus.mcp_server.server import ToolServer

# The tool reads its secrets where a real one would: the environment, and a vault file it declares
# to toolnexus. It then leaks them in every way a tool can: output, log record and error.
TOOLS = '''
import base64, hashlib, json, logging, os
from pathlib import Path

from toolnexus import ToolFailure, tool
from toolnexus.core.secrets import declare_secret

VAULT = json.loads((Path(__file__).parent / "vault.json").read_text())
declare_secret(VAULT["declared"])
log = logging.getLogger("leaky_tools")


def _leaks(api_token: str) -> dict:
    env = os.environ["LEAKY_SERVICE_TOKEN"]
    leaks = {"note": f"connect with password={VAULT['password']} now", "special": f"token={VAULT['special']}",
             "key": f"signing with {VAULT['hex40']}", "got": hashlib.sha256(api_token.encode()).hexdigest()}
    for name, secret in (("env", env), ("declared", VAULT["declared"]), ("input", api_token)):
        leaks[name] = f"value {secret} here"
        leaks[name + "_part"] = secret[3:14]
        leaks[name + "_b64"] = base64.b64encode(secret.encode()).decode()
        leaks[name + "_hex"] = secret.encode().hex()
    return leaks


@tool(name="leaky.echo", register=False)
def echo(api_token: str = "", fail: bool = False) -> dict:
    """Return, log and (if asked) fail with every secret it knows."""
    leaks = _leaks(api_token)
    log.warning("leaking %s", leaks)
    if fail:
        raise ToolFailure("could not connect: " + " | ".join(leaks.values()), details={"seen": leaks})
    return leaks
'''

MISSION = """\
mission: leak
inputs:
  api_token: {type: string}
steps:
  - id: leak
    uses: leaky.echo
    with: {api_token: "${{ inputs.api_token }}"}
  - id: boom
    uses: leaky.echo
    with: {api_token: "${{ inputs.api_token }}", fail: true}
    continue_on_error: true
outputs:
  leaked: "${{ steps.leak.outputs }}"
  token: "${{ inputs.api_token }}"
"""


def _random(n: int) -> str:
    # Mixed classes, so a test value is a credential to every net and no word of ordinary text.
    alphabet = string.ascii_letters + string.digits
    return "Zq7" + "".join(secrets.choice(alphabet) for _ in range(n - 3))


@dataclass
class Planted:
    env: str
    declared: str
    configured: str  # in toolnexus.toml: an MCP server's secret-named `env`
    api_token: str
    password: str
    special: str
    hex40: str

    def forbidden(self) -> dict[str, str]:
        """Each planted value, and each fragment and encoding of the known ones, by a name for messages."""
        found = {"password": self.password, "special-token": self.special, "40-hex": self.hex40}
        for name, secret in (("env", self.env), ("declared", self.declared), ("configured", self.configured),
                             ("api_token", self.api_token)):
            found[name] = secret
            found[f"{name} fragment"] = secret[3:14]
            found[f"{name} base64"] = base64.b64encode(secret.encode()).decode()
            found[f"{name} hex"] = secret.encode().hex()
        return found

    def leaks_in(self, data: bytes | str) -> list[str]:
        blob = data if isinstance(data, bytes) else data.encode()
        return [name for name, value in self.forbidden().items() if value.encode() in blob]


@pytest.fixture
def planted(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Planted:
    values = Planted(env=_random(32), declared=_random(30), configured=_random(26), api_token=_random(28),
                     password="hunter2-" + _random(10), special="xK9#mQ2$vL8@pR4!", hex40=secrets.token_hex(20))
    (workspace / "vault.json").write_text(json.dumps(
        {"declared": values.declared, "password": values.password, "special": values.special,
         "hex40": values.hex40}))
    (workspace / "leaky_tools.py").write_text(TOOLS)
    (workspace / "missions").mkdir()
    (workspace / "missions" / "leak.yaml").write_text(MISSION)
    (workspace / "toolnexus.toml").write_text(
        '[tools]\nmodules = ["leaky_tools"]\n\n'
        f'[mcp.servers.vault]\ncommand = "vault-mcp"\nenabled = false\nenv = {{VAULT_TOKEN = "{values.configured}"}}\n')
    monkeypatch.setenv("LEAKY_SERVICE_TOKEN", values.env)
    return values


def _records(workspace: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file toolnexus wrote into the workspace (the state database, its WAL, the MLflow store …);
    not the files the test wrote for the tool to read its secrets from. A database's rows come once more,
    decompressed: the state store keeps plans and mission texts compressed, where no byte search sees them."""
    ours = {"vault.json", "leaky_tools.py", "toolnexus.toml"}
    for path in sorted(workspace.rglob("*")):
        if path.is_file() and path.name not in ours and "__pycache__" not in path.parts:
            yield path, path.read_bytes()
            if path.suffix == ".db":
                yield path, _rows(path)


def _rows(database: Path) -> bytes:
    values: list[bytes] = []
    with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        with suppress(zlib.error):
                            value = zlib.decompress(value)
                    values.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(values)


def _cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(workspace), "TOOLNEXUS_TRACKING__ENABLED": "true",
           "TOOLNEXUS_TRACKING__FLUSH_TIMEOUT": "240", "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "toolnexus.cli", *args], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_runs_calls_and_every_record_they_leave_hold_no_secret(workspace: Path, planted: Planted) -> None:
    token = f"api_token={planted.api_token}"
    outputs: dict[str, str] = {}
    for label, args in {
        "run": ["run", "missions/leak.yaml", "-i", token, "--no-progress"],
        "run --json": ["run", "missions/leak.yaml", "-i", token, "--json", "--no-progress"],
        "call": ["call", "leaky.echo", "-a", token],
        "call (failing)": ["call", "leaky.echo", "-a", token, "-a", "fail=true"],
    }.items():
        done = _cli(workspace, *args)
        assert done.returncode in (0, 1), f"{label}: exit {done.returncode}\n{done.stderr}"
        outputs[f"{label} stdout"], outputs[f"{label} stderr"] = done.stdout, done.stderr
    run_id = json.loads(outputs["run --json stdout"])["run_id"]
    for label, args in {"runs show": ["runs", "show", run_id], "runs show --json": ["runs", "show", run_id, "--json"],
                        "runs list": ["runs", "list"], "runs sync": ["runs", "sync"],
                        "config show": ["config", "show"], "config show --json": ["config", "show", "--json"]}.items():
        done = _cli(workspace, *args)
        assert done.returncode == 0, f"{label}: {done.stderr}"
        outputs[f"{label} stdout"], outputs[f"{label} stderr"] = done.stdout, done.stderr

    # The runs did happen, and leaked everywhere they could: the tool saw the real values.
    shown = json.loads(outputs["runs show --json stdout"])
    assert shown["steps"]["leak"]["status"] == "succeeded" and shown["steps"]["boom"]["status"] == "failed"
    assert shown["inputs"] == {"api_token": "***"}
    assert "could not connect" in outputs["call (failing) stderr"]
    assert "connect with password=***" in outputs["call stdout"]
    assert json.loads(outputs["config show --json stdout"])["mcp.servers"]["value"]["vault"]["env"] == {
        "VAULT_TOKEN": "***"}
    for label, text in outputs.items():
        assert not planted.leaks_in(text), f"{label} holds {planted.leaks_in(text)}:\n{text}"

    files = dict(_records(workspace))
    state = workspace / ".toolnexus"
    assert state / "state.db" in files and state / "mlflow.db" in files, sorted(map(str, files))
    assert any("mission.yaml" in p.name or "events" in p.name for p in files), sorted(map(str, files))
    for path, data in files.items():
        assert not planted.leaks_in(data), f"{path.relative_to(workspace)} holds {planted.leaks_in(data)}"


class _Events:
    """A bus subscriber that keeps every event it sees, as JSON."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, event: Event) -> None:
        self.seen.append(event.model_dump_json())


class _Records(logging.Handler):
    """Every log record of the process, formatted as a handler would write it (with its traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_records() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def importable(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The workspace's tools module importable here, as the CLI's PYTHONPATH makes it there."""
    monkeypatch.syspath_prepend(str(workspace))
    yield
    sys.modules.pop("leaky_tools", None)


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")  # still what 2025-11-25 clients use
async def test_api_and_mcp_runs_and_calls_leave_no_secret_in_events_results_or_logs(
        workspace: Path, planted: Planted, log_records: _Records, importable: None) -> None:
    events = _Events()
    seen: list[str] = []
    with tn.Nexus(workspace, sinks=[events]) as nexus:  # its configuration loads the tools module
        run = await nexus.arun(workspace / "missions" / "leak.yaml", {"api_token": planted.api_token})
        called = await nexus.acall("leaky.echo", {"api_token": planted.api_token})
        failed = await nexus.acall("leaky.echo", {"api_token": planted.api_token, "fail": True})
        assert run.steps["leak"].status.value == "succeeded" and called.ok and not failed.ok
        # The tool got the real input; every leak of it and of the other secrets was scrubbed on the way out.
        assert called.output["got"] == hashlib.sha256(planted.api_token.encode()).hexdigest()
        assert called.output["env"] == called.output["input"] == called.output["declared"] == "value *** here"
        assert called.output["note"] == "connect with password=*** now" and called.output["special"] == "token=***"
        seen += [run.model_dump_json(), called.model_dump_json(), failed.model_dump_json()]

        server = ToolServer(nexus, missions_dir=workspace / "missions")
        notes: list[str] = []

        async def on_log(params: Any) -> None:
            notes.append(json.dumps(params.model_dump(mode="json")))

        async with Client(server.server, mode="legacy", logging_callback=on_log) as client:
            await client.session.set_logging_level("debug")
            for name, arguments in (("leaky.echo", {"api_token": planted.api_token}),
                                    ("leaky.echo", {"api_token": planted.api_token, "fail": True}),
                                    ("mission.leak", {"api_token": planted.api_token})):
                result = await client.call_tool(name, arguments)
                seen.append(result.model_dump_json())
        server.close()
        nexus.store.flush()
    assert notes, "the MCP client got no log notification of the tool's warning"
    assert any("leaking" in line for line in log_records.lines), "the tool's log record was not seen"
    sinks = {"results": seen, "MCP log notifications": notes, "events": events.seen, "log records": log_records.lines}
    for sink, texts in sinks.items():
        for text in texts:
            assert not planted.leaks_in(text), f"{sink}: {planted.leaks_in(text)} in {text[:2000]}"
    for path, data in _records(workspace):
        assert not planted.leaks_in(data), f"{path.relative_to(workspace)} holds {planted.leaks_in(data)}"


@pytest.mark.slow
def test_a_run_on_dask_workers_leaves_no_secret_in_its_result_its_records_or_the_workers_output(
        workspace: Path, planted: Planted, importable: None, capfd: pytest.CaptureFixture[str]) -> None:
    """The Dask executor: the tool runs in a worker process (which inherits the environment and finds the
    tools module as this process does); its output comes back scrubbed, its log record on the worker too."""
    pytest.importorskip("distributed", reason="the dask extra (Dask distributed) is not installed")
    with (workspace / "toolnexus.toml").open("a") as config:
        config.write("\n[dask]\nworkers = 1\n")
    with tn.Nexus(workspace, executor="dask") as nexus:
        run = nexus.run(workspace / "missions" / "leak.yaml", {"api_token": planted.api_token})
        nexus.store.flush()
    assert run.steps["leak"].status.value == "succeeded" and run.steps["boom"].status.value == "failed"
    leaked = run.steps["leak"].output
    assert leaked["env"] == leaked["input"] == leaked["declared"] == "value *** here"
    out, err = capfd.readouterr()  # the worker process's stdout and stderr (it writes to this process's)
    assert "leaking" in err, "the tool's log record on the worker was not seen"
    for sink, text in (("result", run.model_dump_json()), ("stdout", out), ("stderr", err)):
        assert not planted.leaks_in(text), f"{sink}: {planted.leaks_in(text)} in {text[:2000]}"
    for path, data in _records(workspace):
        assert not planted.leaks_in(data), f"{path.relative_to(workspace)} holds {planted.leaks_in(data)}"
