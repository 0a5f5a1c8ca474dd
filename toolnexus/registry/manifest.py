"""YAML tool manifests: command tools (argv, JSON in on stdin, JSON out on stdout) declared in files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.spec import CostModel, Limits, SafetyTier, ToolEntry, ToolExample, ToolSpec
from toolnexus.core.yamlpos import load_yaml, validation_diagnostics
from toolnexus.registry.versions import parse_version

MANIFEST_SUFFIXES = (".tools.yaml", ".tools.yml")


class ManifestTool(BaseModel):
    """One tool as a manifest declares it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "1.0.0"
    summary: str = ""
    description: str = ""
    command: list[str] = Field(description="argv to start; relative paths resolve against the manifest's folder")
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    tier: SafetyTier = SafetyTier.READ_ONLY
    limits: Limits = Field(default_factory=Limits)
    cost: CostModel = Field(default_factory=CostModel)
    tags: list[str] = Field(default_factory=list)
    runtime: str = "process"
    deterministic: bool = False
    examples: list[ToolExample] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not value or any(c.isspace() or c == "@" for c in value):
            raise ValueError(f"{value!r} is not a tool name: use letters, digits, '_', '-' and '.', no spaces or '@'")
        return value

    @field_validator("version")
    @classmethod
    def _valid_version(cls, value: str) -> str:
        parse_version(value)
        return value

    @field_validator("command")
    @classmethod
    def _some_command(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the command is empty: give the program and its arguments, e.g. [python3, tool.py]")
        return value


class ToolManifest(BaseModel):
    """A manifest file: a list of tools."""

    model_config = ConfigDict(extra="forbid")

    tools: list[ManifestTool]


_NESTED: dict[str, list[str]] = {
    "limits": list(Limits.model_fields),
    "cost": list(CostModel.model_fields),
    "examples": list(ToolExample.model_fields),
}


def _fields(path: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``path`` of a manifest, for "did you mean" hints."""
    names = [p for p in path if isinstance(p, str)]
    if not names:
        return list(ToolManifest.model_fields)
    if names == ["tools"]:
        return list(ManifestTool.model_fields)
    return _NESTED.get(names[-1], [])


def load_manifest(path: str | Path) -> list[ToolSpec]:
    """The tools a manifest file declares; problems raise a DiagnosticError with positions."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DiagnosticError([Diagnostic(message=f"cannot read tool manifest: {reason}", file=str(path))]) from None
    data, positions = load_yaml(text, str(path))
    try:
        manifest = ToolManifest.model_validate(data)
    except ValidationError as exc:
        raise DiagnosticError(validation_diagnostics(exc, positions, known_fields=_fields)) from None
    base = path.parent.resolve()
    specs = []
    for item in manifest.tools:
        argv = [
            item.command[0],
            *(str(base / a) if not a.startswith("-") and (base / a).exists() else a for a in item.command[1:]),
        ]
        if (base / argv[0]).exists():
            argv[0] = str(base / argv[0])
        fields = item.model_dump(exclude={"command", "cwd", "env"})
        specs.append(
            ToolSpec(
                **fields,
                entry=ToolEntry(
                    kind="command", argv=argv, cwd=str(base / item.cwd) if item.cwd else str(base), env=item.env
                ),
                source=f"manifest:{path}",
            )
        )
    return specs


def manifest_files(folder: str | Path) -> list[Path]:
    """Manifest files (``*.tools.yaml``) under ``folder``, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.name.endswith(MANIFEST_SUFFIXES) and p.is_file())
