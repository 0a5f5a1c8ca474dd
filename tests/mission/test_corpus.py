"""The bad-input corpus: every broken mission in ``corpus/`` gets exactly the diagnostics its header promises.

Each corpus file starts with comment lines::

    # expect: LINE:COL <substring of the message>
    # hint: <substring of that diagnostic's hint>      (optional, applies to the expect line above)

``toolnexus validate`` must exit with status 2, print every expected ``file:LINE:COL: error: …`` line,
print no error the header does not promise (every problem in one pass, and nothing spurious), and
never a traceback.

Hostile files (``hostile_*.yaml``, and the large ones generated below rather than committed) go through
the real command line in a fresh interpreter, which must also answer within seconds and a bounded
peak memory: no crash, no runaway, whatever the input.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

import toolnexus as tn
from tests.measure import run_measured
from toolnexus.cli import app
from toolnexus.core.diagnostics import DiagnosticError

CORPUS = Path(__file__).parent / "corpus"
ALL_FILES = sorted(CORPUS.glob("*.yaml"))
HOSTILE = sorted(CORPUS.glob("hostile_*.yaml"))
FILES = [path for path in ALL_FILES if path not in HOSTILE]
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+)$")
HINT = re.compile(r"^# hint: (.+)$")


@dataclass
class Expected:
    line: int
    column: int
    message: str
    hints: list[str] = field(default_factory=list)


def expectations(path: Path) -> list[Expected]:
    found: list[Expected] = []
    # Hostile files may hold bytes that are not UTF-8 below their (UTF-8) header.
    for text in path.read_bytes().decode("utf-8", "replace").splitlines():
        if m := EXPECT.match(text):
            found.append(Expected(int(m.group(1)), int(m.group(2)), m.group(3)))
        elif (m := HINT.match(text)) and found:
            found[-1].hints.append(m.group(1))
    return found


@dataclass
class Reported:
    line: int
    column: int
    message: str
    hint: str | None


def reported(stderr: str, file: str) -> list[Reported]:
    """The positioned diagnostics in the CLI's output, each with the hint line that follows it."""
    pattern = re.compile(rf"^{re.escape(file)}:(\d+):(\d+): error: (.*)$")
    lines = stderr.splitlines()
    out = []
    for i, text in enumerate(lines):
        if m := pattern.match(text):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            hint = following.strip()[len("hint: ") :] if following.strip().startswith("hint: ") else None
            out.append(Reported(int(m.group(1)), int(m.group(2)), m.group(3), hint))
    return out


def validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"validate raised {result.exception!r}\n{result.output}")
    return result.exit_code, result.stderr


def test_the_corpus_is_there_and_every_file_promises_something() -> None:
    assert len(FILES) >= 40
    assert len(HOSTILE) >= 7
    for path in ALL_FILES:
        assert expectations(path), f"{path.name} has no `# expect:` line"


def assert_exactly_expected(path: Path, stderr: str) -> None:
    """Every diagnostic the header of ``path`` promises, with its hints, and no other."""
    got = reported(stderr, str(path))
    expected = expectations(path)
    unmatched = list(got)
    for want in expected:
        match = next(
            (r for r in unmatched if (r.line, r.column) == (want.line, want.column) and want.message in r.message), None
        )
        assert match is not None, f"missing {want.line}:{want.column} {want.message!r} in:\n{stderr}"
        for hint in want.hints:
            assert match.hint is not None and hint in match.hint, f"{want.message!r}: no hint {hint!r} in:\n{stderr}"
        unmatched.remove(match)
    assert unmatched == [], f"unexpected diagnostics: {unmatched}"
    if len(expected) > 1:
        assert f"{len(expected)} errors" in stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_broken_mission_reports_exactly_its_expected_diagnostics(path: Path, workspace: Path) -> None:
    status, stderr = validate(str(path), "--workspace", str(workspace))

    assert status == 2, stderr
    assert "Traceback" not in stderr
    assert_exactly_expected(path, stderr)


