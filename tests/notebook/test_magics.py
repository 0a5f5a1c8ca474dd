"""The magics of ``%load_ext toolnexus`` in a real IPython shell: ``%%mission`` validates a cell as ``toolnexus
validate`` does a file (problems at the cell's line and column, never a traceback), shows and binds the plan,
runs with inputs from notebook variables and saves; ``%mission PATH``; ``%tn``; tab completion; a ``@tn.tool``
of the shell used by the next cell; then ``%load_ext`` and ``%%mission --run`` in a real kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

import toolnexus
import toolnexus as tn
from toolnexus.core.call import ToolResult
from toolnexus.core.run import RunResult, RunStatus
from toolnexus.core.spec import ToolSpec
from toolnexus.mission.plan import Plan

GREET = dedent("""\
    mission: greet
    inputs:
      x: {type: integer}
    steps:
      - id: hello
        uses: text.render
        with: {template: "hi {{ x }}", data: {x: "${{ inputs.x }}"}}
    outputs:
      text: ${{ steps.hello.outputs.text }}
""")


@pytest.fixture
def ip(workspace: Path) -> Iterator[InteractiveShell]:
    """IPython's shell with the extension loaded, working in an empty workspace (its own default Nexus)."""
    shell = InteractiveShell.instance()
    shell.reset()  # one shell per process: each test starts with an empty namespace
    shell.extension_manager.load_extension("toolnexus")
    yield shell
    if toolnexus.api._default is not None:
        toolnexus.api._default.close()
        toolnexus.api._default = None


def shown(captured: Any) -> str:
    """Everything a magic displayed, as plain text."""
    return "\n".join(output.data.get("text/plain", "") for output in captured.outputs)


def shown_html(captured: Any) -> str:
    return "\n".join(output.data.get("text/html", "") for output in captured.outputs)


def cell(shell: InteractiveShell, text: str) -> Any:
    """Run a whole cell as Jupyter does (magic lines, ``$var`` expansion); its outputs and its result."""
    with capture_output() as captured:
        result = shell.run_cell(dedent(text))
    assert result.error_in_exec is None and result.error_before_exec is None
    return captured, result.result


def test_load_ext_registers_the_magics(ip: InteractiveShell) -> None:
    magics = ip.magics_manager.magics
    assert "mission" in magics["cell"] and "mission" in magics["line"] and "tn" in magics["line"]


def test_a_valid_cell_returns_and_binds_its_plan(ip: InteractiveShell) -> None:
    with capture_output() as captured:
        plan = ip.run_cell_magic("mission", "--as p", GREET)
    assert isinstance(plan, Plan) and ip.user_ns["p"] is plan
    assert [step.id for step in plan.steps] == ["hello"] and plan.mission == "greet"
    assert shown(captured) == ""  # the plan is the cell's value: Jupyter shows it as the output


def test_every_problem_is_shown_at_the_cells_line_and_column_with_its_fix(ip: InteractiveShell) -> None:
    bad = GREET.replace("{type: integer}", "{type: intger}").replace("text.render", "text.rendr")
    captured, value = cell(ip, "%%mission --as p\n" + bad)
    assert value is None and "p" not in ip.user_ns
    text = shown(captured)
    # the %%mission line is the cell's line 1: `type: intger` is on line 4, `uses: text.rendr` on line 7
    assert "%%mission: 2 problems" in text
    assert "cell line 4, column 13: inputs.x.type" in text
    assert "cell line 7, column 11: step `hello`: no tool named 'text.rendr'" in text
    assert "fix: did you mean `text.render`?" in text
    assert "    |     uses: text.rendr\n    |           ^" in text  # the line quoted, a caret at the column
    assert "cell line 7, column 11" in shown_html(captured)
    assert "Traceback" not in captured.stdout + captured.stderr


def test_a_yaml_syntax_error_is_placed_in_the_cell(ip: InteractiveShell) -> None:
    captured, value = cell(ip, "%%mission\nmission: m\nsteps:\n  - id: a\n   uses: [x\n")
    assert value is None
    assert "cell line 5, column 4: invalid YAML" in shown(captured)
    assert "fix: check indentation" in shown(captured)


def test_run_binds_the_result_and_the_plan_with_inputs_from_python(ip: InteractiveShell) -> None:
    ip.user_ns["rows"] = 5
    captured, value = cell(ip, "%%mission --run -i x=$rows --as res\n" + GREET)
    result = ip.user_ns["res"]
    assert isinstance(result, RunResult) and value is result
    assert "greet" in shown(captured)  # the plan was shown before the run
    assert result.status == RunStatus.SUCCEEDED and result.outputs == {"text": "hi 5"}
    assert isinstance(ip.user_ns["res_plan"], Plan) and ip.user_ns["res_plan"].mission == "greet"
    assert tn.default_nexus().store.get_run(result.run_id).source == GREET  # recorded: it can be resumed


