"""The browser's results listing (an anywidget): its state, its front end's contract, and its "activate" message."""

from __future__ import annotations

import re

import anywidget
import pytest

from toolnexus.notebook.browser_listing import ESM, ResultsListing


@pytest.fixture
def listing() -> ResultsListing:
    made = ResultsListing(options=[("a.one@1 first", "a.one@1"), ("b.two@1 second", "b.two@1")], rows=5)
    yield made
    made.close()


def test_it_is_an_anywidget_whose_state_carries_its_front_end(listing: ResultsListing) -> None:
    assert isinstance(listing, anywidget.AnyWidget)
    state = listing.get_state()
    assert state["_esm"] == ESM and state["rows"] == 5 and state["value"] is None
    assert [list(row) for row in state["options"]] == [["a.one@1 first", "a.one@1"], ["b.two@1 second", "b.two@1"]]


def test_its_front_end_keeps_the_keys_and_imports_nothing() -> None:
    # Lumino's attribute that keeps JupyterLab's command-mode shortcuts off the list's keys.
    assert 'setAttribute("data-lm-suppress-shortcuts", "true")' in ESM
    assert 'event.key === "Enter"' in ESM and "tabIndex" in ESM
    assert not re.search(r"^\s*import\b|\bimport\(|https?://", ESM, re.MULTILINE)  # offline: no CDN, no modules
    assert "export default { render }" in ESM


def test_the_front_ends_activate_message_calls_back_with_the_row(listing: ResultsListing) -> None:
    activated: list[str] = []
    listing.on_activate(activated.append)
    listing._handle_custom_msg({"event": "activate", "value": "b.two@1"}, [])
    assert activated == ["b.two@1"]
    listing.value = "a.one@1"
    listing.activate()  # the selected row, as Enter in the list
    assert activated == ["b.two@1", "a.one@1"]


def test_rows_no_longer_listed_and_other_messages_are_ignored(listing: ResultsListing) -> None:
    activated: list[str] = []
    listing.on_activate(activated.append)
    listing._handle_custom_msg({"event": "activate", "value": "gone@1"}, [])  # the page changed meanwhile
    listing._handle_custom_msg({"event": "activate"}, [])
    listing._handle_custom_msg({"event": "other", "value": "a.one@1"}, [])
    listing.activate()  # nothing selected
    assert activated == []
    listing.on_activate(activated.append, remove=True)
    listing._handle_custom_msg({"event": "activate", "value": "a.one@1"}, [])
    assert activated == []
