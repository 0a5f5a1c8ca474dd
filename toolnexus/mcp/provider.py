"""Configured MCP servers as tool providers: their tools in the registry as ``<namespace>.<tool>``.

When servers are contacted: a ``Nexus`` registers each server's tools from a listing cached in the
state folder (``.toolnexus/mcp/<server>-<hash>.json``, keyed by how the server is started, trusted
for ``mcp.listing_ttl`` seconds), so a CLI command does not start every server. A server without a
fresh cached listing is contacted when the Nexus is created (all such servers side by side), and
every connection — the first call of a tool starts its server — lists the tools again and refreshes
registry and cache, as does ``notifications/tools/list_changed``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from toolnexus.config import McpServerSettings
from toolnexus.core.spec import SafetyTier, ToolEntry, ToolSpec
from toolnexus.mcp.client import McpConnections, McpUnavailable
from toolnexus.registry.registry import Registry
from toolnexus.registry.versions import parse_version

log = logging.getLogger("toolnexus.mcp")

DEFAULT_VERSION = "1.0.0"


def tier_of(tool: dict[str, Any], overrides: dict[str, SafetyTier] | None = None, full_name: str = "") -> SafetyTier:
    """The safety tier of an MCP tool: an override (by its name on the server, or its full name) wins;
    else ``readOnlyHint`` → read_only, ``destructiveHint`` → privileged, anything else side_effecting.

    Annotations are hints from a server we may not trust, hence the overrides.
    """
    overrides = overrides or {}
    for key in (tool.get("name", ""), full_name):
        if key in overrides:
            return SafetyTier(overrides[key])
    hints = tool.get("annotations") or {}
    if hints.get("readOnlyHint") is True:
        return SafetyTier.READ_ONLY
    if hints.get("destructiveHint") is True:
        return SafetyTier.PRIVILEGED
    return SafetyTier.SIDE_EFFECTING


def tool_version(server_version: str | None) -> str:
    """Tools are versioned by their server's version when it is one we can order, else ``1.0.0``."""
    if server_version:
        try:
            parse_version(server_version)
            return server_version
        except ValueError:
            pass
    return DEFAULT_VERSION


def spec_from_tool(key: str, settings: McpServerSettings, tool: dict[str, Any], version: str | None) -> ToolSpec:
    """The ToolSpec of one MCP tool (raises ValueError for a name we cannot use)."""
    namespace = settings.namespace or key
    remote = str(tool.get("name", ""))
    name = f"{namespace}.{remote}"
    description = str(tool.get("description") or "")
    title = tool.get("title") or (tool.get("annotations") or {}).get("title")
    summary = str(title or (description.strip().splitlines() or [""])[0])
    hints = tool.get("annotations") or {}
    return ToolSpec(
        name=name,
        version=tool_version(version),
        summary=summary[:200],
        description=description,
        input_schema=tool.get("inputSchema") or {"type": "object", "properties": {}},
        output_schema=tool.get("outputSchema"),
        tier=tier_of(tool, settings.tiers, name),
        tags=["mcp", key] + (["idempotent"] if hints.get("idempotentHint") else [])
        + (["open-world"] if hints.get("openWorldHint") else []),
        runtime="mcp",
        entry=ToolEntry(kind="mcp", server=key, remote_name=remote),
        source=f"mcp:{key}",
    )


def connection_key(settings: McpServerSettings) -> str:
    """A short hash of how a server is reached: a cached listing is only reused for the same server."""
    parts = settings.model_dump(include={"command", "args", "env", "cwd", "url", "headers"})
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class McpProvider:
    """Keeps the registry's share of each configured server's tools equal to the server's listing."""

    def __init__(self, servers: dict[str, McpServerSettings], registry: Registry, workspace: Path,
                 state_dir: Path, listing_ttl: float = 86400.0) -> None:
        self.servers = {k: s for k, s in servers.items() if s.enabled}
        self.listing_ttl = listing_ttl
        self.registry = registry
        self.cache_dir = state_dir / "mcp"
        self._names: dict[str, set[str]] = {}  # server → full tool names it registered
        self._lock = threading.Lock()
        self.connections = McpConnections(self.servers, workspace, state_dir, self.apply_listing)

    def load(self) -> None:
        """Register every server's tools: from the cache where there is one, else by asking the server now."""
        missing = []
        for key in self.servers:
            cached = self._read_cache(key)
            if cached is None:
                missing.append(key)
            else:
                self._sync(key, cached["tools"], cached.get("version"))
        if not missing:
            return
        for found in self.connections.list_now(missing).values():
            if isinstance(found, McpUnavailable):
                message = str(found)
                self.registry.problems.append(message)
                log.warning("%s; its tools are not available", message)

    def apply_listing(self, key: str, tools: list[dict[str, Any]], version: str | None) -> None:
        """A fresh listing from ``key`` (on connect or list_changed): sync the registry and the cache."""
        self._sync(key, tools, version)
        self._write_cache(key, tools, version)

    def _sync(self, key: str, tools: list[dict[str, Any]], version: str | None) -> None:
        settings = self.servers[key]
        specs: dict[str, ToolSpec] = {}
        for tool in tools:
            try:
                spec = spec_from_tool(key, settings, tool, version)
            except ValueError as exc:
                log.warning("MCP server %r: skipping tool %r: %s", key, tool.get("name"), exc)
                continue
            specs[spec.name] = spec
        with self._lock:
            before = self._names.get(key, set())
            self._names[key] = set(specs)
        for name in before - set(specs):
            self.registry.unregister(name)
        for name, spec in specs.items():
            current = self.registry.find(name)
            if current is not None and current.model_dump() == spec.model_dump():
                continue  # unchanged: no churn for listeners (search index, MCP server's list_changed)
            if current is not None and current.version != spec.version and current.source == spec.source:
                self.registry.unregister(name)  # the server was upgraded: its old version is gone
            self.registry.register(spec)

    # -- the listing cache --------------------------------------------------------------------

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / f"{key}-{connection_key(self.servers[key])}.json"

    def _read_cache(self, key: str) -> dict[str, Any] | None:
        path = self._cache_path(key)
        try:
            if time.time() - path.stat().st_mtime > self.listing_ttl:
                return None  # too old to trust: ask the server
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("tools"), list) else None

    def _write_cache(self, key: str, tools: list[dict[str, Any]], version: str | None) -> None:
        path = self._cache_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps({"server": key, "version": version, "tools": tools}), encoding="utf-8")
            tmp.replace(path)  # atomic: a concurrent reader sees the old listing or the new one
        except OSError as exc:
            log.info("MCP server %r: cannot cache its tool listing: %s", key, exc)

    def close(self) -> None:
        """Close the connections to the MCP servers."""
        self.connections.close()
