"""The live run view's hook: :func:`install` makes ``Nexus.run`` in this kernel show a :class:`RunView`."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from toolnexus.engine import RunControl

if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.notebook.runview import RunView


def show(view: RunView) -> None:
    """Display ``view`` in the running IPython (nothing without one)."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - ipywidgets depends on IPython
        return
    display(view)


def present(nexus: Nexus, kwargs: dict[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """The run presenter :func:`install` adds: a displayed :class:`RunView` attached for the run (with a
    ``control`` of its own unless the caller gave one, so its Cancel button can stop the run)."""
    control = kwargs.get("control")
    if control is None:
        control = kwargs["control"] = RunControl()
    from toolnexus.notebook.runview import RunView

    view = RunView(nexus, control)
    show(view)
    return view.attached()


def install(ip: Any = None) -> None:
    """From now on ``Nexus.run`` (``tn.run``, ``%%mission --run``) in this kernel shows the live run view.

    ``ip`` is the IPython shell (the extension's argument); the hook is the process's, which is the kernel's.
    Installing twice installs once.
    """
    from toolnexus import api

    if present not in api.run_presenters:
        api.run_presenters.append(present)


def uninstall(ip: Any = None) -> None:
    """Stop showing the live run view for ``Nexus.run``."""
    from toolnexus import api

    while present in api.run_presenters:
        api.run_presenters.remove(present)
