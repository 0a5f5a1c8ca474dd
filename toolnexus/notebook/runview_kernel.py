"""What the live run view needs of the kernel it runs in: a click acted on while the kernel is busy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("toolnexus.notebook")


def acted_on_arrival(button: Any, action: Callable[[], None]) -> bool:
    """Make a click on ``button`` call ``action`` as soon as the kernel receives it, even while a cell runs.

    ``tn.run`` blocks the cell that shows the view, and the kernel handles a widget's messages between cells:
    a click on Cancel would wait until the run is over. ipykernel 7 looks at each comm message on its shell
    channel's own thread as it arrives (``_reply_subshell_for``, to route it to a subshell); there, a click
    on ``button`` calls ``action`` at once. The message still reaches the widget later, so ``action`` runs
    twice and must not mind. False where the kernel offers no such look (older ipykernel, no kernel).
    """
    comm = getattr(button, "comm", None)
    route = getattr(comm, "_reply_subshell_for", None)
    if route is None:
        return False

    def look(data: Any, default: Any) -> Any:
        content = data.get("content") if isinstance(data, dict) else None
        if isinstance(content, dict) and data.get("method") == "custom" and content.get("event") == "click":
            try:
                action()
            except Exception:  # never break the kernel's message routing
                log.exception("acting on a click as it arrived failed")
        return route(data, default)

    comm._reply_subshell_for = look
    return True
