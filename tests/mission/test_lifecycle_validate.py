"""Lifecycle at validate time: a step using a retired tool is an error at its ``uses:`` line naming the
successor (``toolnexus validate`` exits non-zero); a deprecated or experimental one is a warning there."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from textwrap import dedent

import pytest

import toolnexus as tn
from tests.conftest import console_script
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.governance.lifecycle import LifecycleWarning

MANIFEST = dedent(f"""\
    tools:
      - name: life.old
        command: [{sys.executable!r}, -c, "print('null')"]
        lifecycle: retired
        successor: life.shout
      - name: life.aging
        command: [{sys.executable!r}, -c, "print('null')"]
        lifecycle: deprecated
        successor: life.shout
      - name: life.new
        command: [{sys.executable!r}, -c, "print('null')"]
        lifecycle: experimental
""")

MISSION = dedent("""\
    mission: lifecycle
    steps:
      - id: first
        uses: life.aging
      - id: second
        uses: life.old
      - id: third
        uses: life.new
""")


@pytest.fixture
def mission(workspace: Path) -> Path:
    (workspace / "tools").mkdir()
    (workspace / "tools" / "life.tools.yaml").write_text(MANIFEST)
    path = workspace / "lifecycle.yaml"
    path.write_text(MISSION)
    return path


def test_a_retired_tool_is_an_error_at_its_line_and_the_others_warnings(mission: Path) -> None:
    with tn.Nexus(mission.parent, store=False) as nexus, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DiagnosticError) as raised:
            nexus.compile(nexus.load(mission))
    [error] = raised.value.diagnostics
    assert (error.file, error.line) == (str(mission), 6)
    assert (error.message, error.hint) == ("step `second`: life.old@1.0.0 is retired", "use life.shout instead")
    lifecycle = [w for w in caught if issubclass(w.category, LifecycleWarning)]
    assert [(w.filename, w.lineno) for w in lifecycle] == [(str(mission), 4), (str(mission), 8)]
    assert "life.aging@1.0.0 is deprecated; use life.shout instead" in str(lifecycle[0].message)
    assert "life.new@1.0.0 is experimental" in str(lifecycle[1].message)


def test_deprecated_tools_compile_with_a_warning(mission: Path) -> None:
    mission.write_text(MISSION.split("  - id: second")[0])
    with tn.Nexus(mission.parent, store=False) as nexus, pytest.warns(LifecycleWarning, match="deprecated"):
        plan = nexus.compile(nexus.load(mission))
    assert [s.tool for s in plan.steps] == ["life.aging"]


def test_toolnexus_validate_exits_non_zero_for_a_retired_tool_with_the_line(mission: Path) -> None:
    done = subprocess.run([console_script("toolnexus"), "validate", str(mission), "--workspace", str(mission.parent)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{mission}:6:11: error: step `second`: life.old@1.0.0 is retired\n  hint: use life.shout instead" \
        in done.stderr
    assert f"{mission}:4: LifecycleWarning: step `first`: life.aging@1.0.0 is deprecated" in done.stderr
