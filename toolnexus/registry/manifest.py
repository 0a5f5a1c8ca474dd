"""YAML tool manifests: command tools (argv, JSON in on stdin, JSON out on stdout) declared in files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.spec import CostModel, Lifecycle, Limits, Mount, ToolDescription, ToolEntry, ToolExample, ToolSpec
from toolnexus.core.yamlpos import load_yaml, validation_diagnostics
from toolnexus.registry.versions import parse_version
from toolnexus.sandbox.trust import UntrustedFile, check_trusted

MANIFEST_SUFFIXES = (".tools.yaml", ".tools.yml")


class ManifestTool(ToolDescription):
    """One tool as a manifest declares it."""

    command: list[str] | None = Field(
        None,
        description="argv to start (inside the container for `image`); host paths relative to the manifest's folder",
    )
    wasm: str | None = Field(None, description="a WASI command module (.wasm or .wat), relative to the manifest")
    image: str | None = Field(None, description="a container image to run `command` in (the docker runtime)")
    mounts: list[Mount] = Field(default_factory=list, description="host folders the wasm or docker tool sees")
    network: bool = Field(False, description="docker: the container may use the network (if policy allows)")
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    runtime: str | None = Field(None, description="default: process for commands, wasm, docker for images")
    deterministic: bool = False
    lifecycle: Lifecycle = Field(Lifecycle.ACTIVE, description="experimental, active, deprecated or retired")
    examples: list[ToolExample] = Field(
        default_factory=list, description="example calls: arguments, and the result they give (shown by "
        "`toolnexus tools show NAME --level schema`)")

    @field_validator("version")
    @classmethod
    def _valid_version(cls, value: str) -> str:
        parse_version(value)
        return value

    @field_validator("command")
    @classmethod
    def _some_command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("the command is empty: give the program and its arguments, e.g. [python3, tool.py]")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ManifestTool:
        if self.wasm is not None and (self.command is not None or self.image is not None):
            raise ValueError("a wasm tool takes no `command` or `image`: its module is the program")
        if self.wasm is None and self.command is None:
            raise ValueError("give `command` (a program, or the argv inside `image`) or `wasm` (a module)")
        return self

    @property
    def kind(self) -> str:
        """The runtime kind the manifest entry declares: ``wasm``, ``docker`` or ``command``."""
        return "wasm" if self.wasm else "docker" if self.image else "command"


class ToolManifest(BaseModel):
    """A manifest file: a list of tools."""

    model_config = ConfigDict(extra="forbid")

    tools: list[ManifestTool]


_NESTED: dict[str, list[str]] = {
    "mounts": list(Mount.model_fields),
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


def require_trusted(path: Path) -> None:
    """Refuse a file that names commands to run unless it is trusted (see ``sandbox.trust``), as a diagnostic."""
    try:
        check_trusted(path)
    except UntrustedFile as exc:
        raise DiagnosticError([Diagnostic(message=str(exc), file=str(path))]) from None


def load_manifest(path: str | Path) -> list[ToolSpec]:
    """The tools a manifest file declares; problems raise a DiagnosticError with positions."""
    path = Path(path)
    require_trusted(path)
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
        fields = item.model_dump(exclude={"command", "cwd", "env", "wasm", "image", "mounts", "network", "runtime"})
        mounts = [m.model_copy(update={"host": str(base / m.host)}) for m in item.mounts]
        cwd = str(base / item.cwd) if item.cwd else str(base)
        if item.kind == "wasm":
            entry = ToolEntry(kind="wasm", module=str(base / str(item.wasm)), env=item.env, mounts=mounts, cwd=cwd)
        elif item.kind == "docker":
            entry = ToolEntry(
                kind="docker",
                image=item.image,
                argv=item.command,
                env=item.env,
                mounts=mounts,
                network=item.network,
                cwd=item.cwd,
            )
        else:
            assert item.command is not None
            argv = [
                item.command[0],
                *(str(base / a) if not a.startswith("-") and (base / a).exists() else a for a in item.command[1:]),
            ]
            if (base / argv[0]).exists():
                argv[0] = str(base / argv[0])
            entry = ToolEntry(kind="command", argv=argv, cwd=cwd, env=item.env)
        runtime = item.runtime or {"wasm": "wasm", "docker": "docker"}.get(item.kind, "process")
        specs.append(ToolSpec(**fields, runtime=runtime, entry=entry, source=f"manifest:{path}"))
    return specs


def manifest_files(folder: str | Path) -> list[Path]:
    """Manifest files (``*.tools.yaml``) under ``folder``, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.name.endswith(MANIFEST_SUFFIXES) and p.is_file())
