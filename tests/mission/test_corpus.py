"""The bad-input corpus: every broken mission in ``corpus/`` gets exactly the diagnostics its header promises.

Each corpus file starts with comment lines::

    # expect: LINE:COL <substring of the message>
    # hint: <substring of that diagnostic's hint>      (optional, applies to the expect line above)

``toolnexus validate`` must exit with status 2, print every expected ``file:LINE:COL: error: …`` line,
print no error the header does not promise (every problem in one pass, and nothing spurious), and
never a traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolnexus.cli import app

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.yaml"))
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
    for text in path.read_text(encoding="utf-8").splitlines():
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
    for path in FILES:
        assert expectations(path), f"{path.name} has no `# expect:` line"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_broken_mission_reports_exactly_its_expected_diagnostics(path: Path, workspace: Path) -> None:
    status, stderr = validate(str(path), "--workspace", str(workspace))

    assert status == 2, stderr
    assert "Traceback" not in stderr
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