def test_an_input_can_be_a_notebook_variable_as_it_is(ip: InteractiveShell) -> None:
    ip.user_ns["names"] = ["ada", "grace"]
    mission = dedent("""\
        mission: many
        inputs:
          names: {type: array}
        steps:
          - id: join
            uses: text.render
            with: {template: "{{ names | join(',') }}", data: {names: "${{ inputs.names }}"}}
        outputs:
          text: ${{ steps.join.outputs.text }}
    """)
    result = ip.run_cell_magic("mission", "--run -i names --as r", mission)
    assert result.outputs == {"text": "ada,grace"}


def test_bad_inputs_are_shown_on_the_magic_line(ip: InteractiveShell) -> None:
    captured, value = cell(ip, "%%mission --run -i x=abc --as r\n" + GREET)
    assert value is None and "r" not in ip.user_ns
    assert "cell line 1, column 17: input 'x': 'abc' is not a valid integer" in shown(captured)
    captured, value = cell(ip, "%%mission --run -i nowhere\n" + GREET)
    assert value is None
    assert "cell line 1, column 20: -i nowhere: no notebook variable 'nowhere'" in shown(captured)
    captured, value = cell(ip, "%%mission --frobnicate\n" + GREET)
    assert value is None and "unexpected argument '--frobnicate'" in shown(captured)


def test_save_writes_the_cell_to_missions_and_keeps_a_different_file(ip: InteractiveShell, workspace: Path) -> None:
    captured, _ = cell(ip, "%%mission --save greet\n" + GREET)
    target = workspace / "missions" / "greet.yaml"
    assert target.read_text(encoding="utf-8") == GREET and f"saved {target}" in shown(captured)
    cell(ip, "%%mission --save greet\n" + GREET)  # the same text again: nothing to refuse
    changed = GREET.replace("hi ", "hello ")
    captured, value = cell(ip, "%%mission --save greet\n" + changed)
    assert value is None and target.read_text(encoding="utf-8") == GREET
    assert "exists with other content; nothing written" in shown(captured) and "--force" in shown(captured)
    cell(ip, "%%mission --save greet --force\n" + changed)
    assert target.read_text(encoding="utf-8") == changed
    cell(ip, "%%mission --save elsewhere/other.yaml\n" + GREET)
    assert (workspace / "elsewhere" / "other.yaml").read_text(encoding="utf-8") == GREET


def test_an_invalid_cell_is_not_saved(ip: InteractiveShell, workspace: Path) -> None:
    cell(ip, "%%mission --save broken\n" + GREET.replace("text.render", "nope"))
    assert not (workspace / "missions" / "broken.yaml").exists()


def test_mission_runs_a_file(ip: InteractiveShell, workspace: Path) -> None:
    (workspace / "missions").mkdir()
    (workspace / "missions" / "greet.yaml").write_text(GREET, encoding="utf-8")
    captured, value = cell(ip, "%mission greet -i x=3 --as r")
    assert isinstance(value, RunResult) and value.outputs == {"text": "hi 3"} and ip.user_ns["r"] is value
    captured, value = cell(ip, "%mission missing.yaml")
    assert value is None and "missing.yaml" in shown(captured)
    (workspace / "bad.yaml").write_text(GREET.replace("text.render", "nope"), encoding="utf-8")
    captured, value = cell(ip, "%mission bad.yaml")
    assert value is None and "bad.yaml:6:11: step `hello`: no tool named 'nope'" in shown(captured)


def test_tn_call(ip: InteractiveShell) -> None:
    result = ip.run_line_magic("tn", "call text.render template='hi {{ n }}' data='{\"n\": 2}'")
    assert isinstance(result, ToolResult) and result.output == {"text": "hi 2"} and result.error is None
    captured, value = cell(ip, "%tn call text.rendr template=hi")
    assert value is None
    assert "cell line 1, column 10: no tool named 'text.rendr'" in shown(captured)
    assert "did you mean `text.render`?" in shown(captured)
    captured, value = cell(ip, "%tn call text.render template")
    assert value is None and "cell line 1, column 22: 'template': expected key=value" in shown(captured)


def test_tn_tools_search_and_show(ip: InteractiveShell) -> None:
    hits = ip.run_line_magic("tn", "tools search render a template -k 3")
    assert 0 < len(hits) <= 3 and hits[0].spec.name == "text.render"
    assert "text.render" in str(hits) and "text.render" in hits._repr_html_()
    spec = ip.run_line_magic("tn", "tools show text.render")
    assert isinstance(spec, ToolSpec) and spec.name == "text.render"
    captured, value = cell(ip, "%tn tolls")
    assert value is None and "unknown %tn command 'tolls'" in shown(captured)


def test_tn_runs_lists_the_runs_of_the_workspace(ip: InteractiveShell) -> None:
    result = ip.run_cell_magic("mission", "--run -i x=1", GREET)
    listing = ip.run_line_magic("tn", "runs")
    formatted, _ = ip.display_formatter.format(listing)
    assert any(result.run_id in str(text) for text in formatted.values())


def test_tn_approvals_shows_the_queue(ip: InteractiveShell) -> None:
    captured, value = cell(ip, "%tn approvals")
    assert value is not None and "problem" not in shown(captured)


