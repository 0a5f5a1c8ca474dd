"""Layer 2: the versioned tool registry and the providers that fill it."""

from toolnexus.registry.decorator import PythonTool, follow_decorated, spec_of, tool
from toolnexus.registry.discovery import (
    ENTRY_POINT_GROUP,
    load_entry_points,
    load_manifests,
    load_module,
    specs_in,
)
from toolnexus.registry.manifest import ToolManifest, load_manifest
from toolnexus.registry.registry import Registry, ToolNotFound

__all__ = [
    "ENTRY_POINT_GROUP",
    "PythonTool",
    "Registry",
    "ToolManifest",
    "ToolNotFound",
    "follow_decorated",
    "load_entry_points",
    "load_manifest",
    "load_manifests",
    "load_module",
    "spec_of",
    "specs_in",
    "tool",
]
