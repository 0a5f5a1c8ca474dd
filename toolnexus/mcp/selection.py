"""Which tools a client asked for: a named toolset (``?toolset=NAME``) narrowed by ad-hoc filters
(``?namespace=files&tag=csv&tier=read_only``, each repeatable)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from toolnexus.core.diagnostics import did_you_mean
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset

FILTER_FIELDS = {"namespace": "namespaces", "tag": "tags", "tier": "tiers"}


class UnknownToolset(LookupError):
    """A toolset name that is not configured (``[toolsets.NAME]`` in toolnexus.toml)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message + (f" ({hint})" if hint else ""))


def select_toolset(toolsets: Mapping[str, Toolset], name: str | None = None,
                   filters: Iterable[tuple[str, str]] = ()) -> Toolset:
    """The toolset called ``name`` (every tool when None or ``all``) narrowed by ``(field, value)`` filters."""
    if name in (None, "", "all"):
        base = toolsets.get("all", ALL_TOOLS)
    elif name in toolsets:
        base = toolsets[name]
    else:
        hint = did_you_mean(name, list(toolsets)) or (f"configured: {', '.join(sorted(toolsets))}" if toolsets
                                                        else "no toolsets are configured")
        raise UnknownToolset(f"no toolset named {name!r}", hint)
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
        raise UnknownToolset(f"invalid filter {first['loc'][0]}: {first['msg']}") from None


def toolset_from_query(toolsets: Mapping[str, Toolset], query: Iterable[tuple[str, str]]) -> Toolset:
    """The toolset a query string (``toolset=…``, ``namespace=…``, ``tag=…``, ``tier=…``) selects."""
    items = list(query)
    names = [v for k, v in items if k == "toolset"]
    return select_toolset(toolsets, names[-1] if names else None, items)
