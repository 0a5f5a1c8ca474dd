"""Configuration: defaults < ``toolnexus.toml`` (or ``[tool.toolnexus]`` in pyproject.toml) <
``TOOLNEXUS_…`` environment variables < CLI flags, validated by pydantic, with each value's source."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolnexus.core.context import DEFAULT_SHELL_ALLOW
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from toolnexus.core.spec import DEFAULT_MIN_RUNTIME, ISOLATION, REMOTE_RUNTIMES, SafetyTier
from toolnexus.core.units import Duration, Size
from toolnexus.core.yamlpos import DEFAULT_LIMITS, YamlLimits
from toolnexus.governance.flag_model import FlagsSettings
from toolnexus.registry.manifest import require_trusted
from toolnexus.registry.toolsets import Toolset
from toolnexus.sandbox.limits import DEFAULT_MEMORY, DEFAULT_TIMEOUT

ENV_PREFIX = "TOOLNEXUS_"


class ToolsSettings(BaseModel):
    """``[tools]``: where the tools of a project come from (Python modules, manifest folders)."""
    model_config = ConfigDict(extra="forbid")

    modules: list[str] = Field(default_factory=list, description="Python modules whose @tool functions to load")
    paths: list[str] = Field(default_factory=lambda: ["tools"], description="folders of *.tools.yaml manifests")
    entry_points: bool = Field(True, description="load tools from installed packages (toolnexus.tools)")


class ShellSettings(BaseModel):
    """``[shell]``: what ``shell.run`` may start."""
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SHELL_ALLOW), description="programs shell.run may start"
    )


class HttpSettings(BaseModel):
    """``[http]``: what ``http.fetch`` may reach."""
    model_config = ConfigDict(extra="forbid")

    allow_private: bool = Field(False, description="let http.fetch reach loopback and private networks")
    allow_hosts: list[str] = Field(default_factory=list, description="hosts http.fetch may reach regardless")


class SearchSettings(BaseModel):
    """How ``registry.search`` ranks tools (the CLI, MCP's ``tools.search``, the tool browser)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["bm25", "hybrid"] = Field(
        "bm25", description="bm25, or hybrid: BM25 fused with embeddings (needs toolnexus[semantic], else bm25)")
    semantic_weight: float = Field(
        1.0, ge=0.0, le=10.0, description="weight of the embedding similarity against BM25 in hybrid mode "
                                          "(1.0: the balance tuned on the retrieval benchmarks; 0: BM25 alone)")


class SandboxSettings(BaseModel):
    """``[sandbox]``: how tools are isolated, by safety tier and runtime."""
    model_config = ConfigDict(extra="forbid")

    min_runtime: dict[SafetyTier, str] = Field(
        default_factory=lambda: {SafetyTier(k): v for k, v in DEFAULT_MIN_RUNTIME.items()},
        description="the least isolating runtime each safety tier may run in (inprocess < process < wasm < docker)")
    namespaces: bool | None = Field(None, description="process workers in bubblewrap namespaces (None: if "
                                    "available)")
    network: bool = Field(False, description="process workers may use the network (cut only with namespaces)")
    pids_max: int | None = Field(256, ge=8, description="processes a worker and its children may have")
    memory: Size = Field(DEFAULT_MEMORY, description="default memory cap of a sandboxed call (process worker, "
                         "wasm guest) whose tool sets none, e.g. \"1GiB\"")
    timeout: Duration = Field(DEFAULT_TIMEOUT, description="default time limit of a sandboxed call (process, "
                              "wasm, docker) whose tool sets none, e.g. \"10m\"")
    user: str | None = Field(None, description="when toolnexus runs as root: the unprivileged user (name or "
                             "uid) sandboxed processes run as; default a uid of the workspace's own")
    read_paths: list[str] = Field(default_factory=list, description="more host folders sandboxed processes "
                                  "may read (the interpreter, its libraries and the workspace are always there)")
    docker_image: str = Field("toolnexus/python:3.11", description="image for python.exec and command tools "
                              "run with runtime: docker (build it with `toolnexus sandbox build-image`)")
    docker_network: bool = Field(False, description="docker tools that declare network: true may use it")
    docker_spare: bool = Field(False, description="keep one fresh docker container per image and limits started "
                               "ahead of need, so a call that needs a new container gets one in milliseconds "
                               "(it costs one idle container)")

    @field_validator("min_runtime")
    @classmethod
    def _known_runtimes(cls, value: dict[SafetyTier, str]) -> dict[SafetyTier, str]:
        for tier, runtime in value.items():
            if runtime not in ISOLATION or runtime in REMOTE_RUNTIMES:
                local = [r for r in ISOLATION if r not in REMOTE_RUNTIMES]
                raise ValueError(f"{tier.value}: unknown runtime {runtime!r} (use one of {', '.join(local)})")
        return value


