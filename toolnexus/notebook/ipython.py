"""The IPython extension: ``%load_ext toolnexus`` registers the magics, the rich display of toolnexus objects
and the live run view (the last two where their modules are installed)."""

from __future__ import annotations

from typing import Any

# The matcher registered in each shell, to remove it again on unload.
_MATCHER_ATTR = "_toolnexus_matcher"


def load_ipython_extension(ip: Any) -> None:
    """Register ``%%mission``, ``%mission`` and ``%tn``, their tab completion, the display formatters and the
    live run view in the IPython shell ``ip``."""
    from toolnexus.notebook.magics import ToolnexusMagics
    from toolnexus.notebook.magics_complete import make_matcher, tool_names

    ip.register_magics(ToolnexusMagics)
    completer = getattr(ip, "Completer", None)
    if completer is not None and getattr(ip, _MATCHER_ATTR, None) is None:
        matcher = make_matcher(tool_names)
        completer.custom_matchers.append(matcher)
        setattr(ip, _MATCHER_ATTR, matcher)
    register_display(ip)
    try:
        from toolnexus.notebook.runview import install
    except ImportError:  # the live run view ships with the notebook surface; absent, runs show their result only
        pass
    else:
        install(ip)


def register_display(ip: Any) -> None:
    """Register the display formatters of toolnexus objects (by type name: nothing heavy is imported now)."""
    try:
        from toolnexus.notebook.display import register
    except ImportError:
        return
    register(ip)


def unload_ipython_extension(ip: Any) -> None:
    """Remove the magics and their tab completion (the display formatters and the live view stay)."""
    from toolnexus.notebook.magics import ToolnexusMagics

    magics = getattr(getattr(ip, "magics_manager", None), "magics", {})
    for kind, names in ToolnexusMagics.magics.items():
        for name in names:
            magics.get(kind, {}).pop(name, None)
    matcher = getattr(ip, _MATCHER_ATTR, None)
    completer = getattr(ip, "Completer", None)
    if matcher is not None and completer is not None and matcher in completer.custom_matchers:
        completer.custom_matchers.remove(matcher)
    if matcher is not None:
        setattr(ip, _MATCHER_ATTR, None)
