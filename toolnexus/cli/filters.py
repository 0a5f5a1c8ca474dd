"""The tool filter options (``--toolset``, ``--namespace``, ``--tag``, ``--tier``, ``--runtime``, ``--lifecycle``),
declared once and shared by every command that selects tools.

Typer has no option groups, so :func:`with_tool_filters` adds the options to a command's signature and hands
the command one :class:`ToolFilters` in its ``filters`` parameter.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

# Applied at import to the commands that select tools, so ``toolnexus --help`` runs it: only typer here; the
# registry's toolsets are imported when a command selects tools.
if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.registry.toolsets_config import ToolFilter

F = TypeVar("F", bound=Callable[..., Any])

ToolsetOption = Annotated[str | None, typer.Option("--toolset", "-t", help="a configured or built-in toolset "
                                                    "(see `toolnexus tools toolsets`)")]
NamespaceOption = Annotated[list[str] | None, typer.Option("--namespace", help="namespace (repeatable)")]
TagOption = Annotated[list[str] | None, typer.Option("--tag", help="tag (repeatable: any of them)")]
TierOption = Annotated[list[str] | None, typer.Option("--tier", help="read_only, side_effecting or privileged")]
RuntimeOption = Annotated[list[str] | None, typer.Option("--runtime", help="declared runtime (repeatable)")]
LifecycleOption = Annotated[list[str] | None, typer.Option("--lifecycle", help="experimental, active, deprecated "
                                                           "or retired (default: all but retired)")]

_OPTIONS: dict[str, Any] = {"toolset": ToolsetOption, "namespace": NamespaceOption, "tag": TagOption,
                            "tier": TierOption, "runtime": RuntimeOption, "lifecycle": LifecycleOption}


@dataclass(frozen=True)
class ToolFilters:
    """The filter options of one command line: a toolset and the filters that narrow it."""

    toolset: str | None = None
    namespace: list[str] | None = None
    tag: list[str] | None = None
    tier: list[str] | None = None
    runtime: list[str] | None = None
    lifecycle: list[str] | None = None

    def selection(self, nexus: Nexus) -> ToolFilter:
        """The toolset named (default ``all``) narrowed by the filters; bad values are diagnostics."""
        from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
        from toolnexus.registry.toolsets import ALL_TOOLS
        from toolnexus.registry.toolsets_config import (
            BadFilter,
            ToolFilter,
            UnknownToolset,
            filter_toolset,
            resolve_toolset,
        )

        try:
            base = (resolve_toolset(self.toolset, nexus.settings.toolsets, nexus.registry.list())
                    if self.toolset else None)
            extra = filter_toolset(namespaces=self.namespace or [], tags=self.tag or [], tiers=self.tier or [],
                                   runtimes=self.runtime or [], lifecycle=self.lifecycle or [])
        except UnknownToolset as exc:
            raise DiagnosticError([Diagnostic(message=str(exc), hint=exc.hint)]) from None
        except BadFilter as exc:
            raise DiagnosticError([Diagnostic(message=str(exc))]) from None
        if base is None and not self.lifecycle:
            base = ALL_TOOLS  # retired tools stay out unless --lifecycle asks for them
        return ToolFilter(base, extra)


def with_tool_filters(fn: F) -> F:
    """Give a command the filter options; it receives them as ``filters: ToolFilters``.

    The options are inserted where ``filters`` stands in the command's signature, so ``--help`` lists them
    in the same place for every command.
    """
    signature = inspect.signature(fn, eval_str=True)  # Typer reads these annotations as objects
    names = [f.name for f in fields(ToolFilters)]
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name == "filters":
            params.extend(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=_OPTIONS[name]) for name in names)
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        chosen = ToolFilters(**{name: kwargs.pop(name, None) for name in names})
        return fn(*args, filters=chosen, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
