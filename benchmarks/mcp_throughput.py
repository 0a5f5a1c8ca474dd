"""MCP throughput: ``tools/call`` of a no-op tool through toolnexus's Jupyter endpoint and a plain SDK server.

Two servers, each its own process, measured side by side in one run by the same client:

- **toolnexus**: a real ``jupyter server`` with the toolnexus extension (enabled by its installed
  config), token authentication (``Authorization: token …``), serving a temporary workspace whose
  ``toolnexus.toml`` loads the no-op tool ``bench.noop`` (``benchmarks/bench_tools.py``). Every call
  takes toolnexus's one execution path: the Nexus invoker (argument validation, governance gate,
  in-process runtime, events), with the workspace's state store recording each call as it does by
  default. MLflow tracking is off unless ``--tracking`` (then every call is also recorded in a local
  MLflow store);
- **plain SDK**: ``mcp.server.mcpserver.MCPServer`` with the same function as its tool, its
  ``streamable_http_app()`` (defaults: stateful sessions, SSE responses) under uvicorn.

``--only plain,toolnexus,toolnexus-asgi`` adds a diagnostic third server: toolnexus's own MCP server
(``ToolServer`` on the same Nexus path) under uvicorn, without Jupyter — the difference between it and
the Jupyter endpoint is what Jupyter (Tornado, its authentication, the ASGI bridge) costs.

The client is raw ``httpx``: each virtual client opens its own MCP session (``initialize`` and
``notifications/initialized`` at protocol 2025-11-25) on its own keep-alive connection, then POSTs
JSON-RPC ``tools/call`` requests with the ``Mcp-Session-Id`` header one after another, reading each
response (JSON or SSE) to the end and checking it is a successful result. Raw requests keep the
client's own cost small and identical for every server: on a 2-core machine the client competes with
the server for CPU.

For 1 and 8 concurrent clients it reports requests/s, p50/p95 latency and the server process's CPU
time per call (user + system, from the OS: unlike wall-clock figures, it hardly moves with what else
the machine runs), and the ratios to the plain SDK server, paired round by round (the median round's
requests/s ratio, and the best round's). Target (issue 19): the Jupyter endpoint within 1.1× of the plain SDK
server (requests/s and p50).

    python benchmarks/mcp_throughput.py            # 6 rounds of 3 s per measure
    python benchmarks/mcp_throughput.py --quick    # 1 round of 2 s
    python benchmarks/mcp_throughput.py --only plain,toolnexus,toolnexus-asgi
    python benchmarks/mcp_throughput.py --against /tmp/base   # + another tree's endpoint: before/after in one run
    python benchmarks/mcp_throughput.py --profile /tmp/prof   # each server under pyinstrument (PROFILER=yappi: yappi)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # bench_tools (the no-op tool) and engine_overhead's table helpers live here
    sys.path.insert(0, str(HERE))

from engine_overhead import percentile, print_table  # noqa: E402 - needs HERE on sys.path

PROTOCOL_VERSION = "2025-11-25"
TOOL = "bench.noop"
ENDPOINT_PATH = "toolnexus/mcp"
TARGET_RATIO = 1.1  # issue 19
STARTUP_TIMEOUT = 60.0
ACCEPT = "application/json, text/event-stream"
PLAIN_NAME = "plain SDK (uvicorn)"
JUPYTER_NAME = "toolnexus (jupyter-server)"
AGAINST_NAME = "toolnexus (jupyter-server) [against]"
ASGI_NAME = "toolnexus ToolServer (uvicorn, no Jupyter)"


# -- servers -------------------------------------------------------------------------------------------


def serve_plain(port: int) -> None:
    """The peer: the SDK's own server with the same no-op function as its only tool, under uvicorn."""
    import uvicorn
    from bench_tools import noop
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("plain-sdk-benchmark", log_level="WARNING")
    server.add_tool(noop, name=TOOL, description="Do nothing.")
    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_toolnexus_asgi(port: int, workspace: Path) -> None:
    """Diagnostic: toolnexus's MCP server (ToolServer, the Nexus path) under uvicorn, without Jupyter."""
    import uvicorn

    from toolnexus.api import Nexus
    from toolnexus.mcp_server.server import ToolServer

    with Nexus(workspace) as nexus:
        server = ToolServer(nexus)
        try:
            uvicorn.run(server.http_app("/mcp"), host="127.0.0.1", port=port, log_level="warning", access_log=False)
        finally:
            server.close()


