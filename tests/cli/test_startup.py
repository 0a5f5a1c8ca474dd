"""``toolnexus --help`` (and a command's ``--help``) answers without importing the Nexus or the heavy libraries.

Every command module is imported to list the commands, so a module-level import of ``toolnexus.api`` (or of
anything that pulls in the engine, governance, the store or the sandbox) in any of them makes every command,
``--help`` included, pay for all of it. This is a guard on what is imported, not on time: the time is measured by
``benchmarks/cli_latency.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What `--help` must not import: toolnexus's own wiring and its heavy third-party dependencies. (Not pydantic:
# typer itself imports it to parse a command's parameters, `<command> --help` included.)
HEAVY = (
    "toolnexus.api", "toolnexus.engine", "toolnexus.governance", "toolnexus.store", "toolnexus.sandbox",
    "toolnexus.registry", "toolnexus.mission.compiler", "toolnexus.mission.model", "toolnexus.mission.plan",
    "toolnexus.mission.loader", "toolnexus.mission.expressions", "toolnexus.config", "toolnexus.tracking",
    "toolnexus.builtins",
    "networkx", "mlflow", "jsonschema", "httpx", "wasmtime", "numpy", "anyio", "jinja2", "cryptography",
)

PROBE = """
import contextlib, io, json, sys
from toolnexus.cli import main
sys.argv[0] = "toolnexus"
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main()  # the entry point itself: what it does before the command counts too
    except SystemExit as exc:
        code = exc.code
heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in json.loads(HEAVY)))
print(json.dumps({"code": code, "usage": "Usage:" in out.getvalue(), "heavy": heavy}))
"""


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["tools", "search", "--help"],
                                  ["call", "--help"], ["policy", "explain", "--help"], ["tools", "list", "--help"]],
                         ids=" ".join)
def test_help_imports_none_of_the_heavy_modules(args: list[str]) -> None:
    probe = f"HEAVY = {json.dumps(json.dumps(HEAVY))}\n{PROBE}"
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True,
                          timeout=60)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["usage"], done.stdout
    assert result["heavy"] == []


def test_a_command_still_gets_what_it_imports_when_it_runs(tmp_path: object) -> None:
    """The commands import the Nexus as they run: `validate` of a broken mission still reports it, exit 2."""
    script = ("import sys\nfrom toolnexus.cli import app\n"
              "app(['validate', sys.argv[1], '--workspace', sys.argv[2]], prog_name='toolnexus')")
    mission = f"{tmp_path}/broken.yaml"
    with open(mission, "w", encoding="utf-8") as file:
        file.write("mission: broken\nsteps:\n  - id: a\n    uses: no.such.tool\n")
    done = subprocess.run([sys.executable, "-c", script, mission, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert "no.such.tool" in done.stderr


def test_the_console_entry_point_prints_and_exits_as_the_app_does(tmp_path: object) -> None:
    """`python -m toolnexus.cli` (what the console script runs: main(), which freezes the heap at exit) prints the
    call's output and exits 0, and exits 2 with the error for an unknown tool."""
    command = [sys.executable, "-m", "toolnexus.cli", "call", "--workspace", str(tmp_path)]
    done = subprocess.run([*command, "text.render", "-a", "template=hi {{name}}", "-a", 'data={"name":"x"}'],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"text": "hi x"}
    failed = subprocess.run([*command, "no.such.tool"], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2
    assert "no tool named 'no.such.tool'" in failed.stderr
