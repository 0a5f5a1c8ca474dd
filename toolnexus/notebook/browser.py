"""The tool browser: search, filter and page through the registry in a notebook, and use a tool.

``browse()`` shows a search box (results as you type, debounced), filters (namespace, tier, tag,
toolset), a paged listing and, for the selected tool, its card or full schema (the disclosure levels)
and buttons that produce a ready-to-edit mission step or Python call.

A search's rows end with each hit's score and matched terms; the card is formatted HTML
(:func:`toolnexus.notebook.display.tool_card_html`); the layout wraps to the cell's width. Keyboard: the
listing (:class:`~toolnexus.notebook.browser_listing.ResultsListing`, a list box that keeps its keys in
JupyterLab) moves with the arrows, Home and End, and Enter in it inserts the selected tool's step; Enter in
the search box inserts the step of the selected tool (the first result's when none is selected).

It stays responsive with tens of thousands of tools: the listing is one widget whose options are the
current page (25 tools), updated in place, so a search never creates widgets and never renders or sends
more than one page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.notebook.browser_listing import ResultsListing
from toolnexus.notebook.debounce import DEBOUNCE_SECONDS, Debouncer, Scheduler, default_scheduler
from toolnexus.registry.disclosure import Level, render_text
from toolnexus.registry.search_model import SearchHit
from toolnexus.registry.snippets import mission_step, python_call
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset
from toolnexus.registry.toolsets_config import ToolFilter, available_toolsets, top_namespaces

PAGE_SIZE = 25
ANY = ""  # the "no filter" choice of a dropdown
MAX_SUGGESTIONS = 500  # combobox suggestions sent to the browser, however many tags the catalog has


def _insert_into_next_cell(text: str) -> bool:
    """Put ``text`` into the next cell through IPython's ``set_next_input``; False outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    shell.set_next_input(text, replace=False)
    return True


