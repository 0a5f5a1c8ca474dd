"""The tool browser's results listing: one page of tools that keeps the keyboard in JupyterLab.

An ``ipywidgets.Select`` loses the arrow keys in JupyterLab: the notebook's command-mode shortcuts
(ArrowDown → next cell, Enter → edit mode) are matched on the whole document before the ``<select>`` sees
the key, and ipywidgets cannot mark an element as one that keeps its keys. This widget renders the same
native ``<select>`` list box (arrows, Home/End, PageUp/PageDown and clicks as a browser does them) from a
small inline ES module (anywidget: no CDN, no build step, no other imports), with Lumino's
``data-lm-suppress-shortcuts`` on it, and reports Enter and a double click as an "activate" message
naming the tool, so Python can insert that tool's step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets
from ipywidgets import CallbackDispatcher

# Kept in the module (not a CDN or a build): the front end travels with the widget's state, offline too.
ESM = """
function render({ model, el }) {
  const box = document.createElement("div");
  // ipywidgets' own Select styling (it is the same control), filling the width it is given.
  box.className = "widget-inline-hbox widget-select toolnexus-listing";
  box.style.width = "100%";
  const select = document.createElement("select");
  // Lumino skips its shortcuts for keys pressed in an element carrying this attribute.
  select.setAttribute("data-lm-suppress-shortcuts", "true");
  select.setAttribute("aria-label", "tools found (arrows move, Enter inserts the step)");
  select.tabIndex = 0;
  select.style.flex = "1 1 auto";
  select.style.minWidth = "0";
  box.appendChild(select);
  el.appendChild(box);

  function showValue() {
    const value = model.get("value");
    select.value = value === null ? "" : value;
    if (value === null) select.selectedIndex = -1;
  }
  function draw() {
    select.size = Math.max(2, model.get("rows"));
    select.replaceChildren(...model.get("options").map(([label, value]) => {
      const option = document.createElement("option");
      option.textContent = label;
      option.value = value;
      option.title = label;
      return option;
    }));
    showValue();
  }
  function activate() {
    if (!select.value) return;
    if (model.get("value") !== select.value) {
      model.set("value", select.value);
      model.save_changes();
    }
    model.send({ event: "activate", value: select.value });
  }
  select.addEventListener("change", () => {
    model.set("value", select.value || null);
    model.save_changes();
  });
  select.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      activate();
    }
  });
  select.addEventListener("dblclick", activate);
  model.on("change:options", draw);
  model.on("change:rows", draw);
  model.on("change:value", showValue);
  draw();
  return () => {
    model.off("change:options", draw);
    model.off("change:rows", draw);
    model.off("change:value", showValue);
  };
}
export default { render };
"""


class ResultsListing(anywidget.AnyWidget):
    """A list box of ``(label, value)`` rows; ``value`` is the selected row's value (``None``: none).

    ``on_activate(callback)`` is called with a row's value when Enter is pressed in the list or a row is
    double-clicked.
    """

    _esm = ESM
    options = traitlets.List(traitlets.Tuple(traitlets.Unicode(), traitlets.Unicode()),
                             help="the rows, as (label, value) pairs").tag(sync=True)
    value = traitlets.Unicode(None, allow_none=True, help="the selected row's value").tag(sync=True)
    rows = traitlets.Int(10, help="how many rows the box is tall").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._activate_handlers = CallbackDispatcher()
        self.on_msg(self._message)

    def on_activate(self, callback: Callable[[str], Any], remove: bool = False) -> None:
        """Call ``callback(value)`` when a row is activated (Enter, double click); ``remove`` unregisters it."""
        self._activate_handlers.register_callback(callback, remove=remove)

    def activate(self, value: str | None = None) -> None:
        """Activate the row ``value`` (default: the selected one), as Enter in the list does."""
        value = self.value if value is None else value
        if value is not None and value in {v for _label, v in self.options}:
            self._activate_handlers(value)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "activate" and isinstance(content.get("value"), str):
            self.activate(content["value"])
