"""What a tool is: its schemas, version, safety tier, limits, cost model and how to reach it."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from toolnexus.core.units import Duration, Size

# Isolation strength of each runtime: a tool's declared runtime and the policy's minimum for its tier
# are floors that a mission or a call may raise but never lower.
ISOLATION: dict[str, int] = {"inprocess": 0, "process": 1, "wasm": 2, "docker": 3, "mcp": 1}

# Runtimes that run a tool somewhere else rather than sandbox it here: a tool of a remote MCP server runs
# in that server's process (a separate OS process, or another host), so it ranks with ``process`` — a
# policy floor of ``process`` is met, a floor of ``wasm`` or ``docker`` is not (the compiler then says
# that runtime cannot run the tool). They are never a policy floor themselves.
REMOTE_RUNTIMES: frozenset[str] = frozenset({"mcp"})

DEFAULT_MIN_RUNTIME: dict[str, str] = {"read_only": "inprocess", "side_effecting": "inprocess",
                                       "privileged": "process"}


def stronger_runtime(a: str, b: str) -> str:
    """The more isolating of two runtimes (``a`` on a tie)."""
    return b if ISOLATION.get(b, 0) > ISOLATION.get(a, 0) else a


PYTHON_EXEC_TARGET = "toolnexus.builtins.pyexec:exec_python"


def is_python_exec(spec: ToolSpec) -> bool:
    """Whether ``spec`` is the ``python.exec`` built-in, which the wasm and docker runtimes run natively."""
    return spec.entry.kind == "python" and spec.entry.target == PYTHON_EXEC_TARGET


def runtime_supports(runtime: str, spec: ToolSpec) -> bool:
    """Whether ``runtime`` can run ``spec`` at all (a container cannot import a notebook's function)."""
    kind = spec.entry.kind
    python_exec = is_python_exec(spec)
    if runtime == "inprocess":
        return kind == "python"
    if runtime == "process":
        return kind in ("python", "command")
    if runtime == "wasm":
        return kind == "wasm" or python_exec
    if runtime == "docker":
        return kind in ("docker", "command") or python_exec
    if runtime == "mcp":
        return kind == "mcp"
    return True  # a runtime we do not know says for itself


class SafetyTier(StrEnum):
    """How much harm a tool can do; policies and runtime choice key off it."""

    READ_ONLY = "read_only"
    SIDE_EFFECTING = "side_effecting"
    PRIVILEGED = "privileged"


class Lifecycle(StrEnum):
    """Where a tool is in its life: discovery filters on it, and governance moves tools along it."""

    EXPERIMENTAL = "experimental"
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class Limits(BaseModel):
    """Resource limits for one call. ``None`` means "no limit of ours" (the runtime's own still apply)."""

    model_config = ConfigDict(extra="forbid")

    timeout: Duration = None
    memory: Size = None
    cpu_time: Duration = None
    max_output: Size = 16 * 2**20
    open_files: int | None = None

    def merged(self, override: Limits | None) -> Limits:
        """These limits with every field set in ``override`` taking its place."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_unset=True))


class CostModel(BaseModel):
    """How a call's cost is known: a flat price, a price per second, or a figure the tool reports."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["free", "per_call", "per_second", "reported"] = "free"
    amount: float = 0.0
    currency: str = "USD"
    # For ``reported``: the dotted path in the tool's output that holds the cost.
    field: str = "cost"
    # For budgets: what a ``reported`` call is expected to cost before it runs.
    estimate: float = 0.0

    def estimate_call(self, timeout: float | None) -> float:
        """The most this call is expected to cost, for enforcing a budget before it runs."""
        if self.kind == "per_call":
            return self.amount
        if self.kind == "per_second":
            return self.amount * (timeout or 0.0)
        if self.kind == "reported":
            return self.estimate
        return 0.0

    def actual(self, duration: float, output: Any) -> float:
        """What a finished call cost, from its duration or the figure it reported."""
        if self.kind == "per_call":
            return self.amount
        if self.kind == "per_second":
            return self.amount * duration
        if self.kind == "reported":
            value: Any = output
            for part in self.field.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
        return 0.0


class Mount(BaseModel):
    """A host folder a sandboxed tool may see (a wasm preopen, a container bind mount)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="folder on the host; relative paths resolve against the workspace")
    guest: str = Field(description="where the tool sees it, e.g. /data")
    writable: bool = False


class ToolEntry(BaseModel):
    """How a runtime reaches the tool's implementation."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["python", "command", "wasm", "docker", "mcp"] = "python"
    # python: "package.module:qualname", importable by a worker process.
    target: str | None = None
    # command (and docker): the argv to start; JSON arguments on stdin, a JSON result on stdout.
    argv: list[str] | None = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    # wasm: path of a WASI command module (.wasm, or .wat compiled at load).
    module: str | None = None
    # docker: the image to run argv in.
    image: str | None = None
    # wasm and docker: the only host folders the tool sees.
    mounts: list[Mount] = Field(default_factory=list)
    # docker: whether the container may use the network (policy must allow it too).
    network: bool = False
    # mcp: the configured server's key (``mcp.servers.<key>``) and the tool's name on that server.
    server: str | None = None
    remote_name: str | None = None


class ToolExample(BaseModel):
    """An example call: arguments and, optionally, the result it gives."""

    model_config = ConfigDict(extra="forbid")  # a typo such as ``resut:`` is an error, not a lost result

    arguments: dict[str, Any]
    result: Any = None
    description: str | None = None


class ToolDescription(BaseModel):
    """What every description of a tool says, whoever writes it: a :class:`ToolSpec` in code, a tool of a YAML
    manifest (:class:`~toolnexus.registry.manifest.ManifestTool`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "1.0.0"
    summary: str = ""
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    tier: SafetyTier = SafetyTier.READ_ONLY
    limits: Limits = Field(default_factory=Limits)
    cost: CostModel = Field(default_factory=CostModel)
    tags: list[str] = Field(default_factory=list)
    successor: str | None = Field(None, description="the tool that replaces this one: named when a call or a "
                                  "mission uses it deprecated or retired")
    idempotent: bool | None = Field(None, description="whether calling it twice with the same arguments does no "
                                    "more than calling it once (default: true for read_only tools); a call of a "
                                    "tool that is not is never started twice, e.g. after its Dask worker is lost")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not value or any(c.isspace() or c == "@" for c in value):
            raise ValueError(f"{value!r} is not a tool name: use letters, digits, '_', '-' and '.', no spaces or '@'")
        return value


class ToolSpec(ToolDescription):
    """The full description of one version of one tool."""

    lifecycle: Lifecycle = Lifecycle.ACTIVE
    runtime: str = "inprocess"
    deterministic: bool = False
    entry: ToolEntry = Field(default_factory=ToolEntry)
    examples: list[ToolExample] = Field(default_factory=list)
    source: str | None = None

    # The Python callable behind an in-process tool; never serialised.
    _callable: Callable[..., Any] | None = PrivateAttr(default=None)
    # Per-spec memo for derived objects (compiled schema validators); never serialised.
    _memo: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def namespace(self) -> str:
        """The part of the name before its last dot (``files`` for ``files.read``)."""
        return self.name.rpartition(".")[0]

    @property
    def is_idempotent(self) -> bool:
        """``idempotent`` as declared, else whether the tool is read-only."""
        return self.idempotent if self.idempotent is not None else self.tier == SafetyTier.READ_ONLY

    @property
    def ref(self) -> str:
        """``name@version``, as a mission's ``uses:`` would pin it."""
        return f"{self.name}@{self.version}"

    @property
    def callable(self) -> Callable[..., Any] | None:
        """The Python function an in-process tool runs (set by :meth:`bind`), or None for any other tool."""
        return self.__pydantic_private__["_callable"]  # direct: this runs on every in-process call

    def memo(self, key: str, make: Callable[[], Any]) -> Any:
        """A value derived from this spec, computed once (e.g. a compiled schema validator)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = make()
            return value

    def bind(self, fn: Callable[..., Any]) -> ToolSpec:
        """Attach the in-process implementation and return ``self``."""
        self._callable = fn
        return self
