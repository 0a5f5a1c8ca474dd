"""A surface's own authorizer (the Jupyter server's), consulted by the gate for the calls it makes.

The surface knows who is calling (the Jupyter user of an HTTP request); the decision is the gate's, so a
refusal is recorded like any other. A surface wraps its call in :func:`authorizing`::

    with authorizing(may_call, decider="jupyter-authorizer"):
        result = await invoker.invoke(call, spec)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from toolnexus.governance.plan import CallPlan

SurfaceCheck = Callable[[CallPlan], "bool | Awaitable[bool]"]


@dataclass(frozen=True, slots=True)
class SurfaceAuthorizer:
    """A surface's check and the name its decisions are recorded under."""

    check: SurfaceCheck
    decider: str


_current: ContextVar[SurfaceAuthorizer | None] = ContextVar("toolnexus_surface_authorizer", default=None)


@contextmanager
def authorizing(check: SurfaceCheck, *, decider: str) -> Iterator[None]:
    """Within the block, the gate also asks ``check`` about every call (a false answer denies it)."""
    token = _current.set(SurfaceAuthorizer(check, decider))
    try:
        yield
    finally:
        _current.reset(token)


def current_authorizer() -> SurfaceAuthorizer | None:
    """The surface authorizer of the calling context, if a surface set one."""
    return _current.get()
