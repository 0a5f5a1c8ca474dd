"""Who is calling: the caller identity every :class:`~toolnexus.core.call.ToolCall` carries.

The gate decides on it (a policy rule may match a principal, a tenant or a surface), and it goes with the
call into events, the state store, MLflow and the audit, with a correlation id that follows the call
through retries and sub-calls.

A surface builds its :class:`Caller` once (a Nexus for its process, the Jupyter endpoint once per user), never
per call: the engine's per-step cost does not grow with it. The caller and correlation id of the call or run
in progress are in a context variable (:func:`current_identity`), so a call a tool makes from inside a call —
a sub-call — carries the same caller and correlation id.
"""

from __future__ import annotations

import getpass
import os
import sys
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

# (in a module of its own, without pydantic, so the CLI can declare an option of it without importing pydantic)
from toolnexus.core.surface import Surface


class Caller(BaseModel):
    """The identity of a call's caller: who (``principal``), for whom (``tenant``), through what (``surface``)."""

    model_config = ConfigDict(frozen=True)

    principal: str = Field(description="the user: a Jupyter user for MCP and REST calls, the OS user otherwise")
    tenant: str | None = Field(None, description="the tenant or team the call is made for, where one is known")
    surface: Surface = Surface.PYTHON

    def __str__(self) -> str:
        """``alice (cli)``, or ``alice (mcp, tenant acme)`` when a tenant is known."""
        tenant = f", tenant {self.tenant}" if self.tenant else ""
        return f"{self.principal} ({self.surface.value}{tenant})"


@lru_cache(maxsize=1)
def os_user() -> str:
    """The name of the OS user this process runs as (its uid when the name cannot be found)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (containers)
        return f"uid:{os.getuid()}"


@lru_cache(maxsize=64)
def local_caller(surface: Surface = Surface.PYTHON, tenant: str | None = None) -> Caller:
    """The caller of a call made in this process by its OS user (the CLI, a script, a kernel).

    One object per surface and tenant (cached): a surface that asks per call builds no new one.
    """
    return Caller(principal=os_user(), tenant=tenant, surface=surface)


def process_surface() -> Surface:
    """The surface of Python code in this process: ``notebook`` inside a running Jupyter (IPython) kernel,
    ``python`` otherwise. Cheap: it imports nothing, and looks only if ``ipykernel`` is loaded already."""
    if "ipykernel" not in sys.modules:
        return Surface.PYTHON
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return Surface.NOTEBOOK if getattr(shell, "kernel", None) is not None else Surface.PYTHON


def surface_named(name: str | None) -> Surface | None:
    """The surface ``name`` stands for (a call's ``origin``), or None when it names none (``mission``, a
    provider's name such as ``openai``)."""
    if name is None or name == Surface.MISSION:
        return None
    try:
        return Surface(name)
    except ValueError:
        return None


class Identity(NamedTuple):
    """The caller and correlation id of the call or run in progress, for the calls it makes in turn."""

    caller: Caller | None
    correlation_id: str | None


_identity: ContextVar[Identity | None] = ContextVar("toolnexus_caller_identity", default=None)


def current_identity() -> Identity | None:
    """The caller and correlation id of the call or run this code runs in (None outside any)."""
    return _identity.get()


def use_identity(caller: Caller | None, correlation_id: str | None) -> Token[Identity | None]:
    """Make ``caller`` and ``correlation_id`` those of the code that follows (in this context: its tasks and the
    worker threads of its sync tools inherit them); returns the token for :func:`reset_identity`."""
    return _identity.set(Identity(caller, correlation_id))


def reset_identity(token: Token[Identity | None]) -> None:
    """Restore the identity in force before :func:`use_identity` returned ``token``."""
    _identity.reset(token)
