"""``tn.runs()`` and ``tn.compare(a, b)`` in a notebook: past runs from the real state store as an HTML table,
two runs side by side (inputs, outputs, step statuses, durations and costs), and the link to MLflow's compare
view of the same runs when tracking recorded them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

import toolnexus as tn
from tests.tracking.conftest import mlflow_template, register_test_tools, seed_store
from tests.tracking.support import GREETING, client_of, synced
from toolnexus.notebook.runs import Comparison, RunsTable, UnknownRun, compare, runs

__all__ = ["mlflow_template"]

FAILING = """\
mission: failing
steps:
  - id: boom
    uses: test.fail
"""


@pytest.fixture
def untracked(workspace: Path) -> Iterator[tn.Nexus]:
    """A Nexus with the test tools and MLflow tracking off."""
    with register_test_tools(tn.Nexus(workspace)) as nexus:
        yield nexus


def test_runs_lists_past_runs_newest_first_with_their_steps(untracked: tn.Nexus) -> None:
    assert "no run yet" in runs(untracked)._repr_html_() and repr(runs(untracked)) == "no run yet"
    first = untracked.run(GREETING, {"who": "alpha"})
    second = untracked.run(GREETING, {"who": "beta"})
    table = runs(untracked)
    assert isinstance(table, RunsTable)
    assert [r.run_id for r in table.runs] == [second.run_id, first.run_id]
    rows = table.rows()
    assert rows[0][:3] == [second.run_id, "greeting", "succeeded"] and rows[0][6] == "2"
    assert rows[0][5] == "0.2 USD" and rows[0][4]  # test.costly costs 0.2 a call; a duration is shown
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and first.run_id in html and "tnx-ok" in html  # header + two runs
    assert "<script" not in html and "http" not in html.split("</style>", 1)[1]  # offline: nothing fetched
    assert first.run_id in repr(table).splitlines()[2]
    assert [r.run_id for r in runs(untracked, limit=1).runs] == [second.run_id]
    assert runs(untracked, mission="nope").runs == []


def test_compare_shows_inputs_outputs_and_steps_side_by_side(untracked: tn.Nexus) -> None:
    good = untracked.run(GREETING, {"who": "alpha"})
    other = untracked.run(GREETING, {"who": "beta", "times": 3})
    shown = compare(good, other.run_id[:-2], untracked)  # a unique prefix will do
    assert isinstance(shown, Comparison)
    assert shown.values("inputs") == [("who", "alpha", "beta"), ("times", "2", "3")]
    assert [step for step, _, _ in shown.steps()] == ["greet", "pay"]
    (_, pay_a, pay_b) = shown.steps()[1]
    assert (pay_a[0], pay_a[2], pay_b[0], pay_b[2]) == ("succeeded", "0.2 USD", "succeeded", "0.2 USD")
    assert "input.who" in shown.differences() and "step.pay" not in shown.differences()
    html = shown._repr_html_()
    for part in ("Inputs", "Outputs", "Steps", "alpha", "beta", "0.2 USD", good.run_id, other.run_id):
        assert part in html
    assert "MLflow tracking is off" in html and "differs: input.who" in repr(shown)


def test_compare_with_a_failed_run_shows_its_step_failed(untracked: tn.Nexus) -> None:
    good = untracked.run(GREETING, {"who": "alpha"})
    bad = untracked.run(FAILING)
    shown = compare(good.run_id, bad.run_id, untracked)
    steps = dict((step, (a, b)) for step, a, b in shown.steps())
    assert steps["boom"][0] == ("", "", "") and steps["boom"][1][0] == "failed"
    assert "step.boom" in shown.differences() and "tnx-bad" in shown._repr_html_()


def test_an_unknown_run_is_a_clear_message(untracked: tn.Nexus) -> None:
    with pytest.raises(UnknownRun, match="no run 'run-nope'") as caught:
        compare("run-nope", "run-nope", untracked)
    assert caught.value._render_traceback_() == [f"UnknownRun: {caught.value} (see tn.runs())"]


def test_compare_links_to_mlflows_compare_view_of_the_same_runs(workspace: Path, mlflow_template: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLNEXUS_TRACKING__ENABLED")
    (workspace / "toolnexus.toml").write_text("[tracking]\nenabled = true\n")
    seed_store(workspace / ".toolnexus" / "mlflow.db", mlflow_template)
    with register_test_tools(tn.Nexus(workspace)) as nexus:
        first, second = nexus.run(GREETING, {"who": "alpha"}), nexus.run(GREETING, {"who": "beta"})
        synced(nexus)
        shown = compare(first, second, nexus)
        client = client_of(nexus)
        experiment = client.get_experiment_by_name("greeting")
        mlflow_ids = {run.info.run_id for run in client.search_runs([experiment.experiment_id])}
    assert shown.link is not None
    text, url = shown.link
    assert url is not None and "mlflow ui --backend-store-uri" in text
    view = unquote(url.split("#/compare-runs?", 1)[1])
    runs_part, experiments_part = view.split("&experiments=")
    assert set(json.loads(runs_part.removeprefix("runs="))) == mlflow_ids
    assert json.loads(experiments_part) == [experiment.experiment_id]
    assert 'href="http://127.0.0.1:5000/#/compare-runs' in shown._repr_html_()