class ToolBrowser:
    """The browser's Python model; ``.widget`` is what the notebook displays."""

    def __init__(self, registry: Any, toolsets: dict[str, Toolset] | None = None, *, page_size: int = PAGE_SIZE,
                 debounce: float = DEBOUNCE_SECONDS, scheduler: Scheduler = default_scheduler,
                 insert: Callable[[str], bool] = _insert_into_next_cell) -> None:
        self.registry = registry
        self.configured = dict(toolsets or {})
        self.page_size = page_size
        self.insert = insert
        self.page = 0
        self.selected: ToolSpec | None = None
        self.results: list[ToolSpec] = []
        self.has_more = False
        self.total: int | None = None
        self._page_specs: dict[str, ToolSpec] = {}
        self.hits: dict[str, SearchHit] = {}
        """The current page's search hits by tool ref (empty when no query is typed)."""
        self._updating = False
        self._stale = False
        self._listing: list[ToolSpec] = []
        self._listing_key: tuple[Any, ...] | None = None
        self._all: list[ToolSpec] = []
        self._all_generation: int | None = None
        self._debounced = Debouncer(self.update, debounce, scheduler)

        generation = getattr(registry, "generation", None)
        specs = registry.list()
        self._all, self._all_generation = specs, generation
        self._build(page_size)
        self._refresh_choices(specs)
        for control in (self.search, self.namespace, self.tag):
            control.observe(self._changed, names="value")
        for control in (self.toolset, self.tier):
            control.observe(self._changed_now, names="value")
        self.search.on_msg(self._search_message)  # Enter in the search box: the front end sends "submit"
        self.level.observe(lambda _c: self._show_detail(), names="value")
        self._unsubscribe = registry.subscribe(self._registry_changed) if hasattr(registry, "subscribe") else None
        self.widget = self._layout()
        self.update()

    def _build(self, page_size: int) -> None:
        fill = widgets.Layout(width="100%")
        self.search = widgets.Text(placeholder="search tools, e.g. 'read a csv file' — Enter inserts the step",
                                   continuous_update=True, layout=fill)
        # Filters shrink and wrap rather than run past the cell's right edge.
        narrow = {"layout": widgets.Layout(width="auto", flex="1 1 14em", min_width="10em"),
                  "style": {"description_width": "initial"}}
        self.toolset = widgets.Dropdown(description="toolset", **narrow)
        self.namespace = widgets.Combobox(description="namespace", placeholder="any", ensure_option=False, **narrow)
        self.tier = widgets.Dropdown(description="tier", options=[("any", ANY)] + [(t.value, t.value)
                                                                                   for t in SafetyTier], **narrow)
        self.tag = widgets.Combobox(description="tag", placeholder="any", ensure_option=False, **narrow)
        # One list box holds the page: its options are the only per-tool data sent to the browser. It keeps
        # the arrow keys and Enter in JupyterLab; its rows are the page, so the box is as tall as what it lists.
        self.listing = ResultsListing(options=[], rows=page_size, layout=widgets.Layout(width="100%"))
        self.listing.observe(self._picked, names="value")
        self.listing.on_activate(self._activated)
        self.previous = widgets.Button(description="◀", layout=widgets.Layout(width="3em"), disabled=True)
        self.next = widgets.Button(description="▶", layout=widgets.Layout(width="3em"), disabled=True)
        self.previous.on_click(lambda _b: self.go_to(self.page - 1))
        self.next.on_click(lambda _b: self.go_to(self.page + 1))
        self.status = widgets.Label()
        self.level = widgets.ToggleButtons(options=[lv.value for lv in Level], value=Level.CARD.value,
                                           style={"button_width": "auto"}, layout=widgets.Layout(width="auto"))
        self.detail = widgets.HTML(layout=widgets.Layout(width="100%", overflow="auto"))
        self.step_button = widgets.Button(description="mission step", icon="list", disabled=True,
                                          tooltip="a `uses:` step for a mission, into the next cell (Enter)")
        self.call_button = widgets.Button(description="Python call", icon="code", disabled=True,
                                          tooltip="`await toolnexus.acall(...)`, into the next cell")
        self.step_button.on_click(lambda _b: self.produce("step"))
        self.call_button.on_click(lambda _b: self.produce("python"))
        self.snippet = widgets.Textarea(layout=widgets.Layout(width="100%", height="10em"),
                                        placeholder="the mission step or Python call appears here")

    def _layout(self) -> widgets.VBox:
        wrap = {"flex_flow": "row wrap", "width": "100%"}
        filters = widgets.HBox([self.toolset, self.namespace, self.tier, self.tag], layout=widgets.Layout(**wrap))
        pager = widgets.HBox([self.previous, self.status, self.next], layout=widgets.Layout(align_items="center"))
        results = widgets.VBox([pager, self.listing], layout=widgets.Layout(flex="1 1 22em", min_width="0"))
        tool = widgets.VBox([self.level, self.detail,
                             widgets.HBox([self.step_button, self.call_button], layout=widgets.Layout(**wrap)),
                             self.snippet], layout=widgets.Layout(flex="2 1 26em", min_width="0"))
        # Side by side in a wide cell, one above the other in a narrow one; never wider than the cell.
        body = widgets.HBox([results, tool], layout=widgets.Layout(grid_gap="0 1em", **wrap))
        return widgets.VBox([self.search, filters, body], layout=widgets.Layout(width="100%", max_width="100%"))

    # -- filters and results ---------------------------------------------------------------------

    def _refresh_choices(self, specs: list[ToolSpec]) -> None:
        toolsets = available_toolsets(self.configured, specs)
        current = self.toolset.value
        self.toolset.options = list(toolsets)
        self.toolset.value = current if current in toolsets else ALL_TOOLS.name
        self._toolsets = toolsets
        self.namespace.options = top_namespaces(specs)[:MAX_SUGGESTIONS]
        counts: dict[str, int] = {}
        for spec in specs:
            for tag in spec.tags:
                counts[tag] = counts.get(tag, 0) + 1
        self.tag.options = sorted(counts, key=lambda t: (-counts[t], t))[:MAX_SUGGESTIONS]

    def filters(self) -> ToolFilter:
        """The chosen toolset narrowed by the namespace, tier and tag filters."""
        extra: dict[str, Any] = {}
        if self.namespace.value.strip():
            extra["namespaces"] = [self.namespace.value.strip()]
        if self.tier.value:
            extra["tiers"] = [self.tier.value]
        if self.tag.value.strip():
            extra["tags"] = [self.tag.value.strip()]
        return ToolFilter(self._toolsets.get(self.toolset.value, ALL_TOOLS), Toolset(name="filters", **extra)
                          if extra else None)

    def _changed(self, _change: Any = None) -> None:
        if self._updating:
            return
        self.page = 0
        self._debounced()

    def _changed_now(self, _change: Any = None) -> None:
        if self._updating:
            return
        self.page = 0
        self.update()

    def _registry_changed(self, _event: str, _spec: ToolSpec) -> None:
        self._stale = True
        self._debounced()

    def update(self) -> None:
        """Recompute the current page of results and show it in the row pool."""
        if self._stale:
            self._stale = False
            self._updating = True
            try:
                self._refresh_choices(self.registry.list())
            finally:
                self._updating = False
        selection = self.filters()
        query = self.search.value.strip()
        start = self.page * self.page_size
        if query:
            # One more than the page asks whether a next page exists, without ranking the whole catalog.
            hits = selection.search(self.registry, query, start + self.page_size + 1)
            found = [hit.spec for hit in hits]
            self.hits = {hit.spec.ref: hit for hit in hits[start:start + self.page_size]}
            self.total = None if len(found) > start + self.page_size else len(found)
        else:
            found = self._filtered(selection)
            self.total = len(found)
            self.hits = {}
        self.results = found[start:start + self.page_size]
        self.has_more = len(found) > start + self.page_size
        self._page_specs = {spec.ref: spec for spec in self.results}
        self._updating = True
        try:
            self.listing.options = [(self.row_label(spec), spec.ref) for spec in self.results]
            self.listing.value = self.selected.ref if self.selected and self.selected.ref in self._page_specs else None
        finally:
            self._updating = False
        self.previous.disabled = self.page == 0
        self.next.disabled = not self.has_more
        shown = f"{start + 1}–{start + len(self.results)}" if self.results else "0"
        of = f"{self.total:,}" if self.total is not None else "more"
        self.status.value = f"{shown} of {of} tools" if self.results or self.page else "no tools match"

    def _filtered(self, selection: ToolFilter) -> list[ToolSpec]:
        # Every tool the filters admit, kept until the registry or a filter changes: turning pages is free.
        generation = getattr(self.registry, "generation", None)
        key = (generation, self.toolset.value, self.namespace.value, self.tier.value, self.tag.value)
        if generation is None or key != self._listing_key:
            if generation is None or generation != self._all_generation:
                self._all = self.registry.list()
                self._all_generation = generation
            self._listing = selection.select(self._all)
            self._listing_key = key
        return self._listing

    def row_label(self, spec: ToolSpec) -> str:
        """A row of the listing: the tool's line and, for a search, its score and the query terms it matched."""
        line = render_text(spec, Level.LISTING)
        hit = self.hits.get(spec.ref)
        if hit is None:
            return line
        terms = sorted({term for found in hit.matched.values() for term in found})
        return f"{line}  ·  {hit.score:.2f}" + (f" [{', '.join(terms)}]" if terms else "")

    def go_to(self, page: int) -> None:
        """Show page ``page`` (0-based) of the current results."""
        if page < 0 or (page > self.page and not self.has_more):
            return
        self.page = page
        self.update()

    def flush(self) -> None:
        """Apply a pending (debounced) search now."""
        self._debounced.flush()

    def visible_rows(self) -> list[ToolSpec]:
        """The tools the listing shows now."""
        return list(self.results)

    def _picked(self, change: Any) -> None:
        # A click on a row that a new page has just replaced names no tool of this page: ignored.
        if not self._updating and change["new"] in self._page_specs:
            self.select(self._page_specs[change["new"]])

    def _activated(self, ref: str) -> None:
        """Enter (or a double click) on a row of the listing: insert that tool's step."""
        spec = self._page_specs.get(ref)
        if spec is None:
            return
        if self.selected is None or self.selected.ref != ref:
            self.select(spec)
        self.produce("step")

    # -- the selected tool ----------------------------------------------------------------------

    def select(self, spec: ToolSpec | str | None) -> None:
        """Expand ``spec`` (a tool or its name) to its card or schema, and enable the snippet buttons."""
        if isinstance(spec, str):
            spec = self.registry.get(spec)
        self.selected = spec
        self.step_button.disabled = self.call_button.disabled = spec is None
        if spec is not None and self.level.value == Level.LISTING.value:
            self.level.value = Level.CARD.value  # a click asks for more than the row already shows
        self._show_detail()

    def _show_detail(self) -> None:
        if self.selected is None:
            self.detail.value = ""
            return
        from toolnexus.notebook.display.tools import search_hit_line, tool_card_html

        hit = self.hits.get(self.selected.ref)
        self.detail.value = (search_hit_line(hit) if hit is not None else "") + tool_card_html(self.selected,
                                                                                               self.level.value)

    def _search_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") == "submit":
            self.submit()

    def submit(self) -> str:
        """What Enter in the search box does: apply the search now and insert the step of the selected tool
        (the first result when none of this page is selected); the step, or "" when nothing matches."""
        self.flush()
        if self.selected is None or self.selected.ref not in self._page_specs:
            if not self.results:
                return ""
            self.listing.value = self.results[0].ref  # selects it, as a click would
        return self.produce("step")

    def produce(self, kind: str) -> str:
        """A mission step (``"step"``) or Python call (``"python"``) for the selected tool.

        It goes into the next cell when running in a kernel and always into the text area below.
        """
        if self.selected is None:
            return ""
        text = mission_step(self.selected) if kind == "step" else python_call(self.selected)
        self.snippet.value = text
        self.insert(text)
        return text

    def close(self) -> None:
        """Stop following the registry and close the browser's widgets."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        pending: list[widgets.Widget] = [self.widget]
        while pending:
            widget = pending.pop()
            pending.extend(getattr(widget, "children", ()))
            widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def browse(nexus: Any = None, registry: Any = None, **options: Any) -> ToolBrowser:
    """A tool browser over ``registry`` (default: the nexus's, else the current directory's nexus).

    Display it as the last expression of a cell. Toolsets configured in ``toolnexus.toml`` appear in
    its toolset filter.
    """
    toolsets: dict[str, Toolset] = {}
    if registry is None:
        if nexus is None:
            from toolnexus.api import default_nexus

            nexus = default_nexus()
        registry = nexus.registry
    if nexus is not None:
        toolsets = dict(nexus.settings.toolsets)
    return ToolBrowser(registry, toolsets, **options)
