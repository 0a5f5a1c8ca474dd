"""The notebook surface in a real JupyterLab and Chromium: what a person sees, types and clicks.

One notebook (``tour.ipynb``, made through the contents API) is opened and run with Run → Run All Cells;
the tests then look at its outputs in the page: the plan graph, the live run view, the tool browser, the review
widget — and approve, in that widget, a call an agent makes on the lab server's MCP endpoint. A second
notebook runs a long mission whose Cancel button is clicked. The quick-start tutorial is run as a newcomer
would. Each check leaves a screenshot (see ``artifacts`` in conftest).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

import toolnexus as tn
from tests.browser.conftest import Lab
from tests.browser.support import WITHIN, AgentCall, open_notebook, output, put_notebook, run_all, shot
from toolnexus.core.run import RunStatus

FIRST = 2 * WITHIN  # the first output also waits for the kernel's first imports
MISSION = '''MISSION = """
mission: hello
inputs:
  name: {type: string, default: world}
steps:
  - id: greet
    uses: text.render@1
    with:
      template: "Hello, {{ name }}!"
      data: {name: "${{ inputs.name }}"}
  - id: save
    uses: files.write@1
    with:
      path: out/hello.txt
      content: "${{ steps.greet.outputs.text }}"
outputs:
  greeting: "${{ steps.greet.outputs.text }}"
"""'''
TOUR = [
    "import toolnexus as tn\n\n" + MISSION,
    "%load_ext toolnexus",
    "%%mission --as checked\nmission: shout\nsteps:\n  - id: render\n    uses: text.render@1\n"
    "    with: {template: \"HELLO\"}\n",
    "plan = tn.compile(MISSION)\nplan",
    'result = tn.run(plan, {"name": "Ada"})\nprint("RESULT", result.status.value, result.outputs["greeting"])',
    "tn.browse()",
    "tn.review()",
]
PLAN, CELL_MISSION, RUN, BROWSE, REVIEW = 3, 2, 4, 5, 6
QUICKSTART_MISSION = 7  # the quick start's %%mission --run cell (markdown cells count)
LONG = [
    "import toolnexus as tn\n%load_ext toolnexus",
    'long = tn.run("""\nmission: nap\nsteps:\n  - id: sleep\n    uses: shell.run@1\n'
    '    with: {argv: [sleep, "50"], timeout: 55}\n""")',
    'print("RESULT", long.status.value)',
]