class TrackingSettings(BaseModel):
    """``[tracking]``: whether and where runs are recorded in MLflow."""
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="record every run in MLflow")
    uri: str | None = Field(None, description="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else "
                            "sqlite:///<state_dir>/mlflow.db)")
    flush_timeout: float = Field(60.0, ge=0, description="seconds to wait for MLflow when closing while it is "
                                 "answering (one that fails or times out is not waited for); the rest is kept "
                                 "and synced later")
    timeout: float = Field(3.0, gt=0, le=600, description="seconds an MLflow server may take to answer one request "
                           "(sets MLFLOW_HTTP_REQUEST_TIMEOUT, no retries, unless MLflow's variables are set); "
                           "a run it does not answer for stays in the spool")
    stream_steps: bool = Field(True, description="log step metrics while the run goes, not only at its end")
    sync: Literal["auto", "wait", "background"] = Field(
        "auto", description="who writes an ended run to MLflow: \"wait\" — this process, on a thread, and a "
        "closing process waits for it (up to flush_timeout); \"background\" — a detached process, so nothing "
        "waits (the report is spooled first, so never lost); \"auto\" — background for CLI commands, wait "
        "elsewhere")


class StoreSettings(BaseModel):
    """The state database (``<state_dir>/state.db``)."""

    model_config = ConfigDict(extra="forbid")

    heartbeat_interval: float = Field(5.0, gt=0, le=3600, description="seconds between the heartbeats a process "
                                      "writes while it has runs going; seen from another host, a run whose "
                                      "process missed 3 reads as interrupted")
    wal_max_mb: float = Field(64.0, ge=1, description="the write-ahead log (state.db-wal) is kept under this many "
                              "MiB: checkpoints restart it from half that size")


class DaskSettings(BaseModel):
    """The Dask executor (``executor = "dask"``): the local cluster it starts when given no address."""

    model_config = ConfigDict(extra="forbid")

    workers: int | None = Field(None, ge=1, le=1024, description="worker processes of the LocalCluster started "
                                "for a run (default: as Dask chooses from the CPUs)")
    threads_per_worker: int = Field(1, ge=1, le=256, description="calls each worker runs at once")
    large_output: Size = Field(2**20, description="a step output larger than this (as JSON) stays on the "
                               "workers: the engine keeps a reference and a summary, and a step that takes it "
                               "whole gets it worker to worker (none: every output comes back)")