PROFILE_DIR: Path | None = None  # --profile: each server process runs under pyinstrument (profile_server.py)


def python_command(name: str, *args: str) -> list[str]:
    """``python ARGS`` for a server process; under ``--profile``, through the profiling wrapper."""
    if PROFILE_DIR is None:
        return [sys.executable, *args]
    return [sys.executable, str(HERE / "profile_server.py"), str(PROFILE_DIR / name), *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Endpoint:
    """A running server: where to POST and the headers every request carries."""

    name: str
    url: str
    headers: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def plain_server(scratch: Path) -> Iterator[Endpoint]:
    port = free_port()
    log = scratch / "plain.log"
    with log.open("wb") as out:
        process = subprocess.Popen(python_command("plain", str(Path(__file__).resolve()), "serve-plain", "--port",
                                                  str(port)), stdout=out, stderr=subprocess.STDOUT)
    with _stopping(process):
        yield Endpoint(PLAIN_NAME, f"http://127.0.0.1:{port}/mcp", {}, process, log)


def toolnexus_workspace(folder: Path, *, tracking: bool) -> Path:
    """A workspace whose registry has the no-op tool; MLflow tracking on or off."""
    folder.mkdir()
    (folder / "toolnexus.toml").write_text(
        '[tools]\nmodules = ["bench_tools"]\n\n'
        f"[tracking]\nenabled = {'true' if tracking else 'false'}\n"
    )
    return folder


def server_env(scratch: Path) -> dict[str, str]:
    # bench_tools is importable by the server; Jupyter's runtime files stay in the scratch folder; neither
    # the caller's TOOLNEXUS_ settings nor a user-level Jupyter config leak in.
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOOLNEXUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    env["JUPYTER_RUNTIME_DIR"] = str(scratch / "jupyter-runtime")
    env["JUPYTER_CONFIG_DIR"] = str(scratch / "jupyter-config")  # no user-level Jupyter config
    return env


@contextlib.contextmanager
def toolnexus_asgi_server(scratch: Path, *, tracking: bool) -> Iterator[Endpoint]:
    workspace = toolnexus_workspace(scratch / "asgi-workspace", tracking=tracking)
    port = free_port()
    log = scratch / "toolnexus-asgi.log"
    with log.open("wb") as out:
        process = subprocess.Popen(python_command("toolnexus-asgi", str(Path(__file__).resolve()),
                                                  "serve-toolnexus-asgi", "--port", str(port),
                                                  "--workspace", str(workspace)),
                                   cwd=workspace, env=server_env(scratch), stdout=out, stderr=subprocess.STDOUT)
    with _stopping(process):
        yield Endpoint(ASGI_NAME, f"http://127.0.0.1:{port}/mcp", {}, process, log)


@contextlib.contextmanager
def jupyter_server(scratch: Path, *, tracking: bool, against: Path | None = None) -> Iterator[Endpoint]:
    """The Jupyter endpoint; with ``against``, that source tree's toolnexus (first on the server's PYTHONPATH)."""
    name = "toolnexus-against" if against else "toolnexus"
    workspace = toolnexus_workspace(scratch / f"{name}-workspace", tracking=tracking)
    port = free_port()
    token = secrets.token_hex(16)
    env = server_env(scratch)
    if against is not None:
        env["PYTHONPATH"] = os.pathsep.join((str(against), env["PYTHONPATH"]))
    command = [
        *python_command(name, "-m", "jupyter_server"), "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace}",
        "--ServerApp.log_level=WARN", "--allow-root",
    ]
    log = scratch / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=workspace, env=env, stdout=out, stderr=subprocess.STDOUT)
    with _stopping(process):
        yield Endpoint(AGAINST_NAME if against else JUPYTER_NAME, f"http://127.0.0.1:{port}/{ENDPOINT_PATH}",
                       {"Authorization": f"token {token}"}, process, log)


