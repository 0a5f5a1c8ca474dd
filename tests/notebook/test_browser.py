"""The tool browser widget, driven through its Python model: search as you type (debounced), filters,
one page of results at most, the disclosure levels, and ready-to-edit mission steps and Python calls;
then once in a real IPython kernel (the debounce on the kernel's loop, ``set_next_input``)."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from ipywidgets.widgets import widget as widget_module
from jsonschema import Draft202012Validator
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

import toolnexus as tn
from tests.conftest import REPO
from tests.notebook.html_support import read
from toolnexus.builtins import builtin_specs
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.notebook.browser import PAGE_SIZE, Debouncer, ToolBrowser, browse
from toolnexus.notebook.browser_listing import ResultsListing
from toolnexus.registry import Registry
from toolnexus.registry.toolsets import Toolset


class ManualClock:
    """A scheduler whose timers fire only when the test says so: debouncing without sleeps."""

    def __init__(self) -> None:
        self.timers: list[Timer] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(delay, callback)
        self.timers.append(timer)
        return timer

    def run_due(self) -> int:
        due = [t for t in self.timers if not t.cancelled and not t.fired]
        for timer in due:
            timer.fired = True
            timer.callback()
        return len(due)


class Timer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback = delay, callback
        self.cancelled = self.fired = False

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def inserted() -> list[str]:
    return []


@pytest.fixture
def browser(clock: ManualClock, inserted: list[str]) -> Any:
    made = ToolBrowser(Registry(builtin_specs()), {"writers": Toolset(tiers=[SafetyTier.SIDE_EFFECTING])},
                       scheduler=clock, insert=lambda text: inserted.append(text) is None)
    yield made
    made.close()


def shown(browser: ToolBrowser) -> list[str]:
    return [spec.name for spec in browser.visible_rows()]


def test_it_opens_on_the_first_page_of_every_tool(browser: ToolBrowser) -> None:
    assert shown(browser) == sorted(s.name for s in builtin_specs())
    assert [value for _label, value in browser.listing.options] == [s.ref for s in browser.visible_rows()]
    assert browser.status.value == "1–8 of 8 tools"


def test_typing_searches_once_the_input_is_quiet(browser: ToolBrowser, clock: ManualClock) -> None:
    for text in ("r", "re", "rea", "read a file"):
        browser.search.value = text
    assert shown(browser)[0] == "files.list"  # nothing searched yet: the keystrokes are pending
    assert [t.cancelled for t in clock.timers] == [True, True, True, False]
    assert clock.run_due() == 1  # one search for four keystrokes
    assert shown(browser)[0] == "files.read"
    assert "read" in browser.search.value and clock.run_due() == 0


def test_flush_searches_at_once(browser: ToolBrowser, clock: ManualClock) -> None:
    browser.search.value = "template"
    browser.flush()
    assert shown(browser) == ["text.render"] and clock.run_due() == 0


def test_a_debouncer_restarts_its_wait_on_each_call(clock: ManualClock) -> None:
    calls: list[int] = []
    debounced = Debouncer(lambda: calls.append(1), 0.3, clock)
    debounced()
    debounced()
    assert debounced.pending and [t.delay for t in clock.timers] == [0.3, 0.3]
    clock.run_due()
    assert calls == [1] and not debounced.pending


@pytest.mark.parametrize(("control", "value", "expected"), [
    ("tier", "side_effecting", ["files.write", "python.exec", "shell.run"]),
    ("namespace", "files", ["files.list", "files.read", "files.write"]),
    ("tag", "json", ["json.query"]),
    ("toolset", "writers", ["files.write", "python.exec", "shell.run"]),
    ("toolset", "read-only", ["files.list", "files.read", "http.fetch", "json.query", "text.render"]),
])
def test_filters_narrow_the_listing(browser: ToolBrowser, clock: ManualClock, control: str, value: str,
                                    expected: list[str]) -> None:
    getattr(browser, control).value = value
    clock.run_due()  # free-text filters are debounced like the search box
    assert shown(browser) == expected


def test_filters_apply_to_searches_too(browser: ToolBrowser, clock: ManualClock) -> None:
    browser.search.value = "file"
    browser.tier.value = "read_only"
    clock.run_due()
    assert set(shown(browser)) == {"files.read", "files.list"}


def test_the_choices_come_from_the_registry_and_the_configuration(browser: ToolBrowser) -> None:
    assert {"all", "read-only", "files", "writers"} <= set(browser.toolset.options)
    assert browser.toolset.value == "all"
    assert "files" in browser.namespace.options and "json" in browser.tag.options


def test_selecting_a_tool_expands_it_to_its_card_then_its_schema(browser: ToolBrowser) -> None:
    browser.listing.value = "files.read@1.0.0"  # a click in the list
    assert browser.selected is not None and browser.selected.name == "files.read"
    card = read(browser.detail.value)  # formatted HTML: the arguments are a table
    assert ["path", "string", "required", "", "Path of the file to read, relative to the workspace root."] in card.rows
    assert "input schema" not in browser.detail.value and not card.scripts
    browser.level.value = "schema"
    assert "input schema" in browser.detail.value and "example 1" in browser.detail.value
    assert not browser.step_button.disabled and not browser.call_button.disabled


def mission_with(step: str) -> str:
    return "mission: snippet\nsteps:\n" + "".join(f"  {line}\n" for line in step.splitlines())


def test_the_step_button_gives_a_mission_step_valid_against_the_mission_schema(
        browser: ToolBrowser, inserted: list[str]) -> None:
    from ruamel.yaml import YAML

    schema = json.loads((REPO / "schemas" / "mission.schema.json").read_text())
    for spec in builtin_specs():
        browser.select(spec.name)
        browser.step_button.click()
        step = browser.snippet.value
        assert inserted[-1] == step and f"uses: {spec.ref}" in step
        document = YAML(typ="safe").load(mission_with(step))
        errors = list(Draft202012Validator(schema).iter_errors(document))
        assert not errors, (spec.name, [e.message for e in errors])


@pytest.mark.anyio
async def test_a_produced_step_runs_in_a_mission(workspace: Path, clock: ManualClock) -> None:
    with tn.Nexus(workspace, store=False) as nexus:
        browser = browse(nexus, scheduler=clock, insert=lambda _text: False)
        browser.select("text.render")
        step = browser.produce("step")
        result = await nexus.arun(mission_with(step) + "outputs:\n  text: ${{ steps.render.outputs.text }}\n")
        browser.close()
    assert result.status.value == "succeeded", [(r.step_id, r.error) for r in result.failed_steps()]
    assert result.outputs == {"text": "Hello world!"}  # the example's arguments filled the required ones


def test_the_call_button_gives_python_that_calls_through_toolnexus(browser: ToolBrowser,
                                                                    inserted: list[str]) -> None:
    browser.select("files.write")
    browser.call_button.click()
    code = browser.snippet.value
    assert inserted == [code]
    tree = ast.parse(code)  # valid Python (await is accepted by ast at top level in a notebook cell)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "acall")
    assert ast.literal_eval(call.args[0]) == "files.write@1.0.0"
    assert {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords} == {"path": "out/report.md",
                                                                            "content": "# Report\n"}


def test_outside_a_kernel_nothing_is_inserted_but_the_text_area_shows_it() -> None:
    from toolnexus.notebook.browser import _insert_into_next_cell

    assert _insert_into_next_cell("x = 1") is False


def test_new_tools_show_up_after_the_registry_changes(browser: ToolBrowser, clock: ManualClock) -> None:
    browser.search.value = "geocode"
    clock.run_due()
    assert shown(browser) == []
    browser.registry.register(ToolSpec(name="geo.code", summary="Geocode an address.", tags=["geo"]))
    clock.run_due()
    assert shown(browser) == ["geo.code"] and "geo" in browser.namespace.options


# -- ten thousand tools ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_registry() -> Registry:
    words = ["convert", "csv", "parquet", "image", "resize", "email", "send", "report", "index", "query"]
    specs = [ToolSpec(name=f"ns{i % 50}.tool{i}", summary=f"{words[i % 10]} {words[(i * 7) % 10]} number {i}",
                      tags=[words[i % 10]], tier=SafetyTier.READ_ONLY if i % 3 else SafetyTier.SIDE_EFFECTING)
             for i in range(10_000)]
    return Registry(specs)


def widget_count() -> int:
    return len(widget_module._instances)


def test_ten_thousand_tools_never_render_more_than_a_page(big_registry: Registry, clock: ManualClock) -> None:
    browser = ToolBrowser(big_registry, scheduler=clock, insert=lambda _t: False)
    try:
        assert len(browser.listing.options) == PAGE_SIZE
        assert browser.status.value == f"1–{PAGE_SIZE} of 10,000 tools"
        before = widget_count()
        browser.search.value = "convert csv"
        clock.run_due()
        assert widget_count() == before  # a search creates no widgets: the page is updated in place
        assert len(browser.listing.options) == PAGE_SIZE
        assert all("convert" in s.summary or "csv" in s.summary for s in browser.visible_rows())
        first_page = shown(browser)
        browser.next.click()
        assert browser.page == 1 and len(browser.listing.options) == PAGE_SIZE
        assert not set(first_page) & set(shown(browser))
        assert widget_count() == before
        browser.search.value = ""
        browser.tier.value = "side_effecting"
        clock.run_due()
        assert browser.page == 0 and len(browser.listing.options) == PAGE_SIZE
        assert browser.status.value == f"1–{PAGE_SIZE} of 3,334 tools"
        assert widget_count() == before
    finally:
        browser.close()


def test_browse_uses_the_nexus_registry_and_its_toolsets(workspace: Path, clock: ManualClock) -> None:
    (workspace / "toolnexus.toml").write_text('[toolsets.mine]\ntags = ["json"]\n')
    with tn.Nexus(workspace, store=False) as nexus:
        browser = browse(nexus, scheduler=clock)
        browser.toolset.value = "mine"
        assert shown(browser) == ["json.query"]
        browser.close()


# -- in a real kernel --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel() -> Iterator[BlockingKernelClient]:
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        yield client
    finally:
        client.stop_channels()
        assert isinstance(manager, KernelManager)
        manager.shutdown_kernel(now=True)


def run(client: BlockingKernelClient, code: str) -> tuple[str, dict[str, Any]]:
    """Execute ``code``; its printed output and its execute_reply content."""
    printed: list[str] = []

    def collect(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))

    reply = client.execute_interactive(dedent(code), timeout=60, output_hook=collect)
    return "".join(printed), reply["content"]


def test_search_and_insert_in_a_kernel(kernel: BlockingKernelClient) -> None:
    out, reply = run(kernel, """
        from toolnexus.builtins import builtin_specs
        from toolnexus.notebook.browser import browse
        from toolnexus.registry import Registry
        b = browse(registry=Registry(builtin_specs()))
        b.search.value = "template"
        print(b._debounced.pending)
    """)
    assert reply["status"] == "ok", out
    assert out.strip() == "True"  # waiting on the kernel's loop, not run yet

    # Wait for the debounced search itself (a future it resolves), not for a while.
    out, reply = run(kernel, """
        import asyncio
        done = asyncio.get_running_loop().create_future()
        search = b._debounced.function
        def searched():
            search()
            done.set_result(True)
        b._debounced.function = searched
        if not b._debounced.pending:
            searched()
        await asyncio.wait_for(done, 30)
        print([s.name for s in b.visible_rows()])
    """)
    assert reply["status"] == "ok", out
    assert out.strip() == "['text.render']"

    out, reply = run(kernel, """
        b.select("text.render")
        b.call_button.click()
    """)
    assert reply["status"] == "ok", out
    inserted = [p for p in reply.get("payload", []) if p.get("source") == "set_next_input"]
    assert len(inserted) == 1 and "toolnexus.acall('text.render@1.0.0'" in inserted[0]["text"]


# -- issue 17: scores, layout, keyboard, formatted card ------------------------------------------------------


def test_search_rows_show_their_score_and_matched_terms(browser: ToolBrowser, clock: ManualClock) -> None:
    browser.search.value = "read a file"
    clock.run_due()
    label, ref = browser.listing.options[0]
    hit = browser.hits[ref]
    assert ref == "files.read@1.0.0" and f"·  {hit.score:.2f}" in label
    assert "read" in label.rpartition("[")[2]  # the matched terms close the row
    browser.listing.value = ref
    assert f"score {hit.score:.3f}" in browser.detail.value and "matched" in browser.detail.value
    browser.search.value = ""
    clock.run_due()
    assert browser.hits == {} and "·" not in browser.listing.options[0][0]  # no query, no score


def test_the_layout_wraps_within_the_cell(browser: ToolBrowser) -> None:
    search, filters, body = browser.widget.children
    assert browser.widget.layout.width == "100%" and search.layout.width == "100%"
    assert filters.layout.flex_flow == "row wrap" and body.layout.flex_flow == "row wrap"
    assert all(control.layout.width == "auto" and control.layout.flex for control in filters.children)
    results, tool = body.children
    assert browser.listing in results.children and browser.detail in tool.children
    assert results.layout.min_width == tool.layout.min_width == "0"  # flex items may shrink below content
    assert browser.listing.rows == PAGE_SIZE


def test_enter_in_the_search_box_inserts_the_step_of_the_first_result(browser: ToolBrowser, clock: ManualClock,
                                                                       inserted: list[str]) -> None:
    browser.search.value = "template"  # typed, not yet searched: Enter searches first
    browser.search._handle_custom_msg({"event": "submit"}, [])  # what the front end sends on Enter
    assert browser.selected is not None and browser.selected.name == "text.render"
    assert browser.listing.value == "text.render@1.0.0" and inserted == [browser.snippet.value]
    assert "uses: text.render@1.0.0" in inserted[0]


def test_enter_inserts_the_tool_chosen_with_the_arrows(browser: ToolBrowser, inserted: list[str]) -> None:
    browser.listing.value = browser.listing.options[2][1]  # arrow keys move the listing's value
    chosen = browser.selected
    assert chosen is not None
    browser.search._handle_custom_msg({"event": "submit"}, [])
    assert inserted and f"uses: {chosen.ref}" in inserted[-1]


def test_enter_in_the_listing_inserts_the_step_of_its_selected_row(browser: ToolBrowser,
                                                                   inserted: list[str]) -> None:
    assert isinstance(browser.listing, ResultsListing)
    ref = browser.listing.options[3][1]
    browser.listing.value = ref  # the arrows moved the selection there
    browser.listing._handle_custom_msg({"event": "activate", "value": ref}, [])  # what the front end sends on Enter
    assert browser.selected is not None and browser.selected.ref == ref
    assert inserted == [browser.snippet.value] and f"uses: {ref}" in inserted[0]


def test_a_double_clicked_row_is_selected_and_inserted(browser: ToolBrowser, inserted: list[str]) -> None:
    ref = browser.listing.options[1][1]  # activated without a selection message before it
    browser.listing._handle_custom_msg({"event": "activate", "value": ref}, [])
    assert browser.selected is not None and browser.selected.ref == ref
    assert browser.detail.value and f"uses: {ref}" in inserted[-1]


def test_a_row_of_a_page_no_longer_shown_is_ignored(browser: ToolBrowser, inserted: list[str]) -> None:
    browser.listing._handle_custom_msg({"event": "activate", "value": "gone.tool@1.0.0"}, [])
    browser.listing.value = "gone.tool@1.0.0"  # a click that raced a new page
    assert browser.selected is None and inserted == []


def test_enter_with_nothing_found_inserts_nothing(browser: ToolBrowser, clock: ManualClock,
                                                 inserted: list[str]) -> None:
    browser.search.value = "zzzzqqq"
    assert browser.submit() == "" and inserted == []


def test_enter_in_a_real_kernel_inserts_the_step(kernel: BlockingKernelClient) -> None:
    out, reply = run(kernel, """
        from toolnexus.builtins import builtin_specs
        from toolnexus.notebook.browser import browse
        from toolnexus.registry import Registry
        enter = browse(registry=Registry(builtin_specs()))
        enter.search.value = "template"
        print(enter.search.model_id)
    """)
    assert reply["status"] == "ok", out
    # What the front end sends when Enter is pressed in the search box: a custom message on the widget's comm.
    kernel.shell_channel.send(kernel.session.msg("comm_msg", {
        "comm_id": out.strip(), "data": {"method": "custom", "content": {"event": "submit"}}}))
    out, reply = run(kernel, "print(enter.selected.name)\nprint(enter.snippet.value.splitlines()[1])")
    assert reply["status"] == "ok", out  # the shell handles messages in order: the comm message came first
    assert out.splitlines() == ["text.render", "  uses: text.render@1.0.0"]


def test_enter_in_the_listing_in_a_real_kernel_inserts_the_step(kernel: BlockingKernelClient) -> None:
    out, reply = run(kernel, """
        from toolnexus.builtins import builtin_specs
        from toolnexus.notebook.browser import browse
        from toolnexus.registry import Registry
        keys = browse(registry=Registry(builtin_specs()))
        print(keys.listing.model_id)
    """)
    assert reply["status"] == "ok", out
    comm = out.strip()
    # What the front end sends when the arrows select a row (a state update) and Enter is pressed on it.
    kernel.shell_channel.send(kernel.session.msg("comm_msg", {
        "comm_id": comm, "data": {"method": "update", "state": {"value": "json.query@1.0.0"}, "buffer_paths": []}}))
    kernel.shell_channel.send(kernel.session.msg("comm_msg", {
        "comm_id": comm, "data": {"method": "custom", "content": {"event": "activate", "value": "json.query@1.0.0"}}}))
    out, reply = run(kernel, "print(keys.selected.name)\nprint(keys.snippet.value.splitlines()[1])")
    assert reply["status"] == "ok", out
    assert out.splitlines() == ["json.query", "  uses: json.query@1.0.0"]