class McpServerSettings(BaseModel):
    """One MCP server whose tools become ours, in the familiar ``mcpServers`` shape.

    Either ``command`` (with ``args``, ``env``, ``cwd``: a stdio server) or ``url`` (with ``headers``:
    Streamable HTTP).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["stdio", "http", "streamable-http"] | None = Field(
        None, description="transport, as other clients' configs spell it (implied by command or url)")
    command: str | None = Field(None, description="program of a stdio server")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = Field(None, description="working folder of a stdio server (relative: to the workspace)")
    url: str | None = Field(None, description="Streamable HTTP endpoint")
    headers: dict[str, str] = Field(default_factory=dict)
    namespace: str | None = Field(None, description="prefix of its tools' names (default: the server's key)")
    tiers: dict[str, SafetyTier] = Field(default_factory=dict, description="safety tier per tool name, "
                                         "overriding what its annotations imply")
    enabled: bool = True
    timeout: float = Field(30.0, gt=0, description="seconds to wait for the server to start and answer")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if self.command and self.url:
            raise ValueError("give either command (stdio) or url (HTTP), not both")
        if not self.command and not self.url:
            raise ValueError("give command (a stdio server) or url (a Streamable HTTP server)")
        needs = None if self.type is None else "command" if self.type == "stdio" else "url"
        if needs is not None and not getattr(self, needs):
            raise ValueError(f"type {self.type!r} needs {needs}")
        if self.namespace is not None and not _NAMESPACE.fullmatch(self.namespace):
            raise ValueError(f"namespace {self.namespace!r}: use letters, digits, '_', '-' and '.'")
        return self


_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class McpSettings(BaseModel):
    """``[mcp]``: the MCP servers whose tools are imported."""
    model_config = ConfigDict(extra="forbid")

    servers: dict[str, McpServerSettings] = Field(default_factory=dict, description="MCP servers to import tools "
                                                  "from, by name (the key is their namespace)")
    listing_ttl: float = Field(86400.0, ge=0, description="seconds a server's cached tool listing is trusted "
                               "before a Nexus asks the server again (0: ask every time); any connection refreshes it")
    config_file: str | None = Field(None, description="a JSON file in the familiar {\"mcpServers\": {...}} shape "
                                    "(e.g. .mcp.json) whose servers are added; those in `servers` win on a clash")

    def all_servers(self, workspace: Path) -> dict[str, McpServerSettings]:
        """``servers`` plus those of ``config_file`` (DiagnosticError, naming the file, when it is bad)."""
        if self.config_file is None:
            return dict(self.servers)
        path = Path(self.config_file)
        path = path if path.is_absolute() else workspace / path
        require_trusted(path)  # it names commands toolnexus starts outside any sandbox
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DiagnosticError([Diagnostic(message=f"cannot read mcp.config_file: {exc.strerror}", file=str(path),
                                              hint="fix the path of mcp.config_file in toolnexus.toml")]) from None
        except json.JSONDecodeError as exc:
            raise DiagnosticError([Diagnostic(message=f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno,
                                              column=exc.colno)]) from None
        entries = data.get("mcpServers") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise DiagnosticError([Diagnostic(message='expected an object {"mcpServers": {name: server, ...}}',
                                              file=str(path))])
        found: dict[str, McpServerSettings] = {}
        problems = []
        for name, entry in entries.items():
            try:
                found[name] = McpServerSettings.model_validate(entry)
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    where = ".".join(str(p) for p in (name, *err["loc"]))
                    problems.append(Diagnostic(message=f"mcpServers.{where}: {err['msg']}", file=str(path)))
        if problems:
            raise DiagnosticError(problems)
        return {**found, **self.servers}


class GovernanceSettings(BaseModel):
    """The gate's policies, approvals and audit (``[governance]``)."""

    model_config = ConfigDict(extra="forbid")

    policies: list[str] = Field(default_factory=list, description="policy files (YAML), relative to the workspace; "
                                "globs such as policies/*.yaml are expanded, in name order")
    mode: Literal["observe", "warn", "enforce"] = Field(
        "observe", description="the mode of a rule that names none: observe (decided and recorded, never enforced) "
        "until a team opts in, warn (allowed, the caller told) or enforce")
    tenant: str | None = Field(None, description="the tenant the calls made from this workspace are for")
    approval_timeout: Duration = Field(3600.0, description="how long a call waits for an approval before it expires")
    audit: bool = Field(True, description="append every decision to the tamper-evident audit log of the state store")
    audit_key: str | None = Field(None, description="an Ed25519 private key (PEM file) that signs audit checkpoints")
    checkpoint_every: int = Field(1000, ge=1, description="audit records between two checkpoints")
    experimental: bool = Field(False, description="opt in to experimental tools (refused otherwise, unless a "
                               "policy allows them)")
    guard_loosening: bool = Field(False, description="loosening governance needs an approval someone else grants: "
                                  "lifting a kill switch, and a policy reload that removes an enforced rule, "
                                  "switches one to observe or warn, or turns a deny or approve rule into an allow")
    environment: str | None = Field(None, description="the environment this workspace runs in (dev, staging, "
                                    "prod...): rollout flags ([flags]) may target it")