@pytest.fixture(scope="module")
def tour(lab: Lab, browser: Any) -> Iterator[Any]:
    """A page with the tour notebook open in JupyterLab, all its cells run (or running)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    open_notebook(page, lab, put_notebook(lab, "tour.ipynb", TOUR))
    run_all(page)
    yield page
    context.close()


def test_the_plan_graph_is_drawn(tour: Any, artifacts: Path) -> None:
    graph = output(tour, PLAN).locator("svg.tnx-graph")
    graph.wait_for(timeout=FIRST)
    for step in ("greet", "save"):
        expect(graph.locator(f'g[data-step="{step}"]')).to_have_count(1)
    # The %%mission cell (no --run) validates its YAML and draws its plan too.
    expect(output(tour, CELL_MISSION).locator('svg.tnx-graph g[data-step="render"]')).to_have_count(1)
    shot(output(tour, PLAN), artifacts, "plan-graph")


def test_the_live_run_view_reaches_succeeded(tour: Any, artifacts: Path) -> None:
    view = output(tour, RUN).locator(".toolnexus-run-view")
    view.wait_for(timeout=FIRST)
    expect(view.locator(".toolnexus-run-header")).to_contain_text("succeeded", timeout=WITHIN)
    expect(view).to_contain_text("greet")
    expect(view).to_contain_text("save")
    expect(output(tour, RUN)).to_contain_text("RESULT succeeded Hello, Ada!", timeout=WITHIN)
    expect(view.locator("button", has_text="Cancel")).to_have_count(0)  # nothing left to cancel
    shot(output(tour, RUN), artifacts, "run-view")


def test_the_tool_browser_searches_and_shows_the_selected_tools_card(tour: Any, artifacts: Path) -> None:
    area = output(tour, BROWSE)
    search = area.get_by_placeholder("search tools", exact=False)
    search.wait_for(timeout=FIRST)
    search.fill("read a file")
    listing = area.locator(".widget-select select")
    # A search's rows end with the hit's score and matched terms (the unsearched listing has neither; the
    # row's spaces are non-breaking, hence \s).
    hit = listing.locator("option", has_text=re.compile(r"^files\.read@.*·\s*\d+\.\d+\s\[.*read"))
    expect(hit).to_have_count(1, timeout=WITHIN)
    expect(listing.locator("option").first).to_have_text(re.compile(r"^files\.read@"))  # the best match first
    listing.select_option(label=hit.inner_text())
    expect(area.locator(".tnx-title", has_text="files.read")).to_be_visible(timeout=WITHIN)
    expect(area.locator(".widget-html-content table").first).to_be_visible()  # the card's arguments table
    shot(area, artifacts, "tool-browser")


def test_the_tool_browsers_arrow_keys_move_through_the_results(tour: Any) -> None:
    area = output(tour, BROWSE)
    listing = area.locator(".widget-select select")
    listing.wait_for(timeout=FIRST)
    # The listing keeps its keys: JupyterLab's command-mode shortcuts (ArrowDown → next cell) are not applied.
    expect(listing).to_have_attribute("data-lm-suppress-shortcuts", "true")
    expect(listing.locator("option").nth(2)).to_be_attached(timeout=WITHIN)
    names = [re.match(r"[\w.]+", listing.locator("option").nth(n).inner_text()) for n in range(3)]
    assert all(names), names
    first, second, third = (name.group(0) for name in names if name is not None)
    listing.select_option(index=0)
    expect(area.locator(".tnx-title", has_text=first)).to_be_visible(timeout=WITHIN)
    listing.focus()
    tour.keyboard.press("ArrowDown")
    expect(area.locator(".tnx-title", has_text=second)).to_be_visible(timeout=WITHIN)
    tour.keyboard.press("ArrowDown")
    expect(area.locator(".tnx-title", has_text=third)).to_be_visible(timeout=WITHIN)
    tour.keyboard.press("End")
    last = re.match(r"[\w.]+", listing.locator("option").last.inner_text())
    assert last is not None
    expect(area.locator(".tnx-title", has_text=last.group(0))).to_be_visible(timeout=WITHIN)
    tour.keyboard.press("Home")
    expect(area.locator(".tnx-title", has_text=first)).to_be_visible(timeout=WITHIN)
    tour.keyboard.press("ArrowDown")
    tour.keyboard.press("ArrowDown")
    tour.keyboard.press("ArrowUp")
    expect(area.locator(".tnx-title", has_text=second)).to_be_visible(timeout=WITHIN)
    expect(listing).to_be_focused()  # the focus stayed in the list (it did not move to another cell)
    # Enter in the list inserts the selected tool's step (shown in the browser's text area too).
    tour.keyboard.press("Enter")
    expect(area.locator("textarea")).to_have_value(re.compile(rf"uses: {re.escape(second)}@"), timeout=WITHIN)
    expect(listing).to_be_focused()  # Enter did not put the notebook into edit mode elsewhere


def test_the_review_widget_renders(tour: Any, artifacts: Path) -> None:
    area = output(tour, REVIEW)
    expect(area.get_by_text("no call is waiting for approval")).to_be_visible(timeout=FIRST)
    for tab in ("Approvals", "Kill switches", "Decisions", "Observe", "Audit"):
        expect(area.locator(".lm-TabBar-tab", has_text=tab)).to_have_count(1)
    shot(area, artifacts, "review-widget")


def test_an_agents_waiting_call_is_approved_in_the_page(tour: Any, lab: Lab, artifacts: Path,
                                                        record_testsuite_property: Any) -> None:
    area = output(tour, REVIEW)
    expect(area.get_by_text("no call is waiting for approval")).to_be_visible(timeout=FIRST)
    agent = AgentCall(lab, "json.query", {"data": {"quarter": "q1", "total": 42}, "query": "total"})
    approve = area.locator("button", has_text="Approve")
    approve.wait_for(timeout=WITHIN)  # the widget follows the store: the agent's call appears by itself
    expect(area).to_contain_text("json.query")
    expect(area).to_contain_text("queries-need-a-person")
    shot(area, artifacts, "review-waiting-call")
    ticket = re.search(r"apr-[0-9a-f-]+", area.locator(".widget-html-content", has_text="json.query").first
                       .inner_text())
    assert ticket is not None
    clicked = time.perf_counter()
    approve.click()
    result = agent.wait()
    # Click in the page → result at the agent (reported, not asserted: the 1 s is a benchmark figure).
    record_testsuite_property("browser_review_click_to_result_seconds", round(time.perf_counter() - clicked, 3))
    assert result.is_error is not True, result
    assert "42" in str(result.structured_content or result.content), result
    expect(area.get_by_text("no call is waiting for approval")).to_be_visible(timeout=WITHIN)
    with tn.Nexus(lab.root) as workspace:  # the decision is in the workspace's store, made in the notebook
        decided = workspace.approvals.show(ticket.group(0))
    assert (decided.status, decided.channel) == ("granted", "notebook"), decided


def test_cancel_stops_a_long_mission(lab: Lab, browser: Any, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        open_notebook(page, lab, put_notebook(lab, "long.ipynb", LONG))
        run_all(page)
        view = output(page, 1).locator(".toolnexus-run-view")
        expect(view.locator(".toolnexus-run-header")).to_contain_text("running", timeout=FIRST)
        cancel = view.locator("button", has_text="Cancel")
        expect(cancel).to_be_enabled()
        cancel.click()
        expect(view.locator(".toolnexus-run-header")).to_contain_text("cancelled", timeout=WITHIN)
        # The cell that ran the mission ends (long before the 50 s sleep would), and the next one reports it.
        expect(output(page, 2)).to_contain_text("RESULT cancelled", timeout=WITHIN)
        expect(view.locator("button", has_text="Resume")).to_be_visible()
        shot(output(page, 1), artifacts, "run-cancelled")
    finally:
        context.close()
    with tn.Nexus(lab.root) as workspace:  # recorded cancelled, as Ctrl-C in the CLI records it
        assert workspace.store is not None
        (stored,) = workspace.store.list_runs(limit=1, mission="nap")
    assert stored.status == RunStatus.CANCELLED, stored


def test_the_quick_start_tutorial_runs_in_the_page(lab: Lab, browser: Any, artifacts: Path) -> None:
    if not (lab.root / "notebooks" / "01-quickstart.ipynb").exists():
        pytest.skip("no notebooks/01-quickstart.ipynb in the repository")
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        open_notebook(page, lab, "notebooks/01-quickstart.ipynb")
        run_all(page)
        runs = page.locator(".toolnexus-run-view .toolnexus-run-header", has_text="succeeded")
        expect(runs).to_have_count(2, timeout=FIRST)  # the %%mission --run cell and tn.run(plan, ...)
        expect(page.locator('svg.tnx-graph g[data-step="greet"]').last).to_be_visible(timeout=WITHIN)
        expect(page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")) \
            .to_have_count(0)
        shot(output(page, QUICKSTART_MISSION), artifacts, "quickstart-mission-cell")
    finally:
        context.close()