def test_tn_serve_outside_a_kernel_says_where_it_works(ip: InteractiveShell) -> None:
    captured, value = cell(ip, "%tn serve")
    assert value is None
    assert "tn.serve() offers a notebook kernel's tools" in shown(captured)
    assert "Traceback" not in shown(captured)


def completions(ip: InteractiveShell, text: str) -> list[str]:
    with provisionalcompleter():
        return [completion.text for completion in ip.Completer.completions(text, len(text))]


def test_tab_completes_tools_commands_and_step_ids(ip: InteractiveShell) -> None:
    assert completions(ip, "%tn call text.re") == ["text.render"]
    assert completions(ip, "%tn ca") == ["call"]
    assert completions(ip, "%tn tools sh") == ["show"]
    mission = "%%mission\nmission: m\nsteps:\n  - id: fetch\n    uses: files.read\n  - id: two\n"
    assert completions(ip, mission + "    uses: files.r") == ["files.read"]
    assert completions(ip, mission + "    needs: [fe") == ["fetch"]
    assert completions(ip, mission + "    with: {path: '${{ steps.fe") == ["fetch"]


def test_a_tool_defined_in_the_shell_is_usable_by_the_next_cell(ip: InteractiveShell) -> None:
    cell(ip, """
        import toolnexus as tn

        @tn.tool(name="cells.double")
        def double(x: int) -> int:
            "Double x."
            return 2 * x
    """)
    assert completions(ip, "%tn call cells.dou") == ["cells.double"]
    _, value = cell(ip, """
        %%mission --run -i x=21 --as r
        mission: doubled
        inputs:
          x: {type: integer}
        steps:
          - id: twice
            uses: cells.double
            with: {x: "${{ inputs.x }}"}
        outputs:
          y: ${{ steps.twice.outputs }}
    """)
    assert value.status == RunStatus.SUCCEEDED and value.outputs == {"y": 42}


def test_unload_removes_the_magics_and_completion(ip: InteractiveShell) -> None:
    ip.run_line_magic("unload_ext", "toolnexus")
    try:
        assert "mission" not in ip.magics_manager.magics["cell"] and "tn" not in ip.magics_manager.magics["line"]
        assert completions(ip, "%tn call text.re") == []
    finally:
        ip.run_line_magic("load_ext", "toolnexus")
    assert completions(ip, "%tn call text.re") == ["text.render"]


@pytest.fixture
def kernel(workspace: Path) -> Iterator[BlockingKernelClient]:
    """A real IPython kernel (ipykernel) working in the test's workspace."""
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60, cwd=str(workspace))
    try:
        yield client
    finally:
        client.stop_channels()
        assert isinstance(manager, KernelManager)
        manager.shutdown_kernel(now=True)


def execute(client: BlockingKernelClient, code: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``code`` in the kernel: the IOPub messages it caused (streams, displays, results) and its reply."""
    messages: list[dict[str, Any]] = []
    reply = client.execute_interactive(code, timeout=120, output_hook=messages.append)
    return messages, reply["content"]


def test_load_ext_and_a_mission_cell_in_a_real_kernel(kernel: BlockingKernelClient) -> None:
    # Importing toolnexus in a kernel registers the rich display: a plan shows as HTML without %load_ext.
    messages, reply = execute(kernel, f"import toolnexus as tn\ntn.compile('''{GREET}''')")
    assert reply["status"] == "ok"
    result = next(m for m in messages if m["msg_type"] == "execute_result")
    assert "text/html" in result["content"]["data"]

    _, reply = execute(kernel, "%load_ext toolnexus")
    assert reply["status"] == "ok"
    messages, reply = execute(kernel, "%%mission --run -i x=4 --as res\n" + GREET)
    assert reply["status"] == "ok"
    assert not [m for m in messages if m["msg_type"] == "error"]
    shown_types = [set(m["content"]["data"]) for m in messages if m["msg_type"] == "display_data"]
    assert "text/html" in shown_types[0]  # the plan, drawn
    assert any("application/vnd.jupyter.widget-view+json" in types for types in shown_types)  # the live view
    messages, _ = execute(kernel, "print(res.status.value, res.outputs['text'], type(res_plan).__name__)")
    printed = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert printed.strip() == "succeeded hi 4 Plan"

    messages, reply = execute(kernel, "%%mission --as p\n" + GREET.replace("text.render", "text.rendr"))
    assert reply["status"] == "ok"  # a problem of the cell is shown, not raised
    shown_text = "".join(m["content"]["data"].get("text/plain", "") for m in messages
                         if m["msg_type"] == "display_data")
    assert "cell line 7, column 11: step `hello`: no tool named 'text.rendr'" in shown_text


def test_a_broken_configuration_is_shown_not_raised(ip: InteractiveShell, workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("concurrency = 'many'\n", encoding="utf-8")
    captured, value = cell(ip, "%%mission\n" + GREET)
    assert value is None and "toolnexus.toml" in shown(captured)
