"""Who is calling: the caller identity every :class:`~toolnexus.core.call.ToolCall` carries.

The gate decides on it (a policy rule may match a principal, a tenant or a surface), and it goes with the
call into events, the state store, MLflow and the audit, with a correlation id that follows the call
through retries and sub-calls.
"""

from __future__ import annotations

import getpass
import os
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Surface(StrEnum):
    """Where a call came in."""

    PYTHON = "python"  # the Python API (a script, a test)
    NOTEBOOK = "notebook"  # a Jupyter kernel (magics, widgets)
    CLI = "cli"  # the toolnexus command
    MCP = "mcp"  # an MCP client (stdio, or the Jupyter endpoint)
    REST = "rest"  # the Jupyter extension's REST API
    SCHEDULER = "scheduler"  # a scheduled or distributed run
    MISSION = "mission"  # a step of a mission (the run's own caller is in Caller.principal)


class Caller(BaseModel):
    """The identity of a call's caller: who (``principal``), for whom (``tenant``), through what (``surface``)."""

    model_config = ConfigDict(frozen=True)

    principal: str = Field(description="the user: a Jupyter user for MCP and REST calls, the OS user otherwise")
    tenant: str | None = Field(None, description="the tenant or team the call is made for, where one is known")
    surface: Surface = Surface.PYTHON


@lru_cache(maxsize=1)
def os_user() -> str:
    """The name of the OS user this process runs as (its uid when the name cannot be found)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (containers)
        return f"uid:{os.getuid()}"


def local_caller(surface: Surface = Surface.PYTHON, tenant: str | None = None) -> Caller:
    """The caller of a call made in this process by its OS user (the CLI, a script, a kernel)."""
    return Caller(principal=os_user(), tenant=tenant, surface=surface)
