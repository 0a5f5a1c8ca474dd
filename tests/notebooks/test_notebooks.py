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
    errors = [output for cell in ran for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    # the tutorials work in a scratch folder of their own, never in the folder they were started from
    assert sorted(p.name for p in tmp_path.iterdir()) == [".kernelspec"]
    assert NOTEBOOKS.is_dir()
