"""The tool catalog one MCP client sees: a toolset of the registry, missions and the search meta-tool.

Deterministic (sorted by MCP name), paged with opaque cursors that name the last tool of the previous
page — so a cursor stays valid while tools come and go — and built once per registry generation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from toolnexus.core.content import MARKER
from toolnexus.core.spec import ToolSpec
from toolnexus.errors import InvalidInput
from toolnexus.registry.adapters import MCP, NameMap, mcp_tool
from toolnexus.registry.toolsets import Toolset


class EntryKind(StrEnum):
    """What a catalog entry is: a registry tool, a mission, or a meta-tool (``tools.search``)."""
    TOOL = "tool"
    MISSION = "mission"
    META = "meta"


@dataclass(frozen=True)
class Entry:
    """One tool of the catalog under its MCP name."""

    name: str
    spec: ToolSpec
    kind: EntryKind

    def definition(self) -> dict[str, Any]:
        """The MCP ``Tool`` (built once per spec and name)."""
        return self.spec.memo(f"mcp.tool:{self.name}", self._build)

    def _build(self) -> dict[str, Any]:
        tool = mcp_tool(self.spec, self.name)
        # A tool returning content blocks (toolnexus.core.content) has no structured output to describe:
        # an outputSchema would oblige every result to carry structuredContent matching it.
        schema = tool.get("outputSchema")
        if schema is not None and f'"{MARKER}"' in json.dumps(schema):
            tool = {k: v for k, v in tool.items() if k != "outputSchema"}
        return tool


class InvalidCursor(InvalidInput, ValueError):
    """A ``tools/list`` cursor this server did not hand out."""


def encode_cursor(after: str) -> str:
    """The opaque ``tools/list`` cursor for the page after the tool ``after``."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The tool name a cursor from :func:`encode_cursor` stands for (InvalidCursor if it is not one)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor(f"invalid cursor {cursor[:40]!r}: pass back a nextCursor from tools/list") from None
    if not isinstance(data, dict) or not isinstance(data.get("after"), str):
        raise InvalidCursor(f"invalid cursor {cursor[:40]!r}: pass back a nextCursor from tools/list")
    return data["after"]


@dataclass
class Catalog:
    """A sorted, immutable snapshot of the tools one toolset offers."""

    entries: list[Entry]
    by_name: dict[str, Entry] = field(init=False)
    names: list[str] = field(init=False)
    tool_names: dict[str, str] = field(init=False)  # registry name → MCP name
    _fingerprint: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.entries.sort(key=lambda e: e.name)
        self.by_name = {e.name: e for e in self.entries}
        self.names = [e.name for e in self.entries]
        self.tool_names = {e.spec.name: e.name for e in self.entries}

    @classmethod
    def build(cls, tools: Iterable[ToolSpec], missions: Iterable[ToolSpec], meta: Iterable[ToolSpec],
              toolset: Toolset) -> Catalog:
        """The catalog of ``toolset``: matching tools and missions, plus every meta-tool."""
        chosen: list[tuple[ToolSpec, EntryKind]] = [(s, EntryKind.META) for s in meta]
        taken = {s.name for s, _ in chosen}
        for kind, specs in ((EntryKind.TOOL, tools), (EntryKind.MISSION, missions)):
            for spec in specs:
                if spec.name not in taken and toolset.matches(spec):
                    chosen.append((spec, kind))
                    taken.add(spec.name)
        names = NameMap.build([s.name for s, _ in chosen], MCP)
        return cls([Entry(names.provider_name(s.name), s, kind) for s, kind in chosen])

    def page(self, cursor: str | None, size: int) -> tuple[list[Entry], str | None]:
        """The entries after ``cursor`` (at most ``size``) and the cursor of the next page, if any."""
        import bisect

        start = 0 if cursor is None else bisect.bisect_right(self.names, decode_cursor(cursor))
        chunk = self.entries[start:start + size]
        more = start + size < len(self.entries)
        return chunk, encode_cursor(chunk[-1].name) if more and chunk else None

    def fingerprint(self) -> str:
        """Changes whenever what a client would list changes (a tool added, removed, retired, updated)."""
        if self._fingerprint is not None:
            return self._fingerprint
        digest = hashlib.sha256()
        for e in self.entries:
            digest.update(f"{e.name}\0{e.spec.version}\0{e.spec.lifecycle.value}\0{id(e.spec)}\n".encode())
        self._fingerprint = digest.hexdigest()
        return self._fingerprint