@contextlib.contextmanager
def _stopping(process: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the client ----------------------------------------------------------------------------------------


class ProtocolError(RuntimeError):
    """A server answered something other than a successful JSON-RPC result."""


def read_message(response: Any, request_id: int) -> dict[str, Any]:
    """The JSON-RPC response to ``request_id`` in a JSON or SSE body."""
    if response.status_code >= 400:
        raise ProtocolError(f"HTTP {response.status_code}: {response.text[:300]}")
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("id") == request_id:
                    return _result(message)
        raise ProtocolError(f"no response to request {request_id} in the event stream: {response.text[:300]}")
    return _result(response.json())


def _result(message: dict[str, Any]) -> dict[str, Any]:
    if "error" in message:
        raise ProtocolError(f"JSON-RPC error: {message['error']}")
    result: dict[str, Any] = message["result"]
    if result.get("isError"):
        raise ProtocolError(f"tool error: {result.get('content')}")
    return result


class Session:
    """One MCP session on its own keep-alive connection."""

    def __init__(self, endpoint: Endpoint) -> None:
        import httpx

        self.url = endpoint.url
        self.client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=30.0)
        self.headers = {"Accept": ACCEPT, "Content-Type": "application/json", **endpoint.headers}
        self.next_id = 0

    async def open(self) -> None:
        reply = await self.request("initialize", {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "mcp-throughput-benchmark", "version": "1"},
        }, raw=True)
        session_id = reply.headers.get("mcp-session-id")
        result = read_message(reply, self.next_id)
        if session_id:
            self.headers["Mcp-Session-Id"] = session_id
        self.headers["MCP-Protocol-Version"] = result["protocolVersion"]
        notified = await self.client.post(self.url, headers=self.headers,
                                          content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        if notified.status_code >= 400:
            raise ProtocolError(f"notifications/initialized: HTTP {notified.status_code}: {notified.text[:300]}")

    async def request(self, method: str, params: dict[str, Any], *, raw: bool = False) -> Any:
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        reply = await self.client.post(self.url, headers=self.headers, content=body.encode())
        return reply if raw else read_message(reply, self.next_id)

    async def call_noop(self) -> None:
        await self.request("tools/call", {"name": TOOL, "arguments": {}})

    async def close(self) -> None:
        if "Mcp-Session-Id" in self.headers:
            with contextlib.suppress(Exception):  # ending the session is a courtesy; the server may refuse it
                await self.client.delete(self.url, headers=self.headers)
        await self.client.aclose()


async def wait_ready(endpoint: Endpoint) -> None:
    """Until the server completes a session handshake (its process must stay alive meanwhile)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if endpoint.process.poll() is not None:
            raise RuntimeError(f"{endpoint.name} exited ({endpoint.process.returncode}):\n"
                               f"{endpoint.log.read_text()[-3000:]}")
        session = Session(endpoint)
        try:
            await session.open()
            await session.call_noop()
            return
        except Exception as exc:  # any failure (refused connection, HTTP error) means "not yet"
            last = exc
        finally:
            await session.close()
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{endpoint.name} not ready after {STARTUP_TIMEOUT:.0f} s: {last}\n"
                       f"{endpoint.log.read_text()[-3000:]}")


@dataclass
class Measure:
    server: str
    clients: int
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    server_cpu: float = 0.0  # seconds of CPU the server process (and its children) spent in the timed part
    client_cpu: float = 0.0

    @property
    def server_cpu_per_call(self) -> float:
        return self.server_cpu / self.requests * 1000

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def latency(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far: the cost of a call however busy the
    machine is (wall-clock figures on a shared 2-core machine also measure everyone else)."""
    import psutil

    process = psutil.Process(pid)
    total = sum(process.cpu_times()[:2])
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


async def measure(endpoint: Endpoint, clients: int, seconds: float, warmup: int, into: Measure) -> None:
    """``clients`` sessions calling back to back for ``seconds``; adds one rate and every latency to ``into``."""
    sessions = [Session(endpoint) for _ in range(clients)]
    try:
        await asyncio.gather(*(s.open() for s in sessions))
        for _ in range(warmup):
            await asyncio.gather(*(s.call_noop() for s in sessions))
        latencies: list[float] = []
        server_cpu, client_cpu = cpu_seconds(endpoint.process.pid), time.process_time()
        stop_at = time.perf_counter() + seconds

        async def worker(session: Session) -> int:
            done = 0
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                await session.call_noop()
                latencies.append(time.perf_counter() - started)
                done += 1
            return done

        started = time.perf_counter()
        done = sum(await asyncio.gather(*(worker(s) for s in sessions)))
        elapsed = time.perf_counter() - started
        into.server_cpu += cpu_seconds(endpoint.process.pid) - server_cpu
        into.client_cpu += time.process_time() - client_cpu
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    into.rates.append(done / elapsed)
    into.latencies.extend(latencies)
    into.requests += done


# -- report ----------------------------------------------------------------------------------------------


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(measures: dict[tuple[str, int], Measure], names: list[str], levels: list[int]) -> bool:
    """Print the figures and the ratios; whether the Jupyter endpoint met the target."""
    rows = [[m.server, str(m.clients), str(m.requests), f"{m.rate:,.0f}", f"{m.latency(0.5):.2f}",
             f"{m.latency(0.95):.2f}", f"{m.server_cpu_per_call:.2f}", f"{m.client_cpu / m.requests * 1000:.2f}"]
            for m in measures.values()]
    print("\ntools/call of a no-op tool (median req/s over rounds; latency percentiles over all calls; "
          "CPU per call of the server process and of this client)")
    print_table(["server", "clients", "calls", "req/s", "p50 ms", "p95 ms", "server CPU ms/call",
                 "client CPU ms/call"], rows)
    if len(names) < 2 or names[0] != PLAIN_NAME:
        return True
    ok = True
    ratio_rows = []
    for ours in names[1:]:
        for clients in levels:
            p, t = measures[(PLAIN_NAME, clients)], measures[(ours, clients)]
            # Paired by round (the median of each round's ratio), not a ratio of medians.
            rounds = [pr / tr for pr, tr in zip(p.rates, t.rates, strict=True)]
            throughput = statistics.median(rounds)
            p50, p95 = t.latency(0.5) / p.latency(0.5), t.latency(0.95) / p.latency(0.95)
            cpu = t.server_cpu_per_call / p.server_cpu_per_call
            verdict = ""
            if ours == JUPYTER_NAME:  # the target is the Jupyter endpoint's; the others are diagnostics
                hit = max(throughput, p50) <= TARGET_RATIO
                ok = ok and hit
                verdict = "ok" if hit else "MISSED"
            ratio_rows.append([ours, str(clients), f"{throughput:.2f}×", f"{min(rounds):.2f}×",
                               f"{p50:.2f}×", f"{p95:.2f}×", f"{cpu:.2f}×",
                               f"≤ {TARGET_RATIO}×" if verdict else "", verdict])
    print("\nratios to the plain SDK server (how much slower; the target applies to the Jupyter endpoint's req/s "
          "and p50)")
    print_table(["server", "clients", "req/s plain ÷ this", "(best round)", "p50 this ÷ plain", "p95 this ÷ plain",
                 "server CPU/call this ÷ plain", "target", ""], ratio_rows)
    return ok


async def run(args: argparse.Namespace) -> int:
    levels = [int(c) for c in args.clients.split(",")]
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; protocol {PROTOCOL_VERSION}; "
          f"{args.rounds} round(s) of {args.seconds:g} s per measure after {args.warmup} warm-up calls per client; "
          f"toolnexus tracking {'on (local MLflow store)' if args.tracking else 'off'}")
    print(f"load average (1, 5, 15 min) at the start: {load()}")
    with tempfile.TemporaryDirectory(prefix="mcp-throughput-") as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        endpoints = []
        if "plain" in args.only:
            endpoints.append(stack.enter_context(plain_server(scratch)))
        if "toolnexus" in args.only:
            endpoints.append(stack.enter_context(jupyter_server(scratch, tracking=args.tracking)))
        if args.against is not None:
            endpoints.append(stack.enter_context(jupyter_server(scratch, tracking=args.tracking,
                                                                against=args.against.resolve())))
        if "toolnexus-asgi" in args.only:
            endpoints.append(stack.enter_context(toolnexus_asgi_server(scratch, tracking=args.tracking)))
        await asyncio.gather(*(wait_ready(e) for e in endpoints))
        if PROFILE_DIR is not None:  # a yappi profile starts now, without the servers' start-up (profile_server.py)
            for endpoint in endpoints:
                endpoint.process.send_signal(signal.SIGUSR2)
        measures = {(e.name, c): Measure(e.name, c) for e in endpoints for c in levels}
        # The servers take turns at each concurrency level, round after round: what else the machine is doing
        # drifts over seconds, so it weighs alike on the measures the ratios pair up.
        for _ in range(args.rounds):
            for clients in levels:
                for endpoint in endpoints:
                    await measure(endpoint, clients, args.seconds, args.warmup, measures[(endpoint.name, clients)])
    print(f"load average (1, 5, 15 min) at the end: {load()}")
    ok = report(measures, [e.name for e in endpoints], levels)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve-plain", help="(internal) run the plain SDK server")
    serve.add_argument("--port", type=int, required=True)
    serve_asgi = sub.add_parser("serve-toolnexus-asgi", help="(internal) run toolnexus's ToolServer under uvicorn")
    serve_asgi.add_argument("--port", type=int, required=True)
    serve_asgi.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=None, help="duration of one measure (default 3; 2 quick)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over all measures (default 6; 1 quick)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per client before each measure")
    parser.add_argument("--clients", default="1,8", help="concurrency levels, comma-separated (default 1,8)")
    parser.add_argument("--only", default="plain,toolnexus", help="servers to run: plain, toolnexus, and the "
                        "diagnostic toolnexus-asgi (toolnexus's MCP server under uvicorn, no Jupyter)")
    parser.add_argument("--tracking", action="store_true", help="toolnexus records every call in MLflow")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 2 s")
    parser.add_argument("--against", type=Path, default=None, metavar="DIR",
                        help="also measure the Jupyter endpoint of another source tree's toolnexus (e.g. "
                             "`git archive ad83fce | tar -x -C /tmp/base`), taking turns with the others: before and "
                             "after in one run")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="run each server under pyinstrument (benchmarks/profile_server.py) and write its profile "
                             "to DIR/<server>.html and .txt when it stops (slows the servers: for finding where the "
                             "time goes, not for the figures)")
    args = parser.parse_args(argv)
    if args.command == "serve-plain":
        serve_plain(args.port)
        return 0
    if args.command == "serve-toolnexus-asgi":
        serve_toolnexus_asgi(args.port, args.workspace)
        return 0
    args.seconds = args.seconds or (2.0 if args.quick else 3.0)
    args.rounds = args.rounds or (1 if args.quick else 6)
    args.only = {name.strip() for name in args.only.split(",")}
    if args.profile is not None:
        global PROFILE_DIR
        PROFILE_DIR = args.profile.resolve()
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