# -- hostile files, through the real command line -------------------------------------------------

# The bounds the issue sets: an answer "in seconds" (generous: two shared cores, a cold interpreter)
# and under 500 MB at the peak.
SECONDS = 30.0
PEAK_BYTES = 500 * 1024 * 1024


def _deep_flow() -> str:
    # 200,000 nested brackets segfaulted the C composer (exit 139). Depth: mapping 1, list 2, …
    return (
        "# 200,000 nested flow lists.\n"
        "# expect: 4:135 nests lists and mappings more than 128 levels deep\n"
        "mission: deep-flow\n"
        "steps: " + "[" * 200_000 + "\n"
    )


def _deep_block() -> str:
    # The same in block style: `- - - …` nests one list per dash.
    return (
        "# 200,000 nested block lists.\n"
        "# expect: 5:255 nests lists and mappings more than 128 levels deep\n"
        "mission: deep-block\n"
        "steps:\n" + "- " * 200_000 + "x\n"
    )


def _deep_indentation() -> str:
    keys = "".join(" " * i + f"k{i}:\n" for i in range(300))
    return (
        "# 300 mappings, each indented one more space.\n"
        "# expect: 132:129 nests lists and mappings more than 128 levels deep\n"
        "mission: deep-indentation\n" + keys + " " * 300 + "v\n"
    )


def _too_many_values() -> str:
    return (
        "# 1,100,000 values in one list (2.2 MB): over the bound on values, though under the size bound.\n"
        "# expect: 5:2000029 the document holds more than 1,000,000 values\n"
        "mission: many-values\n"
        "steps:\n"
        "  - {id: read, uses: files.read, with: {path: a.txt, data: [" + "a," * 1_100_000 + "]}}\n"
    )


def _too_large() -> str:
    return (
        "# 12 MB of comments: over the size bound (10 MB), refused before it is all read.\n"
        "# expect: 1165071:8 the file is larger than 10 MB\n"
        "mission: too-large\n" + "#padding\n" * 1_500_000
    )


GENERATED: dict[str, Callable[[], str]] = {
    "hostile_deep_flow_200000": _deep_flow,
    "hostile_deep_block_200000": _deep_block,
    "hostile_deep_indentation": _deep_indentation,
    "hostile_too_many_values": _too_many_values,
    "hostile_too_large": _too_large,
}


@dataclass
class Answer:
    status: int
    stdout: str
    stderr: str
    seconds: float
    peak_bytes: int


def real_validate(path: Path, workspace: Path) -> Answer:
    """``python -m toolnexus.cli validate path`` in a fresh interpreter, with the child's own peak RSS.

    Measured by :func:`tests.measure.run_measured`: the child's own peak, not the test process's.
    """
    out, err = workspace / "stdout.txt", workspace / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # Should a bound regress, the child fails (MemoryError, SIGXCPU) instead of taking the machine.
        measured = run_measured(
            [sys.executable, "-m", "toolnexus.cli", "validate", str(path), "--workspace", str(workspace)],
            cwd=workspace, stdout=stdout, stderr=stderr, caps={"RLIMIT_AS": 4 * 1024**3, "RLIMIT_CPU": 120})
    return Answer(
        status=measured.returncode,
        stdout=out.read_text(errors="replace"),
        stderr=err.read_text(errors="replace"),
        seconds=measured.seconds,
        peak_bytes=measured.peak_bytes,
    )


def assert_answered_in_bounds(path: Path, answer: Answer) -> None:
    assert answer.status == 2, f"exit {answer.status}:\n{answer.stderr[-3000:]}"
    assert "Traceback" not in answer.stderr
    assert answer.stdout == ""
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: error: ", answer.stderr, re.M), answer.stderr[-3000:]
    assert answer.seconds < SECONDS, f"took {answer.seconds:.1f} s"
    assert answer.peak_bytes < PEAK_BYTES, f"peak RSS {answer.peak_bytes / 2**20:.0f} MB"


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_a_hostile_file_is_refused_in_seconds_and_bounded_memory(path: Path, workspace: Path) -> None:
    answer = real_validate(path, workspace)

    assert_answered_in_bounds(path, answer)
    assert_exactly_expected(path, answer.stderr)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_a_large_hostile_file_is_refused_in_seconds_and_bounded_memory(name: str, workspace: Path) -> None:
    path = workspace / f"{name}.yaml"
    path.write_text(GENERATED[name](), encoding="utf-8")

    answer = real_validate(path, workspace)

    assert_answered_in_bounds(path, answer)
    assert_exactly_expected(path, answer.stderr)


