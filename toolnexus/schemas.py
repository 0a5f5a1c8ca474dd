"""JSON Schemas generated from the pydantic models, for editors (``yaml-language-server``) and tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolnexus.mission.model import Mission
from toolnexus.mission.plan import Plan
from toolnexus.registry.manifest import ToolManifest

SCHEMAS: dict[str, Any] = {
    "mission.schema.json": (Mission, "toolnexus mission"),
    "tool-manifest.schema.json": (ToolManifest, "toolnexus tool manifest"),
    "plan.schema.json": (Plan, "toolnexus compiled plan"),
}


def render(name: str) -> str:
    """The JSON Schema document of the file format ``name`` (one of ``SCHEMAS``), as text."""
    model, title = SCHEMAS[name]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": name, **schema, "title": title}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(folder: str | Path) -> list[Path]:
    """Write every JSON Schema into ``folder``; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / name
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(folder: str | Path) -> list[str]:
    """Names of schema files that differ from what the models generate now."""
    folder = Path(folder)
    return [
        name
        for name in SCHEMAS
        if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != render(name)
    ]
