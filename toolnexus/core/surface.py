"""Where a call came in: the :class:`Surface` of a caller (:mod:`toolnexus.core.caller`).

A module of its own, with no pydantic, so that a command-line option can name a surface without importing the
models of the caller (``toolnexus --help`` lists the commands' options)."""

from __future__ import annotations

from enum import StrEnum


class Surface(StrEnum):
    """Where a call came in."""

    PYTHON = "python"  # the Python API (a script, a test)
    NOTEBOOK = "notebook"  # a Jupyter kernel (magics, widgets)
    CLI = "cli"  # the toolnexus command
    MCP = "mcp"  # an MCP client (stdio, or the Jupyter endpoint)
    REST = "rest"  # the Jupyter extension's REST API
    SCHEDULER = "scheduler"  # a scheduled or distributed run
    # Not a caller's surface today: a mission step's call carries the caller (and surface) of whoever started the
    # run, so a rule about a surface holds for the missions started through it too (origin "mission" marks steps).
    MISSION = "mission"
