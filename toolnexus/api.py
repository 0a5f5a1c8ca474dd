"""The Python API: a :class:`Nexus` holds a workspace's registry, store, runtimes and engine.

Module-level ``load_mission``, ``compile``, ``run``, ``arun``, ``call`` and ``acall`` use a default
Nexus for the current directory. Every surface (CLI, notebooks, later MCP) goes through these, so a
call always passes the same validation, gate, runtime and events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread

from toolnexus.builtins import builtin_specs
from toolnexus.config import LoadedSettings, Settings, load_settings
from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.caller import (
    Caller,
    Surface,
    current_identity,
    local_caller,
    process_surface,
    reset_identity,
    surface_named,
    use_identity,
)
from toolnexus.core.context import ToolContext
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.events import EventSink
from toolnexus.core.ids import new_id
from toolnexus.core.run import RunResult, RunStatus
from toolnexus.core.runtime import Runtime
from toolnexus.core.secrets import REDACTED, declare_named_secrets, install_log_scrubbing
from toolnexus.engine import Engine, EventBus, Invoker, RunControl
from toolnexus.engine.executor import Executor, LocalExecutor, executor_named
from toolnexus.governance import Gate
from toolnexus.governance.approvals import Approvals
from toolnexus.governance.flag_store import StoredFlags
from toolnexus.governance.kills import KillSwitches
from toolnexus.governance.setup import govern
from toolnexus.mission import LoadedMission, Plan, compile_mission, load_mission, parse_mission
from toolnexus.registry import Registry, follow_decorated, load_entry_points, load_manifests, load_module
from toolnexus.sandbox import ProcessRuntime
from toolnexus.sandbox.runtimes import RuntimeRegistry
from toolnexus.store import StateStore, StoredRun
from toolnexus.store.background import flush_all
from toolnexus.tracking import MlflowTracker, default_tracking_uri

T = TypeVar("T")
MissionLike = str | Path | LoadedMission | Plan
RunPresenter = Callable[["Nexus", dict[str, Any]], AbstractContextManager[Any] | None]
run_presenters: list[RunPresenter] = []
"""What shows a run that :meth:`Nexus.run` starts (a surface above this one installs it: the notebook's live run
view). Each is called with the Nexus and the run's keyword arguments, which it may complete (a ``control`` to
cancel the run with), and returns a context manager the run happens inside, or None to show nothing."""


class Nexus:
    """Everything needed to run tools and missions in one workspace.

    Safe to share between threads; ``close()`` stops worker processes. ``executor`` names what dispatches
    calls (:func:`~toolnexus.engine.executor.executor_named`; default: the ``executor`` setting, ``local``), or
    is one already made (e.g. ``DaskExecutor.from_client(client)`` for a cluster reached through its own
    client, such as a dask-gateway cluster's).
    ``surface`` is where its calls and runs come from (default: ``notebook`` in a Jupyter kernel, ``python``
    otherwise); :attr:`caller` — the OS user, the ``governance.tenant`` setting and that surface — is the caller
    of every call and run that names no other.
    """

    def __init__(
        self,
        workspace: str | Path | None = None,
        *,
        settings: Settings | None = None,
        registry: Registry | None = None,
        gate: Gate | None = None,
        store: bool = True,
        sinks: list[EventSink] | None = None,
        overrides: dict[str, Any] | None = None,
        executor: str | Executor | None = None,
        surface: Surface | str | None = None,
    ) -> None:
        if settings is None:
            self.loaded_settings: LoadedSettings | None = load_settings(workspace, overrides)
            settings = self.loaded_settings.settings
        else:
            self.loaded_settings = None
        self.settings = settings
        self.workspace = settings.workspace_path()
        given = executor if executor is not None and not isinstance(executor, str) else None
        self.executor: str = (getattr(given, "name", type(given).__name__) if given is not None
                              else executor or settings.executor)  # its name (for the records)
        # One frozen caller for the Nexus, handed to every call as it is (no per-call object).
        self.caller: Caller = local_caller(_surface(surface), settings.governance.tenant)
        # Secrets are scrubbed from every record: log records as they are made, and the secret-named values of
        # the configuration (an MCP server's `env` and `headers`) are known secrets from now on.
        install_log_scrubbing()
        declare_named_secrets(settings.model_dump(mode="json"))
        self.registry = registry if registry is not None else default_registry(settings)
        self.store = _state_store(settings) if store else None
        context = ToolContext(
            workspace=str(self.workspace),
            shell_allow=settings.shell.allow,
            http_allow_private=settings.http.allow_private,
            http_allow_hosts=settings.http.allow_hosts,
            sandbox_user=settings.sandbox.user,
        )
        # The runtimes by name, from the `toolnexus.runtimes` entry points (a missing extra leaves one out).
        self.runtimes: dict[str, Runtime] = RuntimeRegistry.from_entry_points().build_available(context, settings)
        self.mcp = _mcp_provider(settings, self.registry)
        if self.mcp is not None:
            from toolnexus.mcp.runtime import McpRuntime

            self.runtimes["mcp"] = McpRuntime(self.mcp.connections)
        self.bus = EventBus([self.store] if self.store is not None else [])
        self.tracker: MlflowTracker | None = None
        if settings.tracking.enabled:
            state = settings.state_path()
            self.tracker = MlflowTracker(settings.tracking.uri or default_tracking_uri(state), state / "tracking-spool",
                                         workspace=str(self.workspace), stream_steps=settings.tracking.stream_steps,
                                         exit_timeout=settings.tracking.flush_timeout,
                                         timeout=settings.tracking.timeout, executor=self.executor,
                                         sync=_tracking_sync(settings.tracking.sync, self.caller.surface))
            self.bus.subscribe(self.tracker)
        for sink in sinks or []:
            self.bus.subscribe(sink)
        self._context = context
        if given is not None and hasattr(given, "bind"):
            given.bind(settings, context)  # (an executor made before the Nexus builds runtimes from its settings)
        self.invoker = Invoker(self.registry.get, self.runtimes, gate, self.bus, min_runtime=settings.min_runtime(),
                               executor=given or _executor(self.executor, settings, context))
        self.engine = Engine(self.invoker, self.store)
        self.governance = self.invoker.governance  # the floor, a surface's authorizer and the gate: one decision
        # Kill switches, lifecycle, the policy gate, approvals and the audit, from [governance].
        self.governed = govern(self.governance, settings.governance, self.workspace, store=self.store, bus=self.bus,
                               subscribe=self.bus.subscribe, tools=self.registry.list,
                               in_flight=self.invoker.in_flight, gate_given=gate is not None,
                               on_checkpoint=self.tracker.record_checkpoint if self.tracker is not None else None,
                               flags=settings.flags)

    @property
    def approvals(self) -> Approvals | None:
        """This workspace's approvals: list, show, approve and deny parked calls (None without a state store)."""
        return self.governed.approvals

    @property
    def kills(self) -> KillSwitches | None:
        """This workspace's kill switches: kill, unkill, active (None without a state store)."""
        return self.governed.kills

    @property
    def flags(self) -> StoredFlags | None:
        """This workspace's rollout flags in the state store: set, unset, list, each change audited (None without
        a state store)."""
        return self.governed.flags.stored if self.governed.flags is not None else None

    # -- missions ----------------------------------------------------------------------------

    def load(self, path: str | Path) -> LoadedMission:
        """Read and parse a mission file, within the `[mission]` limits of the settings."""
        return load_mission(path, self.settings.mission.limits())

    def compile(self, mission: MissionLike) -> Plan:
        """Compile a mission file, text or parsed mission into a Plan (DiagnosticError on problems)."""
        if isinstance(mission, Plan):
            return mission
        loaded = mission if isinstance(mission, LoadedMission) else self._load(mission)
        plan = compile_mission(loaded, self.registry.get, self.runtimes, self.settings.min_runtime())
        if self.settings.concurrency is not None:
            plan.concurrency = self.settings.concurrency
        return plan

    def _load(self, mission: str | Path) -> LoadedMission:
        limits = self.settings.mission.limits()
        if isinstance(mission, str) and ("\n" in mission or mission.lstrip().startswith("mission:")):
            return parse_mission(mission, "<string>", limits)
        return load_mission(mission, limits)

    async def arun(
        self,
        mission: MissionLike,
        inputs: dict[str, Any] | None = None,
        *,
        control: RunControl | None = None,
        resume: str | None = None,
        inputs_from_text: bool = False,
        caller: Caller | None = None,
        correlation_id: str | None = None,
        executor: str | None = None,
    ) -> RunResult:
        """Run a mission; cancellable with anyio (the run is recorded as cancelled).

        Each step's call carries ``caller`` (default: the call or run this one is made from, else :attr:`caller`)
        and the run's ``correlation_id`` (default: that of the call or run this one is made from, that of the run
        resumed, else the run's id). ``executor`` (``"dask"``, ``"dask://host:8786"``, ``"local"``) dispatches
        this run's calls instead of the Nexus's executor; it is closed with the run.
        """
        stored: StoredRun | None = None
        source: str | None = None
        if resume is not None:
            stored = self.resumable(resume)
            plan = self._plan_for_resume(stored)
            bound = stored.inputs
            source = stored.source
        else:
            if isinstance(mission, LoadedMission):
                source = mission.source
            elif isinstance(mission, str | Path):
                loaded = self._load(mission)
                source, mission = loaded.source, loaded
            plan = self.compile(mission)
            bound = plan.bind_inputs(inputs or {}, from_text=inputs_from_text)
        if executor is None and isinstance(self.invoker.executor, LocalExecutor):
            self._prewarm(plan)  # (another executor runs the process steps elsewhere: nothing to warm here)
        caller, correlation_id = self._identity(caller, correlation_id)
        if correlation_id is None and stored is not None:
            correlation_id = stored.correlation_id  # a resumed run goes on with the work of the run it resumes
        chosen = _executor(executor, self.settings, self._context) if executor is not None else None
        try:
            return await self.engine.run(plan, bound, resume=stored, control=control, source=source, caller=caller,
                                         correlation_id=correlation_id, executor=chosen)
        finally:
            closer = getattr(chosen, "close", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(closer)

    def _identity(self, caller: Caller | None, correlation_id: str | None) -> tuple[Caller, str | None]:
        """The caller and correlation id of a call or run: as given, else those of the call or run it is made
        from (a tool's sub-call), else this Nexus's caller and None (the call's or run's own id)."""
        parent = current_identity()
        if parent is not None:
            caller = caller or parent.caller
            correlation_id = correlation_id or parent.correlation_id
        return caller or self.caller, correlation_id

    def _prewarm(self, plan: Plan) -> None:
        # Worker interpreters boot while the first in-process steps run, not when the first process step starts.
        wanted = sum(1 for s in plan.steps if s.runtime == "process")
        runtime = self.runtimes.get("process")
        if wanted and isinstance(runtime, ProcessRuntime):
            runtime.prewarm(min(wanted, plan.concurrency, self.settings.process_workers))

    def run(self, mission: MissionLike, inputs: dict[str, Any] | None = None, **kwargs: Any) -> RunResult:
        """Run a mission to completion (works inside Jupyter's running event loop too).

        Inside a notebook with the live run view installed (:data:`run_presenters`), the run shows as it goes."""
        if not run_presenters:
            return run_sync(lambda: self.arun(mission, inputs, **kwargs))
        with ExitStack() as shown:
            for present in tuple(run_presenters):
                context = present(self, kwargs)
                if context is not None:
                    shown.enter_context(context)
            return run_sync(lambda: self.arun(mission, inputs, **kwargs))

    def resumable(self, run_id: str) -> StoredRun:
        """The stored run ``run_id`` if it can be resumed: it did not succeed, is not still running and kept
        all its inputs; otherwise a :class:`DiagnosticError` says why. One found interrupted is recorded so."""
        if self.store is None:
            raise DiagnosticError([Diagnostic(message="resuming needs the state store")])
        stored = self.store.get_run(run_id)
        if stored is None:
            raise DiagnosticError(
                [Diagnostic(message=f"no run {run_id!r} in {self.store.where}", hint="see `toolnexus runs list`")]
            )
        if stored.status.value == "succeeded":
            raise DiagnosticError([Diagnostic(message=f"run {stored.run_id} succeeded; there is nothing to resume")])
        secret = sorted(name for name, value in stored.inputs.items() if value == REDACTED)
        if secret:  # never recorded: resuming would hand the steps `***` in their place
            raise DiagnosticError([Diagnostic(
                message=f"run {stored.run_id} cannot be resumed: its input(s) {', '.join(secret)} held secrets, "
                        "which no record keeps", hint="run the mission afresh with the inputs")])
        if stored.status == RunStatus.RUNNING:
            raise DiagnosticError([Diagnostic(
                message=f"run {stored.run_id} is still running (pid {stored.pid} on {stored.host})",
                hint="a run whose process is gone shows as interrupted in `toolnexus runs list`")])
        if stored.status == RunStatus.INTERRUPTED:
            self.store.mark_interrupted(stored.run_id)  # for every reader, whatever it can tell of the owner
        return stored

    def _plan_for_resume(self, stored: StoredRun) -> Plan:
        if stored.source is not None:
            plan = self.compile(parse_mission(stored.source, stored.source_path))
            if plan.hash != stored.plan_hash:
                raise DiagnosticError(
                    [
                        Diagnostic(
                            message=f"the plan of run {stored.run_id} no longer compiles the same "
                            f"(hash {stored.plan_hash} → {plan.hash}): a tool version changed",
                            hint="run the mission afresh",
                        )
                    ]
                )
            return plan
        if stored.plan is None:
            raise DiagnosticError([Diagnostic(message=f"run {stored.run_id} kept no plan to resume")])
        return Plan.model_validate(stored.plan)

    # -- single calls ------------------------------------------------------------------------

    async def acall(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        origin: str | None = None,
        runtime: str | None = None,
        caller: Caller | None = None,
        correlation_id: str | None = None,
        **kwargs: Any,
    ) -> ToolResult:
        """Call one tool through the same path as a mission step; the result carries any error.

        The call carries ``caller`` (default: that of the call or run it is made from, else :attr:`caller`, on
        the surface ``origin`` names if it names one) and ``correlation_id`` (default: that of the call or run it
        is made from, else the call's own id); ``origin`` defaults to the caller's surface.
        """
        tool, _, version = name.partition("@")
        surface = surface_named(origin)
        if caller is None and surface is not None and surface != self.caller.surface:
            caller = self.caller.model_copy(update={"surface": surface})  # an older surface naming itself by origin
        caller, correlation_id = self._identity(caller, correlation_id)
        call_id = new_id("call-")
        call = ToolCall(
            id=call_id,
            tool=tool,
            version=version or None,
            arguments={**(arguments or {}), **kwargs},
            origin=origin or caller.surface.value,
            runtime=runtime,
            caller=caller,
            correlation_id=correlation_id or call_id,
        )
        identity = use_identity(caller, call.correlation_id)  # the calls the tool makes are sub-calls of this one
        try:
            return await self.invoker.invoke(call)
        finally:
            reset_identity(identity)

    def call(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> ToolResult:
        """Call one tool outside any mission and wait for its result (a failure is in the result, not raised).

        The blocking form of :meth:`acall`; it works inside Jupyter's running event loop too.
        """
        return run_sync(lambda: self.acall(name, arguments, **kwargs))

    def compare(self, *run_ids: str) -> Any:
        """Runs side by side from MLflow, as a pandas DataFrame (one column per run).

        A run whose report is not in MLflow yet (just finished, or kept in the spool while MLflow is
        unreachable) is read from that report.
        """
        from toolnexus.tracking.compare import compare_runs

        pending = self.tracker.pending_report if self.tracker is not None else None
        return compare_runs(list(run_ids), self.tracking_client, pending=pending)

    def tracking_client(self) -> Any:
        """An MlflowClient on this workspace's tracking store."""
        from mlflow import MlflowClient

        uri = self.settings.tracking.uri or default_tracking_uri(self.settings.state_path())
        return self.tracker.client() if self.tracker is not None else MlflowClient(tracking_uri=uri)

    def close(self) -> None:
        """Stop worker processes; wait (up to ``tracking.flush_timeout``) for MLflow to catch up, or with
        ``tracking.sync = "background"`` hand what is not in MLflow yet to the detached writer."""
        self.governed.close()
        if self.tracker is not None:
            self.tracker.close(self.settings.tracking.flush_timeout)
        for runtime in self.runtimes.values():
            closer = getattr(runtime, "close", None)
            if closer is not None:
                closer()
        closer = getattr(self.invoker.executor, "close", None)
        if closer is not None:  # (a Dask executor's client, and the cluster it started)
            closer()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Nexus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tracking_sync(setting: str, surface: Surface) -> Literal["wait", "background"]:
    """``tracking.sync`` resolved: "auto" is "background" for a CLI command (a short process whose user waits
    for the prompt, not for MLflow) and "wait" elsewhere (a kernel or script keeps its writer thread)."""
    if setting == "auto":
        return "background" if surface == Surface.CLI else "wait"
    return "background" if setting == "background" else "wait"


def _state_store(settings: Settings) -> StateStore:
    """The configured state store: PostgreSQL when ``state`` names a database, else SQLite in ``state_dir``."""
    if settings.state:
        from toolnexus.store.postgres import PostgresStateStore, StoreUnavailable

        try:
            return PostgresStateStore(settings.state, heartbeat_interval=settings.store.heartbeat_interval)
        except (ImportError, ValueError, StoreUnavailable) as exc:
            raise DiagnosticError([Diagnostic(message=f"state: {exc}", hint="state = \"postgresql://user@host/db\" "
                                              "needs the postgresql extra: pip install 'toolnexus[postgresql]'")]
                                  ) from None
    return StateStore(settings.state_path() / "state.db", heartbeat_interval=settings.store.heartbeat_interval,
                      wal_max_bytes=int(settings.store.wal_max_mb * 2**20))


def _executor(spec: str, settings: Settings, context: ToolContext) -> Executor:
    """The executor ``spec`` names; an unknown one is the user's mistake, said as such."""
    try:
        return executor_named(spec, settings, context)
    except ValueError as exc:
        raise DiagnosticError([Diagnostic(message=f"executor: {exc}", hint='executor = "local", "dask" or '
                                          '"dask://host:8786" (toolnexus.toml, TOOLNEXUS_EXECUTOR or --executor)')]
                              ) from None


def _surface(named: Surface | str | None) -> Surface:
    """The surface a Nexus is made for: the one named, else this process's (a notebook's kernel, or Python)."""
    return Surface(named) if named else process_surface()


def _mcp_provider(settings: Settings, registry: Registry) -> Any:
    """The configured MCP servers' tools in ``registry`` (None when no server is enabled).

    Imported only then: a Nexus without MCP servers does not pay for the SDK.
    """
    servers = settings.mcp.all_servers(settings.workspace_path())
    if not any(server.enabled for server in servers.values()):
        return None
    from toolnexus.mcp.provider import McpProvider

    provider = McpProvider(servers, registry, settings.workspace_path(), settings.state_path(),
                           settings.mcp.listing_ttl)
    provider.load()
    return provider


def default_registry(settings: Settings) -> Registry:
    """Built-ins, ``@tool`` functions, installed packages' tools, configured modules and manifests."""
    registry = Registry(
        builtin_specs(), search_mode=settings.search.mode, semantic_weight=settings.search.semantic_weight
    )
    follow_decorated(registry.register)
    if settings.tools.entry_points:
        load_entry_points(registry)
    for module in settings.tools.modules:
        try:
            load_module(registry, module)
        except ImportError as exc:
            raise DiagnosticError(
                [
                    Diagnostic(
                        message=f"cannot import tools module {module!r}: {exc}",
                        hint="check tools.modules in toolnexus.toml",
                    )
                ]
            ) from None
    for folder in settings.tools.paths:
        path = Path(folder)
        load_manifests(registry, path if path.is_absolute() else settings.workspace_path() / path)
    return registry


def run_sync(make: Callable[[], Any]) -> Any:
    """Run a coroutine to completion from sync code, even where an event loop is already running
    in this thread (Jupyter): then it runs on a fresh loop in a helper thread."""
    try:
        import asyncio

        asyncio.get_running_loop()
    except RuntimeError:
        try:
            return anyio.run(make)
        finally:
            flush_all()  # records timed on the loop that just ended (a call's, its decisions') are written now
    box: dict[str, Any] = {}
    # The helper thread calls for the same caller, in the same call (not the whole context: that of the running
    # loop would make anyio think a loop runs in the helper thread too).
    identity = current_identity()

    def target() -> None:
        if identity is not None:
            use_identity(*identity)
        try:
            box["value"] = anyio.run(make)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="toolnexus-run")
    thread.start()
    thread.join()
    flush_all()  # as above: the helper thread's loop has ended
    if "error" in box:
        raise box["error"]
    return box["value"]


_default: Nexus | None = None
_default_lock = threading.Lock()


def default_nexus() -> Nexus:
    """The Nexus of the current directory, created on first use."""
    global _default
    with _default_lock:
        if _default is None or _default.workspace != Path.cwd().resolve():
            if _default is not None:
                _default.close()
            _default = Nexus()
        return _default


class DefaultApprovals:
    """``tn.approvals``: the approvals of the current directory's workspace (``list``, ``show``, ``approve``,
    ``deny``), decided as the OS user through the ``python`` channel.

    See :class:`~toolnexus.governance.approvals.Approvals`.
    """

    def __getattr__(self, name: str) -> Any:
        approvals = default_nexus().approvals
        if approvals is None:
            raise AttributeError("the default workspace has no state store, so no approvals")
        return getattr(approvals, name)

    def __dir__(self) -> list[str]:
        return [name for name in dir(Approvals) if not name.startswith("_")]


approvals = DefaultApprovals()


class DefaultKills:
    """``tn.kills``: the kill switches of the current directory's workspace (``kill``, ``unkill``, ``active``).

    See :class:`~toolnexus.governance.kills.KillSwitches`.
    """

    def __getattr__(self, name: str) -> Any:
        kills = default_nexus().kills
        if kills is None:
            raise AttributeError("the default workspace has no state store, so no kill switches")
        return getattr(kills, name)

    def __dir__(self) -> list[str]:
        return [name for name in dir(KillSwitches) if not name.startswith("_")]


kills = DefaultKills()


def compile(mission: MissionLike) -> Plan:
    """Compile a mission (path, YAML text or LoadedMission) into a Plan."""
    return default_nexus().compile(mission)


def run(mission: MissionLike, inputs: dict[str, Any] | None = None, **kwargs: Any) -> RunResult:
    """Run a mission synchronously and return its RunResult."""
    return default_nexus().run(mission, inputs, **kwargs)


async def arun(mission: MissionLike, inputs: dict[str, Any] | None = None, **kwargs: Any) -> RunResult:
    """Run a mission; cancel the awaiting task to cancel the run."""
    return await default_nexus().arun(mission, inputs, **kwargs)


def call(name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> ToolResult:
    """Call one tool synchronously; the result's ``error`` says what went wrong, if anything."""
    return default_nexus().call(name, arguments, **kwargs)


def compare_runs(*run_ids: str) -> Any:
    """Compare runs (toolnexus or MLflow run ids) from MLflow; returns a pandas DataFrame."""
    return default_nexus().compare(*run_ids)


async def acall(name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> ToolResult:
    """Call one tool; cancellable."""
    return await default_nexus().acall(name, arguments, **kwargs)
