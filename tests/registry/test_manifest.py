"""YAML tool manifests: command tools declared in ``*.tools.yaml``, run by the process runtime."""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import pytest

import toolnexus as tn
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.errors import ErrorKind
from toolnexus.core.spec import SafetyTier
from toolnexus.registry import Registry, load_manifest, load_manifests

WORDS_SCRIPT = """
import json, os, sys

args = json.load(sys.stdin)
if args.get("fail"):
    print("asked to fail", file=sys.stderr)
    sys.exit(3)
words = args["text"].split()
print(json.dumps({"words": len(words), "first": words[0] if words else None, "cwd": os.getcwd(),
                  "greeting": os.environ.get("GREETING")}))
"""


def write_manifest(folder: Path, name: str = "words.tools.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "words.py").write_text(WORDS_SCRIPT)
    path = folder / name
    path.write_text(
        dedent(f"""\
        tools:
          - name: text.words
            version: 1.1.0
            summary: Count the words of a text.
            command: [{sys.executable!r}, words.py]
            env: {{GREETING: hello}}
            input_schema:
              type: object
              properties:
                text: {{type: string}}
                fail: {{type: boolean}}
              required: [text]
              additionalProperties: false
            output_schema:
              type: object
              properties: {{words: {{type: integer}}}}
            tier: read_only
            limits: {{timeout: 20s, memory: 512MiB}}
            cost: {{kind: per_call, amount: 0.01}}
            tags: [text]
          - name: text.noop
            command: [{sys.executable!r}, -c, "print('null')"]
    """)
    )
    return path


def test_a_manifest_declares_command_tools(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "tools")

    words, noop = load_manifest(path)

    assert (words.name, words.version, words.summary, words.tier) == (
        "text.words",
        "1.1.0",
        "Count the words of a text.",
        SafetyTier.READ_ONLY,
    )
    assert words.entry.kind == "command"
    # the script path is resolved against the manifest's folder; the program and options are left alone
    assert words.entry.argv == [sys.executable, str((tmp_path / "tools" / "words.py").resolve())]
    assert words.entry.cwd == str((tmp_path / "tools").resolve())
    assert words.entry.env == {"GREETING": "hello"}
    assert words.limits.timeout == 20.0 and words.limits.memory == 512 * 2**20
    assert words.cost.amount == 0.01
    assert words.runtime == "process"
    assert words.source == f"manifest:{path}"
    assert noop.entry.argv == [sys.executable, "-c", "print('null')"]
    assert noop.version == "1.0.0"


def test_load_manifests_registers_every_manifest_under_a_folder(tmp_path: Path) -> None:
    write_manifest(tmp_path / "a")
    (tmp_path / "a" / "nested").mkdir()
    (tmp_path / "a" / "nested" / "more.tools.yml").write_text(
        f"tools:\n  - {{name: more.tool, command: [{sys.executable!r}]}}\n"
    )
    (tmp_path / "a" / "not-a-manifest.yaml").write_text("tools: [oops]\n")
    registry = Registry()

    loaded = load_manifests(registry, tmp_path / "a")

    assert sorted(s.name for s in loaded) == ["more.tool", "text.noop", "text.words"]
    assert registry.names() == ["more.tool", "text.noop", "text.words"]
    assert load_manifests(registry, tmp_path / "missing") == []


def test_a_command_tool_is_called_through_the_nexus(workspace: Path) -> None:
    # The default configuration reads manifests from the workspace's tools/ folder.
    write_manifest(workspace / "tools")

    with tn.Nexus(workspace, store=False) as nexus:
        assert nexus.registry.get("text.words@1").version == "1.1.0"
        result = nexus.call("text.words", {"text": "the quick brown fox"})
        failed = nexus.call("text.words", {"text": "x", "fail": True})
        invalid = nexus.call("text.words", {"txt": "x"})

    assert result.error is None, result.error
    assert result.output["words"] == 4
    assert result.output["first"] == "the"
    assert result.output["greeting"] == "hello"
    assert result.output["cwd"] == str((workspace / "tools").resolve())
    assert result.runtime == "process"
    assert result.cost == pytest.approx(0.01)
    assert failed.error is not None
    assert "exited with status 3" in failed.error.message and "asked to fail" in failed.error.message
    assert invalid.error is not None and invalid.error.kind == ErrorKind.INVALID_ARGUMENTS


def test_a_command_tool_from_another_folder_runs_in_a_mission(workspace: Path, tmp_path: Path) -> None:
    write_manifest(tmp_path / "elsewhere")
    mission = workspace / "m.yaml"
    mission.write_text(
        dedent("""\
        mission: words
        inputs:
          text: {type: string, default: one two three}
        steps:
          - {id: count, uses: text.words@1.1, with: {text: "${{ inputs.text }}"}}
        outputs:
          words: "${{ steps.count.outputs.words }}"
    """)
    )

    with tn.Nexus(workspace, store=False) as nexus:
        load_manifests(nexus.registry, tmp_path / "elsewhere")
        result = nexus.run(mission)

    assert result.ok, result.summary()
    assert result.outputs == {"words": 3}


BAD = """\
tools:
  - name: bad name
    command: [echo]
  - name: ok.tool
    version: abc
    comand: [x]
  - name: t2
    command: []
    tier: superuser
    limits: {timeout: soon, memroy: 1}
"""


def test_a_bad_manifest_reports_every_problem_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "bad.tools.yaml"
    path.write_text(BAD)

    with pytest.raises(DiagnosticError) as info:
        load_manifest(path)

    found = [(d.line, d.column, d.message, d.hint) for d in info.value.diagnostics]
    assert all(d.file == str(path) for d in info.value.diagnostics)
    assert found == [
        (
            2,
            11,
            "tools.0.name: 'bad name' is not a tool name: use letters, digits, '_', '-' and '.', no spaces or '@'",
            None,
        ),
        (5, 14, "tools.1.version: 'abc' is not a version: use numbers such as 1, 1.2 or 1.2.3", None),
        (6, 5, "unknown key 'comand' in tools.1", "did you mean `command`?"),
        (
            8,
            14,
            "tools.2.command: the command is empty: give the program and its arguments, e.g. [python3, tool.py]",
            None,
        ),
        (9, 11, "tools.2.tier: Input should be 'read_only', 'side_effecting' or 'privileged'", None),
        (
            10,
            23,
            "tools.2.limits.timeout: 'soon' is not a duration: use a number of seconds or '30s', '10m', '500ms', '2h'",
            None,
        ),
        (10, 29, "unknown key 'memroy' in tools.2.limits", "did you mean `memory`?"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tools: [\n", "invalid YAML"),
        ("tools:\n  - name: a\n    name: b\n    command: [x]\n", "duplicate key 'name'"),
        ("", r"document: expected a mapping \(key: value\), got null"),
        ("tool: []\n", "unknown key 'tool' in document"),
    ],
)
def test_malformed_manifests_are_diagnostics_not_tracebacks(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.tools.yaml"
    path.write_text(text)

    with pytest.raises(DiagnosticError, match=message):
        load_manifest(path)


def test_an_unreadable_manifest_is_a_diagnostic(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticError, match="cannot read tool manifest") as info:
        load_manifest(tmp_path / "missing.tools.yaml")

    assert info.value.diagnostics[0].file == str(tmp_path / "missing.tools.yaml")


def test_one_bad_manifest_does_not_hide_the_others(tmp_path: Path) -> None:
    write_manifest(tmp_path / "tools")
    (tmp_path / "tools" / "a-bad.tools.yaml").write_text("tools:\n  - {name: x}\n")
    (tmp_path / "tools" / "z-bad.tools.yaml").write_text("tools:\n  - {name: y, command: [y], tier: root}\n")
    registry = Registry()

    with pytest.raises(DiagnosticError) as info:
        load_manifests(registry, tmp_path / "tools")

    files = {Path(d.file or "").name for d in info.value.diagnostics}
    assert files == {"a-bad.tools.yaml", "z-bad.tools.yaml"}
    assert registry.names() == ["text.noop", "text.words"]  # the good manifest was still registered
    assert len(registry.problems) == 2


def test_a_manifest_declares_lifecycle_and_examples(tmp_path: Path) -> None:
    path = tmp_path / "x.tools.yaml"
    path.write_text(dedent("""\
        tools:
          - name: text.shout
            command: [python3, shout.py]
            lifecycle: deprecated
            examples:
              - arguments: {text: hi}
                result: {text: HI}
                description: upper-cases
    """))

    (spec,) = load_manifest(path)

    assert spec.lifecycle.value == "deprecated"
    assert [(e.arguments, e.result, e.description) for e in spec.examples] == [
        ({"text": "hi"}, {"text": "HI"}, "upper-cases")]


def test_a_bad_lifecycle_or_example_in_a_manifest_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "x.tools.yaml"
    path.write_text("tools:\n  - name: t\n    command: [t]\n    lifecycle: gone\n    examples:\n"
                    "      - {result: 1}\n")

    with pytest.raises(DiagnosticError) as info:
        load_manifest(path)

    found = [(d.line, d.message) for d in info.value.diagnostics]
    assert found[0][0] == 4 and "tools.0.lifecycle" in found[0][1] and "'experimental'" in found[0][1]
    assert found[1] == (6, "missing required key 'arguments' in tools.0.examples.0")
