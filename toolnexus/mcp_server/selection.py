"""Which tools a client asked for: a toolset by name (``?toolset=NAME``, or ``--toolset`` on stdio) narrowed
by ad-hoc filters (``?namespace=files&tag=csv&tier=read_only``, each repeatable).

Names resolve as on every other surface (:func:`toolnexus.registry.toolsets_config.resolve_toolset`):
configured ``[toolsets.NAME]`` tables plus the built-in ``all``, ``read-only`` and one per namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from toolnexus.core.spec import ToolSpec
from toolnexus.errors import InvalidInput
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset
from toolnexus.registry.toolsets_config import UnknownToolset, resolve_toolset

__all__ = ["FILTER_FIELDS", "BadSelection", "UnknownToolset", "describe_error", "select_toolset",
           "toolset_from_query"]

FILTER_FIELDS = {"namespace": "namespaces", "tag": "tags", "tier": "tiers"}


class BadSelection(InvalidInput, ValueError):
    """A filter value that cannot be (an unknown tier)."""


def describe_error(exc: Exception) -> str:
    """The message of a selection error with its hint, for an HTTP body or a JSON-RPC error."""
    hint = getattr(exc, "hint", None)
    return f"{exc} ({hint})" if hint else str(exc)


def select_toolset(toolsets: Mapping[str, Toolset], name: str | None = None,
                   filters: Iterable[tuple[str, str]] = (), specs: Iterable[ToolSpec] = ()) -> Toolset:
    """The toolset called ``name`` (every tool when None) narrowed by ``(field, value)`` filters.

    ``specs`` are the registered tools, for the built-in per-namespace toolsets.
    """
    base = toolsets.get("all", ALL_TOOLS) if not name else resolve_toolset(name, toolsets, specs)
    extra: dict[str, list[str]] = {}
    for key, value in filters:
        if key in FILTER_FIELDS:
            extra.setdefault(FILTER_FIELDS[key], []).append(value)
    if not extra:
        return base
    try:
        return Toolset.model_validate({**base.model_dump(), **extra, "name": base.name or "filtered"})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise BadSelection(f"invalid filter {first['loc'][0]}: {first['msg']}") from None


def toolset_from_query(toolsets: Mapping[str, Toolset], query: Iterable[tuple[str, str]],
                       specs: Iterable[ToolSpec] = ()) -> Toolset:
    """The toolset a query string (``toolset=…``, ``namespace=…``, ``tag=…``, ``tier=…``) selects."""
    items = list(query)
    names = [v for k, v in items if k == "toolset"]
    return select_toolset(toolsets, names[-1] if names else None, items, specs)
