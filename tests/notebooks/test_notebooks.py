"""The tutorials in ``notebooks/``: stored clean, and each runs top to bottom on a real kernel, offline.

Each notebook asserts what it shows in its own cells, so running it is the test; a failure names the
notebook, the cell's source and the error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.notebooks.kernel import NOTEBOOKS, execute, tutorial_notebooks

EXPECTED = ["01-quickstart", "02-tools-and-search", "03-governance", "04-runs-and-mlflow", "05-serving-over-mcp"]


def test_the_tutorials_are_there_in_order() -> None:
    assert [path.stem for path in tutorial_notebooks()] == EXPECTED


@pytest.mark.parametrize("notebook", tutorial_notebooks(), ids=lambda path: path.stem)
def test_stored_without_outputs(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "a tutorial without code"
    dirty = [index for index, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert dirty == [], f"{notebook.name}: cells {dirty} keep outputs or execution counts (clear them first)"
    assert any("assert " in cell.source for cell in code), f"{notebook.name} checks nothing"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", tutorial_notebooks(), ids=lambda path: path.stem)
def test_runs_top_to_bottom_on_a_real_kernel(notebook: Path, tmp_path: Path) -> None:
    executed = execute(notebook, tmp_path)
    ran = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in ran)
    assert [output for cell in ran for output in cell.outputs if output.output_type == "error"] == []
    # each tutorial works in a scratch workspace of its own, never in the folder it was started from
    assert list((tmp_path / "cwd").iterdir()) == []
    [scratch] = (tmp_path / "tmp").glob("toolnexus-tutorial-*")
    assert (scratch / ".toolnexus" / "state.db").is_file()


def outputs_of(cell: nbformat.NotebookNode) -> list[set[str]]:
    """The MIME types of each display or result the cell produced, in order."""
    return [set(output.get("data", {})) for output in cell.outputs if output.output_type != "stream"]


@pytest.mark.slow
def test_the_quickstart_mission_cell_shows_the_plan_the_live_view_and_the_result(tmp_path: Path) -> None:
    executed = execute(NOTEBOOKS / "01-quickstart.ipynb", tmp_path)
    [cell] = [cell for cell in executed.cells if cell.source.startswith("%%mission --run")]
    plan, live_view, result = outputs_of(cell)
    assert {"text/html", "text/vnd.mermaid"} <= plan
    assert "application/vnd.jupyter.widget-view+json" in live_view
    assert "text/html" in result