class MissionSettings(BaseModel):
    """Bounds on a mission file, so that a hostile one is refused in bounded time and memory."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(DEFAULT_LIMITS.max_bytes, ge=1024, description="largest mission file, in bytes")
    # Deeper than 200, values outgrow what the plan's serialisation accepts.
    max_depth: int = Field(DEFAULT_LIMITS.max_depth, ge=8, le=200, description="deepest nesting of lists and mappings")
    max_nodes: int = Field(DEFAULT_LIMITS.max_nodes, ge=1000, description="values a mission file may hold")
    max_alias_nodes: int = Field(DEFAULT_LIMITS.max_alias_nodes, ge=0, description="values the aliases (*name) "
                                 "of a mission file may stand for, as if written out")

    def limits(self) -> YamlLimits:
        """These bounds as the YAML loader of mission files takes them."""
        return YamlLimits(**self.model_dump())


class Settings(BaseModel):
    """Every setting toolnexus reads. Paths are relative to the workspace."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = Field(".", description="project folder; tools' files are scoped to it")
    state_dir: str = Field(".toolnexus", description="where runs, steps and the cache are kept")
    state: str | None = Field(None, description="a PostgreSQL database to keep the state in instead "
                              "(postgresql://user:password@host/database): one state, approvals queue and audit "
                              "shared by every host pointed at it; default: SQLite in state_dir")
    concurrency: int | None = Field(None, ge=1, le=1024, description="override every mission's concurrency")
    process_workers: int = Field(4, ge=1, le=256, description="warm worker processes of the process runtime")
    executor: str = Field("local", min_length=1, description="what dispatches each call to its runtime: local (this "
                          "process), dask (a LocalCluster for the run), dask://host:8786 (a running Dask "
                          "cluster), or an executor a package adds through the toolnexus.executors entry points")
    dask: DaskSettings = Field(default_factory=DaskSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    shell: ShellSettings = Field(default_factory=ShellSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    toolsets: dict[str, Toolset] = Field(default_factory=dict, description="named groups of tools, by name")
    mcp: McpSettings = Field(default_factory=McpSettings)
    mission: MissionSettings = Field(default_factory=MissionSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    flags: FlagsSettings = Field(default_factory=FlagsSettings, description="rollout flags by name ([flags.NAME]: "
                                 "default, targeting rules), or provider = \"module:factory\" (an OpenFeature "
                                 "provider)")

    def min_runtime(self) -> dict[str, str]:
        """The least isolated runtime allowed per safety tier, keyed by the tier's name."""
        return {SafetyTier(k).value: v for k, v in self.sandbox.min_runtime.items()}

    def workspace_path(self) -> Path:
        """The workspace folder, absolute."""
        return Path(self.workspace).resolve()

    def state_path(self) -> Path:
        """The state folder, absolute (a relative ``state_dir`` is under the workspace)."""
        path = Path(self.state_dir)
        return path if path.is_absolute() else self.workspace_path() / path


class LoadedSettings(BaseModel):
    """Settings with, for each dotted key, where its value came from (default, file, env or cli)."""
    settings: Settings
    sources: dict[str, str]  # dotted key → "default" | file path | "env TOOLNEXUS_X" | "cli"


# Tables whose keys are the user's own names (a toolset, a server): kept whole, never flattened.
OPAQUE_TABLES = frozenset({"toolsets", "mcp.servers", "flags"})


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and f"{prefix}{key}" not in OPAQUE_TABLES:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _env_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [p.strip() for p in text.split(",")] if "," in text else text


def _known_keys() -> list[str]:
    return list(_flatten(Settings().model_dump()))


def config_file(workspace: Path) -> tuple[Path, dict[str, Any]] | None:
    """The config file in ``workspace`` and its toolnexus table, if there is one."""
    for name in ("toolnexus.toml", "pyproject.toml"):
        path = workspace / name
        if not path.is_file():
            continue
        require_trusted(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise DiagnosticError([Diagnostic(message=f"invalid TOML: {exc}", file=str(path))]) from None
        if name == "pyproject.toml":
            table = data.get("tool", {}).get("toolnexus")
            if table is None:
                continue
            return path, table
        return path, data
    return None


def load_settings(
    workspace: str | Path | None = None, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> LoadedSettings:
    """The effective settings and where each came from; bad values raise DiagnosticError."""
    environ = dict(os.environ if environ is None else environ)
    overrides = dict(overrides or {})
    if overrides.get("workspace") is not None:
        workspace, workspace_source = overrides["workspace"], "cli"
    elif workspace is not None:
        workspace_source = "argument"
    elif environ.get(f"{ENV_PREFIX}WORKSPACE"):
        workspace, workspace_source = environ[f"{ENV_PREFIX}WORKSPACE"], f"env {ENV_PREFIX}WORKSPACE"
    else:
        workspace_source = "cwd"
    overrides.pop("workspace", None)
    workspace_dir = Path(workspace or ".").resolve()
    merged: dict[str, Any] = {}
    sources = dict.fromkeys(_known_keys(), "default")
    known = set(sources)
    problems: list[Diagnostic] = []

    def apply(flat: dict[str, Any], source: str, file: str | None = None) -> None:
        for key, value in flat.items():
            if key not in known and source.startswith("env "):
                continue  # other tools' variables may share the prefix; only files and flags are strict
            if key not in known:
                problems.append(
                    Diagnostic(
                        message=f"unknown setting {key!r} (from {source})", file=file, hint=did_you_mean(key, known)
                    )
                )
                continue
            _set(merged, key, value)
            sources[key] = source

    found = config_file(workspace_dir)
    if found is not None:
        path, table = found
        apply(_flatten(table), str(path), str(path))
    env_flat = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and name != f"{ENV_PREFIX}WORKSPACE":
            env_flat[name[len(ENV_PREFIX) :].lower().replace("__", ".")] = (_env_value(value), name)
    for key, (value, name) in env_flat.items():
        apply({key: value}, f"env {name}")
    apply(_flatten({k: v for k, v in overrides.items() if v is not None}), "cli")
    merged["workspace"] = str(workspace_dir)
    sources["workspace"] = workspace_source
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"])
            # Inside an opaque table the source is the table's.
            owner = next((key[: i] for i in range(len(key), 0, -1) if key[:i] in sources), key)
            problems.append(Diagnostic(message=f"setting {key!r} (from {sources.get(owner, '?')}): {err['msg']}"))
        raise DiagnosticError(problems) from None
    if problems:
        raise DiagnosticError(problems)
    return LoadedSettings(settings=settings, sources=sources)
