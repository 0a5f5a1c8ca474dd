"""Runtime latency: per-call time of a no-op tool on every toolnexus runtime, cold and warm, beside a peer.

Times ``runtime.invoke`` directly: no engine, gate or tracking (benchmarks/engine_overhead.py measures
those). What is timed:

- a no-op tool on each backend: in-process (an async no-op); process (cold: the first call on a fresh
  runtime, worker start included; warm); wasm (a WASI module that does nothing — cold: compiled and
  cached to disk; cached: a fresh runtime loading the compiled module from the disk cache; warm:
  in memory); docker (cold: a fresh runtime's first call, so a fresh container; no pool: a runtime with
  ``warm=False``, a container created and removed per call; spare: a runtime with ``warm=False,
  spare=True``, whose call takes a fresh container started ahead of need; warm: the warm worker
  container). The docker no-op is the command tool ``true``, run by the container's worker;
- the floors, each interleaved with the measure it bounds (ours, floor, ours, floor, …) and the ratio
  printed: for wasm, wasmtime-py by hand on the calling thread (a fresh store instantiating the module,
  deserialised from disk or held in memory, and its ``_start`` called); for a cold docker call, the
  Docker SDK running ``true`` in a new container of the same image with ``--network none`` (create
  and start, the least a call on a new container pays; and create, start, wait for the exit, which is
  ``docker run``; the removal untimed, as our runtime's is);
- the same trivial snippet, ``print(1 + 1)``, through ``python.exec`` in the process runtime, in wasm
  CPython (warm, and a fresh runtime loading it from the disk cache) and in docker (warm);
- the peer: ``llm-sandbox``'s Docker backend running the snippet in a session (cold: opening a
  session; warm: ``session.run``), pointed at the locally built image (never pulled); and the plain
  Docker SDK ``container.exec_run(["python3", "-c", snippet])`` on a running container, which is
  what exec-based sandboxes do per call.

    bash benchmarks/setup.sh && benchmarks/.venv/bin/python benchmarks/runtime_latency.py

Parts that cannot run here (no Docker engine, no wasmtime, no wasm CPython, no ``llm-sandbox``) are
skipped with a message, so ``python benchmarks/runtime_latency.py --quick`` works with any Python
that has toolnexus.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import inspect
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the process runtime's workers import `bench_tools:noop` from here
    sys.path.insert(0, str(HERE))

from engine_overhead import percentile, print_table  # noqa: E402 - needs HERE on sys.path

PARTS = ("inprocess", "process", "wasm", "docker", "llm-sandbox", "exec_run")
SNIPPET = "print(1 + 1)"
SNIPPET_STDOUT = "2\n"
WARMUP = 3
# What the snippet needs in the image for llm-sandbox, which runs `python <file>`: the image has python3
# only. Done once per session, as part of opening it (llm-sandbox's own environment setup would create
# a virtualenv and upgrade pip, which needs a network).
PYTHON_LINK = "ln -sf /usr/bin/python3 /usr/local/bin/python"
# Peer containers get the same limits as ours where it matters to latency: no network, 512 MiB, an init.
PEER_CONFIG: dict[str, Any] = {
    "command": ["sleep", "infinity"],
    "init": True,  # so that stopping the container does not wait 10 s for `sleep` to ignore SIGTERM
    "network_mode": "none",
    "mem_limit": "512m",
    "labels": {"toolnexus.benchmark": "runtime_latency"},
}
NOOP_WAT = '(module (memory (export "memory") 1) (func (export "_start")))\n'

TARGET_PROCESS_WARM_MS = 5.0
TARGET_WASM_CACHED_MS = 1.0  # issue 19 (was 5 ms)
TARGET_DOCKER_WARM_MS = 60.0
TARGET_DOCKER_COLD_MS = 120.0  # issue 19 (was 1 s)


@dataclass
class Series:
    """Per-call wall times (seconds) of one measure, and their CPU times (this process, all threads) when taken."""

    key: str
    label: str
    seconds: list[float]
    target_ms: float | None = None
    cpu: list[float] | None = None
    floor: str | None = None  # the key of the floor measure it was interleaved with

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.seconds, 0.95) * 1000


class Skip(Exception):
    """A part that cannot run here; the message says why and what to do."""


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check(outcome: Any, what: str, output: Any = None) -> None:
    if outcome.error is not None:
        raise RuntimeError(f"{what} failed: {outcome.error.kind}: {outcome.error.message}")
    if outcome.output != output:
        raise RuntimeError(f"{what} returned {outcome.output!r}, expected {output!r}")


async def warm_series(call: Callable[[], Awaitable[Any]], calls: int) -> list[float]:
    """``calls`` timed calls after a few untimed ones."""
    for _ in range(WARMUP):
        await call()
    gc.collect()
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        durations.append(time.perf_counter() - started)
    return durations


Sample = tuple[float, float]  # wall seconds, CPU seconds


async def timed_sample(call: Callable[[], Awaitable[Any]]) -> Sample:
    """Wall and CPU time (this process, every thread) of one awaited call."""
    cpu, started = time.process_time(), time.perf_counter()
    await call()
    return time.perf_counter() - started, time.process_time() - cpu


async def interleaved(
    samplers: list[Callable[[], Awaitable[Sample]]], calls: int
) -> list[tuple[list[float], list[float]]]:
    """``calls`` samples of each sampler, taken in turn (ours, floor, ours, floor, …) so that load on the
    machine hits them alike; per sampler, its wall and its CPU times."""
    walls: list[list[float]] = [[] for _ in samplers]
    cpus: list[list[float]] = [[] for _ in samplers]
    for _ in range(calls):
        for i, sampler in enumerate(samplers):
            gc.collect()
            wall, cpu = await sampler()
            walls[i].append(wall)
            cpus[i].append(cpu)
    return list(zip(walls, cpus, strict=True))


async def cold_series(fresh: Callable[[], Awaitable[float]], calls: int) -> list[float]:
    """``calls`` samples of ``fresh``, which sets up what it needs, times the part that counts and cleans up."""
    durations = []
    for _ in range(calls):
        gc.collect()
        durations.append(await fresh())
    return durations


# -- toolnexus ---------------------------------------------------------------------------------------


class Toolnexus:
    """The runtimes, each measured against the same no-op (and ``python.exec`` snippet)."""

    def __init__(self, workspace: Path, calls: int, cold_calls: int, image: str) -> None:
        import bench_tools

        from toolnexus.builtins.pyexec import exec_python
        from toolnexus.core.call import ToolCall
        from toolnexus.core.context import ToolContext
        from toolnexus.core.spec import Limits, ToolEntry, ToolSpec
        from toolnexus.registry import spec_of

        self.workspace = workspace
        self.calls = calls
        self.cold_calls = cold_calls
        self.image = image
        self.context = ToolContext(workspace=str(workspace))
        self.limits = Limits()
        noop = spec_of(bench_tools.noop)
        pyexec = spec_of(exec_python)
        assert noop is not None and pyexec is not None
        self.noop = noop
        self.pyexec = pyexec
        self.noop_call = ToolCall(tool=noop.name)
        self.snippet_call = ToolCall(tool=pyexec.name, arguments={"code": SNIPPET, "inputs": {}})
        module = workspace / "noop.wat"
        module.write_text(NOOP_WAT)
        self.wasm_noop = ToolSpec(name="bench.wasm_noop", runtime="wasm",
                                  entry=ToolEntry(kind="wasm", module=str(module)))
        self.docker_noop = ToolSpec(name="bench.true", runtime="docker", entry=ToolEntry(kind="command", argv=["true"]))
        self.wasm_noop_call = ToolCall(tool=self.wasm_noop.name)
        self.docker_noop_call = ToolCall(tool=self.docker_noop.name)

    async def _invoke(self, runtime: Any, spec: Any, call: Any, what: str, output: Any = None) -> None:
        check(await runtime.invoke(spec, call, self.limits), what, output)

    async def inprocess(self) -> list[Series]:
        from toolnexus.sandbox.inprocess import InProcessRuntime

        runtime = InProcessRuntime(self.context)
        warm = await warm_series(lambda: self._invoke(runtime, self.noop, self.noop_call, "in-process no-op"),
                                 self.calls)
        return [Series("inprocess.warm", "in-process no-op", warm)]

    async def process(self) -> list[Series]:
        from toolnexus.sandbox.process import ProcessRuntime

        async def fresh() -> float:
            runtime = ProcessRuntime(self.context)
            try:
                started = time.perf_counter()
                await self._invoke(runtime, self.noop, self.noop_call, "process no-op (cold)")
                return time.perf_counter() - started
            finally:
                await runtime.aclose()

        cold = await cold_series(fresh, self.cold_calls)
        runtime = ProcessRuntime(self.context)
        try:
            warm = await warm_series(lambda: self._invoke(runtime, self.noop, self.noop_call, "process no-op"),
                                     self.calls)
            snippet = await warm_series(lambda: self._invoke(runtime, self.pyexec, self.snippet_call,
                                                             "process python.exec", _snippet_output()), self.calls)
        finally:
            await runtime.aclose()
        return [
            Series("process.cold", "process no-op, cold (fresh runtime: worker start + call)", cold),
            Series("process.warm", "process no-op, warm worker", warm, TARGET_PROCESS_WARM_MS),
            Series("process.pyexec", "process python.exec snippet, warm worker", snippet),
        ]

    async def wasm(self) -> list[Series]:
        if not available("wasmtime"):
            raise Skip("wasmtime is not installed (pip install 'toolnexus[wasm]')")
        from toolnexus.sandbox import wasm_python
        from toolnexus.sandbox.wasm import WasmRuntime, default_cache_dir

        async def compiled() -> float:
            cache = Path(tempfile.mkdtemp(dir=self.workspace, prefix="wasm-cold-"))  # empty: nothing cached
            runtime = WasmRuntime(self.context, cache_dir=cache)
            try:
                started = time.perf_counter()
                await self._invoke(runtime, self.wasm_noop, self.wasm_noop_call, "wasm no-op (compile)")
                elapsed = time.perf_counter() - started
                assert runtime.modules.stats.compiled == 1
                return elapsed
            finally:
                runtime.close()
                shutil.rmtree(cache, ignore_errors=True)

        def from_disk(cache: Path, spec: Any, call: Any, what: str, output: Any) -> Callable[[], Awaitable[float]]:
            async def fresh() -> float:
                runtime = WasmRuntime(self.context, cache_dir=cache)
                try:
                    started = time.perf_counter()
                    await self._invoke(runtime, spec, call, what, output)
                    elapsed = time.perf_counter() - started
                    if runtime.modules.stats.loaded != 1:
                        raise RuntimeError(f"{what}: the module did not come from the disk cache "
                                           f"({runtime.modules.stats})")
                    return elapsed
                finally:
                    runtime.close()
            return fresh

        cold = await cold_series(compiled, self.cold_calls)
        cache = self.workspace / "wasm-cache"
        floor = BareWasmtime(self.workspace / "noop.wat", self.workspace / "floor.cwasm")
        runtime = WasmRuntime(self.context, cache_dir=cache)  # compiles the module into `cache` (warm-up)
        try:
            async def warm_call() -> Sample:
                return await timed_sample(lambda: self._invoke(runtime, self.wasm_noop, self.wasm_noop_call,
                                                               "wasm no-op"))

            for _ in range(WARMUP):
                await warm_call()
                floor.in_memory()
            (warm, warm_cpu), (bare_warm, bare_warm_cpu) = await interleaved(
                [warm_call, floor.timed(floor.in_memory)], self.calls)
        finally:
            runtime.close()
        cached_fresh = from_disk(cache, self.wasm_noop, self.wasm_noop_call, "wasm no-op (cached)", None)

        async def cached_call() -> Sample:
            cpu = time.process_time()
            wall = await cached_fresh()
            return wall, time.process_time() - cpu  # the CPU time includes the runtime's construction

        (cached, cached_cpu), (bare_disk, bare_disk_cpu) = await interleaved(
            [cached_call, floor.timed(floor.from_disk)], self.cold_calls)
        floor.close()
        series = [
            Series("wasm.cold", "wasm no-op, cold (fresh runtime: compile, cache to disk, call)", cold),
            Series("wasm.cached", "wasm no-op, cached module (fresh runtime: load from disk, call)", cached,
                   TARGET_WASM_CACHED_MS, cached_cpu, floor="wasm.bare.disk"),
            Series("wasm.bare.disk", "  floor: bare wasmtime-py, deserialize from disk + instantiate + call",
                   bare_disk, cpu=bare_disk_cpu),
            Series("wasm.warm", "wasm no-op, warm (module in memory)", warm, TARGET_WASM_CACHED_MS, warm_cpu,
                   floor="wasm.bare.memory"),
            Series("wasm.bare.memory", "  floor: bare wasmtime-py, instantiate + call (module in memory)",
                   bare_warm, cpu=bare_warm_cpu),
        ]

        try:
            wasm_python.python_wasm_path()
        except wasm_python.PythonWasmUnavailable as exc:
            print(f"  skipping python.exec in wasm: {exc}")
            return series
        # The interpreter's compiled module lives in the user's cache, as in real use: compiled once per machine.
        user_cache = default_cache_dir()
        runtime = WasmRuntime(self.context, cache_dir=user_cache)
        try:
            if runtime.modules.stats.compiled == 0 and not any(user_cache.glob(f"{wasm_python.PYTHON_WASM_SHA256}-*")):
                print(f"  compiling the wasm CPython once into {user_cache} (tens of seconds) …", flush=True)
            snippet = await warm_series(lambda: self._invoke(runtime, self.pyexec, self.snippet_call,
                                                             "wasm python.exec", _snippet_output()), self.calls)
        finally:
            runtime.close()
        snippet_cached = await cold_series(from_disk(user_cache, self.pyexec, self.snippet_call,
                                                     "wasm python.exec (cached)", _snippet_output()), self.cold_calls)
        return [
            *series,
            Series("wasm.pyexec.cached", "wasm python.exec snippet, fresh runtime (CPython from disk cache)",
                   snippet_cached),
            Series("wasm.pyexec", "wasm python.exec snippet, warm (CPython in memory)", snippet),
        ]

    async def docker(self) -> list[Series]:
        import anyio

        from toolnexus.sandbox.docker import DockerRuntime

        client = docker_client(self.image)

        async def fresh() -> Sample:
            runtime = DockerRuntime(self.context, image=self.image, client=client)
            try:
                return await timed_sample(lambda: self._invoke(runtime, self.docker_noop, self.docker_noop_call,
                                                               "docker no-op (cold)"))
            finally:
                await runtime.aclose()

        async def bare_run() -> Sample:
            return await anyio.to_thread.run_sync(lambda: bare_docker_run(client, self.image))

        async def bare_start() -> Sample:
            return await anyio.to_thread.run_sync(lambda: bare_docker_run(client, self.image, wait=False))

        if "spare" not in inspect.signature(DockerRuntime).parameters:  # a toolnexus from before the spare
            print("  this toolnexus has no spare containers: skipping that measure")
            spared = None
        else:
            spared = DockerRuntime(self.context, image=self.image, client=client, warm=False, spare=True)

        async def from_spare() -> Sample:
            assert spared is not None
            # Untimed: the spare started after the previous call is up and that call's container removed (as
            # they are when calls are not back to back).
            if not await anyio.to_thread.run_sync(spared.pool.settle, 60):
                raise RuntimeError("the docker runtime's spare container did not start within 60 s")
            return await timed_sample(lambda: self._invoke(spared, self.docker_noop, self.docker_noop_call,
                                                           "docker no-op (spare)"))

        samplers = [fresh, bare_start, bare_run] + ([from_spare] if spared is not None else [])
        try:
            if spared is not None:
                await from_spare()  # the first call starts its own container, and the first spare
            (cold, cold_cpu), (start, start_cpu), (floor, floor_cpu), *spare_samples = await interleaved(
                samplers, self.cold_calls)
        finally:
            if spared is not None:
                await spared.aclose()
        unpooled = DockerRuntime(self.context, image=self.image, client=client, warm=False)
        try:
            no_pool = await cold_series(lambda: _timed(self._invoke(unpooled, self.docker_noop, self.docker_noop_call,
                                                                    "docker no-op (no pool)")), self.cold_calls)
        finally:
            await unpooled.aclose()
        runtime = DockerRuntime(self.context, image=self.image, client=client)
        try:
            warm = await warm_series(lambda: self._invoke(runtime, self.docker_noop, self.docker_noop_call,
                                                          "docker no-op"), self.calls)
            snippet = await warm_series(lambda: self._invoke(runtime, self.pyexec, self.snippet_call,
                                                             "docker python.exec", _snippet_output()), self.calls)
        finally:
            await runtime.aclose()
        spare_series = [
            Series("docker.spare", "docker no-op, warm=False, spare=True (a fresh container started ahead)", spare,
                   TARGET_DOCKER_COLD_MS, spare_cpu, floor="docker.bare")
            for spare, spare_cpu in spare_samples
        ]
        return [
            Series("docker.cold", "docker no-op, cold (fresh runtime: new container + call)", cold,
                   TARGET_DOCKER_COLD_MS, cold_cpu, floor="docker.bare.start"),
            Series("docker.bare.start", "  floor: docker SDK create + start, `true`, --network none", start,
                   cpu=start_cpu),
            Series("docker.bare", "  floor: docker SDK create + start + wait (docker run), same", floor,
                   cpu=floor_cpu),
            *spare_series,
            Series("docker.nopool", "docker no-op, warm=False (create, call, remove)", no_pool),
            Series("docker.warm", "docker no-op, warm worker container", warm, TARGET_DOCKER_WARM_MS),
            Series("docker.pyexec", "docker python.exec snippet, warm worker container", snippet,
                   TARGET_DOCKER_WARM_MS),
        ]


class BareWasmtime:
    """The floor of a wasm call: wasmtime-py by hand, on the calling thread, with none of our runtime's
    work (no worker thread, no epoch deadline, no output files, no stdin, no memory cap). A default
    engine; the module compiled once and serialised to ``cwasm``; one linker with WASI, kept."""

    def __init__(self, source: Path, cwasm: Path) -> None:
        import wasmtime

        self.wasmtime = wasmtime
        self.engine = wasmtime.Engine()
        self.module = wasmtime.Module(self.engine, source.read_text())
        cwasm.write_bytes(self.module.serialize())
        self.cwasm = str(cwasm)
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()

    def _call(self, module: Any) -> None:
        store = self.wasmtime.Store(self.engine)
        store.set_wasi(self.wasmtime.WasiConfig())
        self.linker.instantiate(store, module).exports(store)["_start"](store)

    def in_memory(self) -> None:
        """Instantiate the module held in memory in a fresh store, and call its ``_start``."""
        self._call(self.module)

    def from_disk(self) -> None:
        """Deserialise the compiled module from disk, then as :meth:`in_memory`."""
        self._call(self.wasmtime.Module.deserialize_file(self.engine, self.cwasm))

    @staticmethod
    def timed(call: Callable[[], None]) -> Callable[[], Awaitable[Sample]]:
        async def sample() -> Sample:
            cpu, started = time.process_time(), time.perf_counter()
            call()
            return time.perf_counter() - started, time.process_time() - cpu
        return sample

    def close(self) -> None:
        self.module = None  # wasmtime objects are freed while the library is loaded


def _snippet_output() -> dict[str, Any]:
    return {"result": None, "stdout": SNIPPET_STDOUT}


async def _timed(call: Awaitable[Any]) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


def bare_docker_run(client: Any, image: str, *, wait: bool = True) -> Sample:
    """A floor of a cold docker call: ``docker run --network none <image> true`` through the SDK's
    low-level API — create, start and (``wait``) wait for the exit, timed; then remove, untimed (as our
    runtime's container removal, which happens after the call returns). Without ``wait``, the least any
    call on a new container pays: create and start."""
    api = client.api
    cpu, started = time.process_time(), time.perf_counter()
    created = api.create_container(image, ["true"], labels=dict(PEER_CONFIG["labels"]),
                                   host_config=api.create_host_config(network_mode="none"))
    try:
        api.start(created["Id"])
        status = api.wait(created["Id"])["StatusCode"] if wait else 0
        sample = time.perf_counter() - started, time.process_time() - cpu
    finally:
        api.remove_container(created["Id"], force=True)
    if status != 0:
        raise RuntimeError(f"`true` exited with {status} in {image}")
    return sample


def docker_client(image: str) -> Any:
    """A client of the local engine, once the image is known to be there (nothing is ever pulled)."""
    if not available("docker"):
        raise Skip("the docker SDK is not installed (pip install 'toolnexus[docker]')")
    import docker

    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        raise Skip(f"the Docker engine is not reachable ({exc}); start dockerd") from None
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise Skip(f"image {image!r} is not in the local engine: build it with "
                   "`toolnexus sandbox build-image`") from None
    return client


# -- peers -------------------------------------------------------------------------------------------


def sync_warm_series(call: Callable[[], None], calls: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    gc.collect()
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


class LlmSandbox:
    """llm-sandbox's Docker backend: a session is a container; ``run`` copies the code in and runs it.

    Its defaults create a virtualenv and upgrade pip on open, which needs a network; the image is
    pre-configured instead (``skip_environment_setup``), and opening a session adds the one command the
    image lacks for it (``python``). The image is local: llm-sandbox uses it as is and, since it did not
    pull or build it, never removes it.
    """

    def __init__(self, client: Any, image: str) -> None:
        from llm_sandbox import SandboxBackend, SandboxSession

        self.client = client
        self.image = image
        self._new = lambda: SandboxSession(
            backend=SandboxBackend.DOCKER, lang="python", client=client, image=image,
            keep_template=True, commit_container=False, skip_environment_setup=True, verbose=False,
            runtime_configs={**PEER_CONFIG, "labels": dict(PEER_CONFIG["labels"])},
        )

    def open(self) -> Any:
        session = self._new()
        try:
            session.open()
            if session.is_create_template:  # it pulled or built an image: not what we measure
                raise RuntimeError(f"llm-sandbox did not use the local image {self.image!r}")
            linked = session.execute_command(PYTHON_LINK)
            if linked.exit_code:
                raise RuntimeError(f"llm-sandbox session setup failed: {linked.stderr or linked.stdout}")
        except BaseException:
            with contextlib.suppress(Exception):
                session.close()
            raise
        return session

    @staticmethod
    def run(session: Any) -> None:
        output = session.run(SNIPPET)
        if output.exit_code or output.stdout != SNIPPET_STDOUT:
            raise RuntimeError(f"llm-sandbox run gave exit {output.exit_code}: {output.stdout!r} {output.stderr!r}")

    def measure(self, calls: int, cold_calls: int) -> list[Series]:
        opened, first = [], []
        for _ in range(cold_calls):
            gc.collect()
            started = time.perf_counter()
            session = self.open()
            try:
                opened.append(time.perf_counter() - started)
                self.run(session)
                first.append(time.perf_counter() - started)
            finally:
                session.close()
        with contextlib.closing(self.open()) as session:
            warm = sync_warm_series(lambda: self.run(session), calls)
        return [
            Series("llm-sandbox.open", "llm-sandbox: open a session (new container)", opened),
            Series("llm-sandbox.cold", "llm-sandbox: open a session + first run", first),
            Series("llm-sandbox.warm", "llm-sandbox: session.run(snippet), open session", warm),
        ]


class ExecRun:
    """The plain Docker SDK: one running container, ``exec_run(["python3", "-c", snippet])`` per call."""

    def __init__(self, client: Any, image: str) -> None:
        self.client = client
        self.image = image

    def start(self) -> Any:
        return self.client.containers.run(self.image, detach=True, user="root", **PEER_CONFIG)

    def run(self, container: Any) -> None:
        result = container.exec_run(["python3", "-c", SNIPPET])
        if result.exit_code or result.output != SNIPPET_STDOUT.encode():
            raise RuntimeError(f"exec_run gave exit {result.exit_code}: {result.output!r}")

    def measure(self, calls: int, cold_calls: int) -> list[Series]:
        first = []
        for _ in range(cold_calls):
            gc.collect()
            started = time.perf_counter()
            container = self.start()
            try:
                self.run(container)
                first.append(time.perf_counter() - started)
            finally:
                container.remove(force=True)
        container = self.start()
        try:
            warm = sync_warm_series(lambda: self.run(container), calls)
        finally:
            container.remove(force=True)
        return [
            Series("exec_run.cold", "docker SDK: run a container + first exec_run", first),
            Series("exec_run.warm", "docker SDK: exec_run(python3 -c snippet), running container", warm),
        ]


@contextlib.contextmanager
def peer_containers_removed(client: Any) -> Iterator[None]:
    """Whatever happens, leave none of the peers' containers behind."""
    try:
        yield
    finally:
        for container in client.containers.list(all=True, filters={"label": "toolnexus.benchmark=runtime_latency"}):
            with contextlib.suppress(Exception):
                container.remove(force=True)


# -- report ------------------------------------------------------------------------------------------

# Our measure -> the peer measure it is compared with: like for like (a first call on a fresh container,
# the snippet in a warm container; the no-op against the peer's snippet, as the floor of ours).
COMPARE = {
    "docker.cold": ("llm-sandbox.cold", "exec_run.cold"),
    "docker.warm": ("llm-sandbox.warm", "exec_run.warm"),
    "docker.pyexec": ("llm-sandbox.warm", "exec_run.warm"),
}


def fmt_ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def fmt_ratio(peer: Series | None, ours: Series) -> str:
    if peer is None:
        return ""
    r = peer.median_ms / ours.median_ms
    return f"{r:.1f}×" if r < 10 else f"{r:.0f}×"


def fmt_floor(floor: Series | None, ours: Series) -> str:
    """Ours over the floor it was interleaved with: median and min (1×: no overhead over the floor)."""
    if floor is None:
        return ""
    return f"{ours.median_ms / floor.median_ms:.2f}× / {ours.min_ms / floor.min_ms:.2f}×"


def report(series: list[Series]) -> list[str]:
    by_key = {s.key: s for s in series}
    headers = ["measure", "calls", "median ms", "min ms", "p95 ms", "CPU ms", "target (median)", "",
               "this ÷ floor (median / min)", "llm-sandbox ÷ this", "exec_run ÷ this"]
    rows, misses = [], []
    for s in series:
        target, verdict = "", ""
        if s.target_ms is not None:
            target = f"≤ {s.target_ms:g} ms"
            ok = s.median_ms <= s.target_ms
            verdict = "ok" if ok else "MISSED"
            if not ok:
                misses.append(s.label)
        llm, raw = COMPARE.get(s.key, (None, None))
        cpu = fmt_ms(statistics.median(s.cpu) * 1000) if s.cpu else ""
        rows.append([s.label, str(len(s.seconds)), fmt_ms(s.median_ms), fmt_ms(s.min_ms), fmt_ms(s.p95_ms), cpu,
                     target, verdict, fmt_floor(by_key.get(s.floor or ""), s),
                     fmt_ratio(by_key.get(llm or ""), s), fmt_ratio(by_key.get(raw or ""), s)])
    print_table(headers, rows)
    return misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=None, help="timed calls per warm measure (default 50; "
                        "20 with --quick); median and p95 over these, after 3 untimed warm-up calls")
    parser.add_argument("--cold-calls", type=int, default=None, help="samples per cold measure, each on a fresh "
                        "runtime, container or session (default: --calls; 5 with --quick)")
    parser.add_argument("--only", default=None, help=f"comma-separated parts to run, of {', '.join(PARTS)} "
                        "(default: all that can run here)")
    parser.add_argument("--image", default=None, help="the local image for docker and the peers "
                        "(default: toolnexus/python:3.11, built by `toolnexus sandbox build-image`)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 warm calls, 5 cold samples")
    args = parser.parse_args(argv)

    calls = args.calls or (20 if args.quick else 50)
    cold_calls = args.cold_calls or (5 if args.quick else calls)
    if min(calls, cold_calls) < 1:
        parser.error("--calls and --cold-calls must be at least 1")
    parts = [p.strip() for p in (args.only or ",".join(PARTS)).split(",") if p.strip()]
    for part in parts:
        if part not in PARTS:
            parser.error(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
    if not available("toolnexus"):
        print("toolnexus is not installed in this Python", file=sys.stderr)
        return 2
    from toolnexus.sandbox.images import DEFAULT_IMAGE

    image = args.image or DEFAULT_IMAGE

    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {calls} timed warm calls per measure "
          f"(after {WARMUP} untimed), {cold_calls} cold samples; image {image}; snippet {SNIPPET!r}")
    if min(calls, cold_calls) < 50:
        print("  note: fewer than 50 samples: the p95 figures are rough")
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    import anyio

    series: list[Series] = []
    with tempfile.TemporaryDirectory(prefix="toolnexus-latency-") as tmp:
        bench = Toolnexus(Path(tmp), calls, cold_calls, image)
        for part in ("inprocess", "process", "wasm", "docker"):
            if part not in parts:
                continue
            print(f"  toolnexus {part} …", flush=True)
            try:
                series += anyio.run(getattr(bench, part))
            except Skip as skip:
                print(f"  skipping toolnexus {part}: {skip}")

    peers = [p for p in ("llm-sandbox", "exec_run") if p in parts]
    if peers:
        try:
            client = docker_client(image)
        except Skip as skip:
            print(f"  skipping the peers ({', '.join(peers)}): {skip}")
            peers = []
    if "llm-sandbox" in peers and not available("llm_sandbox"):
        print(f"  skipping llm-sandbox: it is not installed in {sys.executable} "
              "(run `bash benchmarks/setup.sh` and use benchmarks/.venv/bin/python)")
        peers.remove("llm-sandbox")
    for peer in peers:
        print(f"  peer {peer} …", flush=True)
        with peer_containers_removed(client):
            measured = LlmSandbox(client, image) if peer == "llm-sandbox" else ExecRun(client, image)
            series += measured.measure(calls, cold_calls)

    print()
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f} — other work on the machine skews "
          "the figures".format(*os.getloadavg()))
    print()
    if not series:
        print("nothing was measured")
        return 1
    print("Per-call latency (runtime.invoke, or the peer's call), ms")
    misses = report(series)
    print("  CPU ms: median CPU time of this process (all threads) per sample; the engine's and containers'\n"
          "  are not in it.\n"
          "  this ÷ floor: ours over the floor measure it was interleaved with (ours, floor, ours, floor, …).\n"
          "  ÷ columns: the peer's median over ours (> 1×: ours is faster). Compared: docker cold with the peer's\n"
          "  fresh container + first run; docker warm rows with the peer's warm snippet call.\n"
          "  llm-sandbox per run: a host temp file, `mkdir -p` via exec_run, put_archive, exec_run `python <file>`;\n"
          "  its session open: create + start a container, plus one `ln -s` for `python` (the image has python3).\n"
          "  Peer containers: no network, 512 MiB, an init, root (llm-sandbox's default); ours are hardened.")
    if misses:
        print(f"\nmissed targets: {'; '.join(misses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