def test_errors_of_several_files_are_reported_together(workspace: Path) -> None:
    a, b = CORPUS / "unknown_tool.yaml", CORPUS / "cycle_two.yaml"
    status, stderr = validate(str(a), str(b), "--workspace", str(workspace))

    assert status == 2
    assert reported(stderr, str(a)) and reported(stderr, str(b))


def test_a_good_file_among_bad_ones_is_still_reported_ok(workspace: Path) -> None:
    good = workspace / "good.yaml"
    good.write_text("mission: good\nsteps:\n  - {id: read, uses: files.read, with: {path: a.txt}}\n")
    status, stderr = validate(str(good), str(CORPUS / "unknown_tool.yaml"), "--workspace", str(workspace))

    assert status == 2
    assert f"ok {good}: 1 step," in stderr
    assert "no tool named 'files.raed'" in stderr


def test_a_missing_file_is_a_clean_usage_error(workspace: Path) -> None:
    status, stderr = validate(str(workspace / "nope.yaml"), "--workspace", str(workspace))

    assert status == 2
    assert f"{workspace / 'nope.yaml'}: error: no such mission file" in stderr
    assert "Traceback" not in stderr


def test_a_folder_is_a_clean_usage_error(workspace: Path) -> None:
    status, stderr = validate(str(workspace), "--workspace", str(workspace))

    assert status == 2
    assert "is a folder, not a mission file" in stderr


def test_an_empty_file_says_so(workspace: Path) -> None:
    empty = workspace / "empty.yaml"
    empty.write_text("# nothing but a comment\n")
    status, stderr = validate(str(empty), "--workspace", str(workspace))

    assert status == 2
    assert f"{empty}: error: a mission is a mapping" in stderr
    assert "the file is empty" in stderr


def test_the_real_command_line_reports_one_pass_without_traceback(workspace: Path) -> None:
    """Through the real entry point (a fresh interpreter): stderr only, exit 2, every error, no traceback."""
    several = CORPUS / "several_errors.yaml"
    missing = workspace / "missing.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "toolnexus.cli", "validate", str(several), str(missing)],
        capture_output=True,
        text=True,
        cwd=workspace,
        timeout=120,
    )

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    expected = expectations(several)
    for want in expected:
        assert f"{several}:{want.line}:{want.column}: error: " in proc.stderr
    assert f"{missing}: error: no such mission file" in proc.stderr
    assert f"{len(expected) + 1} errors" in proc.stderr


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize(
    "name", ["hostile_alias_bomb", "hostile_deep_nesting", "hostile_unsafe_expression", "hostile_invalid_utf8"]
)
def test_run_and_plan_refuse_a_hostile_file_as_validate_does(command: str, name: str, workspace: Path) -> None:
    path = CORPUS / f"{name}.yaml"

    result = CliRunner().invoke(app, [command, str(path), "--workspace", str(workspace)])

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    first = expectations(path)[0]
    assert f"{path}:{first.line}:{first.column}: error: " in result.stderr


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_the_python_loader_refuses_a_hostile_file_with_its_position(path: Path, nexus: tn.Nexus) -> None:
    with pytest.raises(DiagnosticError) as info:
        nexus.compile(tn.load_mission(path))

    expected = {(want.line, want.column) for want in expectations(path)}
    assert {(d.line, d.column) for d in info.value.diagnostics} == expected
    assert all(d.file == str(path) for d in info.value.diagnostics)
