"""The one exception hierarchy: every exception toolnexus raises is a :class:`ToolnexusError`.

Catch ``toolnexus.ToolnexusError`` for "anything toolnexus refused or could not do", or one of the
families below for a kind of trouble. Each concrete exception lives beside the concept that raises it
(``ToolNotFound`` in the registry, ``DockerUnavailable`` in the docker runtime) and derives from one
family here — and, where Python has a matching built-in (``LookupError``, ``ValueError``, ``OSError``),
from that too, so existing ``except LookupError`` code keeps working::

    ToolnexusError
    ├── InvalidInput          bad user input: a mission, an expression, a filter, a cursor, arguments
    │     DiagnosticError, ExpressionError, ExpressionLimitError, BadFilter, BadSelection,
    │     InvalidCursor, AdapterError
    ├── NotFound              a name that matches nothing: ToolNotFound, UnknownToolset, UnknownProviderName
    ├── Unavailable           a part that cannot be reached or is not installed: DockerUnavailable,
    │                         McpUnavailable, PythonWasmUnavailable, RuntimeUnavailable, LifespanFailed
    ├── SandboxError          the sandbox refused or lost a call: UntrustedFile, WorkerDied, ContainerGone,
    │                         ModuleError, ImageBuildError, AclUnsupported, Refused
    └── ToolCallFailed        a tool failed: ToolFailure (raised by tool code), ToolCallError (``unwrap()``)

Errors *as data* are a different thing: a failed call is a :class:`toolnexus.ToolError` value in its
result, never an exception (see DESIGN.md, "errors are data").
"""

from __future__ import annotations


class ToolnexusError(Exception):
    """The base of every exception toolnexus raises."""


class InvalidInput(ToolnexusError):
    """User input that cannot be used as given; the message says what and where."""


class NotFound(ToolnexusError):
    """A name (tool, toolset, provider name) that matches nothing; ``hint`` may suggest the nearest."""


class Unavailable(ToolnexusError):
    """A part that cannot be reached or is not installed; the message says what to do."""


class SandboxError(ToolnexusError):
    """The sandbox refused a call, or lost the worker or container that ran it."""


class Refused(SandboxError):
    """A runtime refused to start a call (a limit or an isolation check); the message says why."""


class ToolCallFailed(ToolnexusError):
    """A tool call failed and the caller asked for an exception rather than a result."""


class RuntimeUnavailable(Unavailable, LookupError):
    """No runtime of that name: unknown, or its optional extra is not installed (the message says which)."""


__all__ = [
    "InvalidInput",
    "NotFound",
    "Refused",
    "RuntimeUnavailable",
    "SandboxError",
    "ToolCallFailed",
    "ToolnexusError",
    "Unavailable",
]
