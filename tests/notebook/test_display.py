"""Rich display: plans of real compiled missions as SVG, table and Mermaid; real runs' and calls' results; search
hits and tool cards; the formatters registered in a real IPython shell; and a real kernel's output of a plan
exported to static HTML by nbconvert."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import toolnexus as tn
from tests.conftest import REPO
from tests.notebook.html_support import read
from toolnexus.core.spec import Lifecycle, SafetyTier, ToolEntry, ToolSpec
from toolnexus.governance.lifecycle import LifecycleWarning
from toolnexus.mission.plan import Plan
from toolnexus.notebook.display import (
    MAX_DRAWN,
    MERMAID,
    plan_decisions,
    plan_html,
    plan_mermaid,
    plan_svg,
    register,
    run_html,
    search_hits_html,
    tool_card_html,
    tool_result_html,
)

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def nexus(workspace: Path) -> Iterator[tn.Nexus]:
    shutil.copy(REPO / "missions" / "hello.yaml", workspace / "hello.yaml")
    with tn.Nexus(workspace, store=False) as made:
        yield made


@pytest.fixture
def plan(nexus: tn.Nexus) -> Plan:
    return nexus.compile(nexus.workspace / "hello.yaml")


def edges_of(plan: Plan) -> set[str]:
    return {f"{dep}→{step.id}" for step in plan.steps for dep in step.needs}


def svg_of(html: str) -> ET.Element:
    """The SVG element of ``html``, parsed as XML (it must be well formed to show in every front end)."""
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    return ET.fromstring(html[start:end])


# -- plans ---------------------------------------------------------------------------------------------------


def test_a_compiled_plan_shows_every_step_and_edge(plan: Plan) -> None:
    html = plan_html(plan)
    page = read(html)
    ids = [step.id for step in plan.steps]
    assert page.nodes == ids and set(page.edges) == edges_of(plan) and edges_of(plan)
    assert page.svgs == 1 and not page.scripts and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    table = {row[0]: row for row in page.rows[1:]}
    assert list(table) == ids
    assert table["lines"][1:4] == ["python.exec@1.0.0", plan.step("lines").runtime, "side_effecting"]
    assert table["save"][4] == "lines"  # what it needs
    svg = svg_of(html)
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t and t.startswith("greet: text.render@1.0.0") for t in titles)


def test_layers_run_top_to_bottom(plan: Plan) -> None:
    svg = svg_of(plan_svg(plan))
    y = {g.get("data-step"): float(g.find("{http://www.w3.org/2000/svg}rect").get("y"))  # type: ignore[union-attr]
         for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("data-step")}
    for step in plan.steps:
        assert all(y[dep] < y[step.id] for dep in step.needs)


def test_the_mermaid_text_has_each_step_and_edge(plan: Plan) -> None:
    text = plan_mermaid(plan)
    assert text is not None and text.startswith("flowchart TD\n")
    ids = {step.id: f"s{i}" for i, step in enumerate(plan.steps)}
    for step in plan.steps:
        assert f'{ids[step.id]}["{step.id}<br/>{step.tool}@{step.version}' in text
        for dep in step.needs:
            assert f"  {ids[dep]} --> {ids[step.id]}\n" in text


def test_hostile_text_is_escaped_everywhere(nexus: tn.Nexus) -> None:
    evil = f"evil.{HOSTILE}".replace(" ", "")
    nexus.registry.register(ToolSpec(name=evil, summary=HOSTILE, description=HOSTILE, tags=[HOSTILE],
                                     entry=ToolEntry(kind="python", target="toolnexus.builtins.text:render")))
    mission = ("mission: evil\n" f"description: '{HOSTILE} & \"quotes\"'\nsteps:\n"
               f"  - id: bad\n    uses: '{evil}'\n  - id: after\n    uses: text.render@1\n    needs: [bad]\n"
               "    with: {template: x}\n")
    plan = nexus.compile(mission)
    decisions = {"bad": HOSTILE}
    html = plan_html(plan, decisions)
    assert "<script" not in html and "&lt;script&gt;" in html and read(html).scripts == 0
    svg_of(html)  # still well-formed XML
    mermaid = plan_mermaid(plan, decisions)
    assert mermaid is not None and "<script" not in mermaid and "#lt;script#gt;" in mermaid
    spec = nexus.registry.get(evil)
    for shown in (tool_card_html(spec), tool_card_html(spec, "schema"),
                  search_hits_html(nexus.registry.search("evil alert"))):
        assert "<script" not in shown and read(shown).scripts == 0


def many_steps(count: int) -> str:
    """A mission of ``count`` steps: a chain of ten-wide layers (each step needs one of the layer above)."""
    lines = ["mission: wide", "steps:"]
    for i in range(count):
        lines += [f"  - id: s{i}", "    uses: text.render@1", "    with: {template: x}"]
        if i >= 10:
            lines.append(f"    needs: [s{i - 10}]")
    return "\n".join(lines) + "\n"


def test_a_thousand_step_plan_renders_within_the_cap(nexus: tn.Nexus) -> None:
    plan = nexus.compile(many_steps(1000))
    html = plan_html(plan)
    page = read(html)
    assert page.svgs == 0 and page.nodes == []  # not drawn: said instead
    assert f"not drawn above {MAX_DRAWN} steps" in html and "1,000 steps in 100 layers" in html
    assert len(page.rows) == 1 + 200 and "… and 800 more steps" in html
    assert len(html) < 200_000
    assert plan_mermaid(plan) is None  # Mermaid refuses more than 500 edges: no text it cannot draw


def test_a_plan_under_the_cap_is_drawn_whole_and_wraps_wide_layers(nexus: tn.Nexus) -> None:
    plan = nexus.compile(many_steps(MAX_DRAWN))
    svg = svg_of(plan_svg(plan))
    assert len([g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("data-step")]) == MAX_DRAWN
    assert int(svg.get("width", "0")) <= 6 * 214 + 16  # ten-wide layers wrap at six nodes: fits a cell


def test_plan_time_governance_decisions(workspace: Path) -> None:
    shutil.copy(REPO / "missions" / "hello.yaml", workspace / "hello.yaml")
    (workspace / "policies").mkdir()
    (workspace / "policies" / "p.yaml").write_text(
        "mode: enforce\nrules:\n  - id: writes-need-a-person\n    effect: approve\n    tools: files.write\n"
        "  - id: no-shell\n    effect: deny\n    tools: python.exec\n    mode: observe\n")
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    with tn.Nexus(workspace, store=False) as nexus:
        nexus.registry.register(ToolSpec(name="text.render", version="0.9.0", lifecycle=Lifecycle.DEPRECATED,
                                         successor="text.render@1", summary="old",
                                         entry=ToolEntry(kind="python", target="toolnexus.builtins.text:render")))
        with pytest.warns(LifecycleWarning):
            old = nexus.compile("mission: old\nsteps:\n  - id: r\n    uses: text.render@0.9.0\n"
                                "    with: {template: x}\n")
        plan = nexus.compile(workspace / "hello.yaml")
        decisions = plan_decisions(plan, nexus)
        assert plan_decisions(old, nexus) == {"r": "deprecated; use text.render@1"}
    assert decisions == {"save": "needs approval (writes-need-a-person)",
                         "lines": "would deny (no-shell), observe"}
    html = plan_html(plan, decisions)
    assert 'class="tnx-node tnx-n-warn" data-step="save"' in html
    assert 'class="tnx-node tnx-n-info" data-step="lines"' in html
    table = {row[0]: row for row in read(html).rows[1:]}
    assert table["save"][-1] == "needs approval (writes-need-a-person)" and table["greet"][-1] == ""


def test_no_nexus_no_decisions(plan: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    import toolnexus.api as api

    monkeypatch.setattr(api, "_default", None)
    assert plan_decisions(plan) == {}  # displaying a plan never opens a workspace by itself
    assert api._default is None


# -- results -------------------------------------------------------------------------------------------------


def test_a_succeeded_run(nexus: tn.Nexus) -> None:
    result = nexus.run(nexus.workspace / "hello.yaml", inputs={"name": HOSTILE})
    assert result.ok
    html = run_html(result)
    page = read(html)
    assert "tnx-ok" in html and result.run_id in html and not page.scripts
    steps = {row[0]: row for row in page.rows if len(row) == 8 and row[0] != "step"}  # the steps table
    assert set(steps) == set(result.steps) and all(row[2] == "succeeded" for row in steps.values())
    outputs = {row[0]: row[1] for row in page.rows if len(row) == 2}  # the outputs table: name, value
    assert outputs["file"] == "out/hello.txt" and outputs["lines"] == "3"
    assert "&lt;script&gt;" in html


def test_a_failed_run_names_the_failed_step_first(nexus: tn.Nexus) -> None:
    mission = ("mission: broken\nsteps:\n  - id: ok\n    uses: text.render@1\n    with: {template: x}\n"
               "  - id: missing\n    uses: files.read@1\n    needs: [ok]\n    with: {path: no/such/file.txt}\n")
    result = nexus.run(mission)
    assert result.status.value == "failed"
    html = run_html(result)
    rows = [row for row in read(html).rows if row and row[0] in result.steps]
    assert [row[0] for row in rows] == ["missing", "ok"]
    assert rows[0][2] == "failed" and "no/such/file.txt" in rows[0][-1]
    assert "tnx-bad" in html


def test_a_tracked_run_names_its_mlflow_run(workspace: Path) -> None:
    from tests.tracking.support import synced

    shutil.copy(REPO / "missions" / "hello.yaml", workspace / "hello.yaml")
    with tn.Nexus(workspace, store=False, overrides={"tracking.enabled": True}) as nexus:
        result = nexus.run(workspace / "hello.yaml")
        synced(nexus)
        assert nexus.tracker is not None
        mlflow_run = nexus.tracker.mlflow_run_id(result.run_id)
        html = run_html(result, nexus=nexus)
    assert mlflow_run and f"MLflow run {mlflow_run}" in html  # a SQLite store has no web UI: named, not linked


def test_a_run_with_an_mlflow_link() -> None:
    from toolnexus.core.run import RunResult, RunStatus

    result = RunResult(run_id="r1", mission="m", status=RunStatus.SUCCEEDED)
    html = run_html(result, link=("MLflow run abc", "http://127.0.0.1:5000/#/experiments/1/runs/abc"))
    assert 'href="http://127.0.0.1:5000/#/experiments/1/runs/abc"' in html


def test_call_results(nexus: tn.Nexus) -> None:
    ok = nexus.call("text.render", {"template": "Hi {{ who }}", "data": {"who": HOSTILE}})
    html = tool_result_html(ok)
    assert ok.ok and "tnx-ok" in html and "Hi &lt;script&gt;" in html and "<script" not in html
    failed = nexus.call("files.read", {"path": "nope.txt"})
    html = tool_result_html(failed)
    assert not failed.ok and "tnx-bad" in html and "nope.txt" in html


def test_long_outputs_are_cut(nexus: tn.Nexus) -> None:
    result = nexus.call("text.render", {"template": "x" * 50_000})
    html = tool_result_html(result)
    assert "more characters)" in html and len(html) < 20_000


def test_search_hits_show_scores_and_matched_terms(nexus: tn.Nexus) -> None:
    hits = nexus.registry.search("read a file")
    rows = read(search_hits_html(hits, "read a file")).rows
    assert rows[0] == ["#", "tool", "score", "matched", "tier", "summary"]
    assert rows[1][1] == hits[0].spec.ref and rows[1][2] == f"{hits[0].score:.3f}"
    assert "read" in rows[1][3]


def test_a_tool_card(nexus: tn.Nexus) -> None:
    spec = nexus.registry.get("files.write")
    html = tool_card_html(spec)
    rows = read(html).rows
    assert rows[0] == ["argument", "type", "", "default", "description"]
    assert [row[0] for row in rows[1:]] == list(spec.input_schema["properties"])
    for word in (spec.name, spec.version, "side_effecting", "active", spec.runtime, "tags:"):
        assert word in html


# -- IPython -------------------------------------------------------------------------------------------------


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    register(ip)
    yield ip


def test_register_gives_the_plan_html_and_mermaid(shell: InteractiveShell, plan: Plan) -> None:
    data, _metadata = shell.display_formatter.format(plan)
    assert {"text/plain", "text/html", MERMAID} <= set(data)
    assert '<svg class="tnx-graph"' in data["text/html"] and data[MERMAID] == plan_mermaid(plan)


def test_register_covers_runs_calls_specs_and_hits(shell: InteractiveShell, nexus: tn.Nexus) -> None:
    fmt = shell.display_formatter.format
    result = nexus.run(nexus.workspace / "hello.yaml")
    assert "tnx-run" in fmt(result)[0]["text/html"]
    assert "tnx-result" in fmt(nexus.call("text.render", {"template": "x"}))[0]["text/html"]
    assert "tnx-tool" in fmt(nexus.registry.get("files.read"))[0]["text/html"]
    hits = nexus.registry.search("file")
    assert "tnx-hits" in fmt(hits)[0]["text/html"] and "tnx-hit" in fmt(hits[0])[0]["text/html"]
    assert "text/html" not in fmt([1, 2, 3])[0] and "text/html" not in fmt([])[0]  # other lists as before


def test_register_twice_is_harmless(shell: InteractiveShell, plan: Plan) -> None:
    register(shell)
    printer = shell.display_formatter.formatters["text/html"].type_printers[list]
    register(shell)
    assert shell.display_formatter.formatters["text/html"].type_printers[list] is printer
    assert MERMAID in shell.display_formatter.format(plan)[0]


def test_registering_imports_nothing_it_displays() -> None:
    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "from toolnexus.notebook.display import register\nregister(InteractiveShell.instance())\n"
            "print(sorted(m for m in ('toolnexus.api', 'toolnexus.mission.plan', 'toolnexus.registry', "
            "'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stderr


# -- a static export -----------------------------------------------------------------------------------------


def test_a_kernels_plan_output_survives_an_nbconvert_html_export(workspace: Path) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    shutil.copy(REPO / "missions" / "hello.yaml", workspace / "hello.yaml")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from toolnexus.notebook.display import register\nregister(get_ipython())"),
        nbformat.v4.new_code_cell("import toolnexus as tn\nnexus = tn.Nexus(store=False)\n"
                                  "plan = nexus.compile('hello.yaml')\nplan"),
    ])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(workspace)}}).execute()
    output = notebook.cells[1].outputs[0]
    assert output["output_type"] == "execute_result" and MERMAID in output["data"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nbconvert's own, on some Python versions
        body, _resources = HTMLExporter().from_notebook_node(notebook)
    page = read(body)  # nbconvert rewrites the markup (attributes sorted, lower-cased): read it as HTML does
    assert page.svgs == 1 and page.nodes == ["greet", "lines", "save", "check"]
    assert set(page.edges) == {"greet→lines", "lines→save", "save→check"}


def test_tiers_are_badged_by_risk(nexus: tn.Nexus) -> None:
    html = tool_card_html(nexus.registry.get("shell.run"))
    assert SafetyTier.SIDE_EFFECTING.value in html and "tnx-warn" in html


def test_a_killed_tool_shows_on_its_step(workspace: Path) -> None:
    shutil.copy(REPO / "missions" / "hello.yaml", workspace / "hello.yaml")
    with tn.Nexus(workspace) as nexus:
        assert nexus.kills is not None
        nexus.kills.kill("tool", "files.read", "the disk is failing", by="ops")
        plan = nexus.compile(workspace / "hello.yaml")
        decisions = plan_decisions(plan, nexus)
    assert list(decisions) == ["check"] and decisions["check"].startswith("killed: ")
    assert "the disk is failing" in decisions["check"]
    assert 'class="tnx-node tnx-n-bad" data-step="check"' in plan_html(plan, decisions)
