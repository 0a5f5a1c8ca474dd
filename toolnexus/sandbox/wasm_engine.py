"""The wasmtime side of the wasm runtime: one shared engine whose epoch a ticker advances, and a guest
runner that executes one WASI command in a fresh store.

Everything here is synchronous and runs in worker threads; :mod:`toolnexus.sandbox.wasm` drives it from
async code. A guest is stopped from any thread by :meth:`Guest.interrupt`: the store's epoch deadline
callback, which wasmtime calls on the guest's own thread every tick, sees the flag and traps. Nothing
but that flag is shared between threads, so no store is ever touched from two threads.

wasmtime-py does not wrap two C API entry points this needs (a store's epoch deadline callback and WASI
stdin from bytes); they are called through ``wasmtime._ffi``, the bindings the package itself uses.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import struct
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

WASMTIME_VERSION = version("wasmtime")
# How often the epoch advances: the longest a guest runs on after it is told to stop.
TICK = 0.01
# WASI errno values (preview 1) our own host function returns.
_EINTR, _EINVAL, _EIO = 27, 28, 29
_WASI = "wasi_snapshot_preview1"

_DeadlineCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_Finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_NO_FINALIZER = ctypes.cast(0, _Finalizer)
_DEADLINE_CONTINUE = 0

# Stock WASI functions must be called from a module with a memory (they read and write it): this one
# forwards to them, for our poll_oneoff, inside the guest's own store (so with the guest's clocks).
_STOCK_HELPER = """
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "poll") (param i32 i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "now") (param $clock i32) (result i64)
    (if (call $clock (local.get $clock) (i64.const 1) (i32.const 0))
      (then (return (i64.const -1))))
    (i64.load (i32.const 0))))
"""


@dataclass(frozen=True)
class Preopen:
    """A host folder the guest sees at ``guest``; read-only unless ``writable``."""

    host: str
    guest: str
    writable: bool = False


@dataclass
class GuestExit:
    """How a guest ended: its exit code, or the trap that stopped it, and what it wrote."""

    code: int | None = None
    trap: str | None = None
    # Why we stopped it, if we did: "cancelled", "cpu_time", "stdout" or "stderr" (over the output cap).
    stopped: str | None = None
    # Whether its _start ran: False when instantiation failed or there is no _start.
    started: bool = False
    memory: int | None = None
    stdout: bytes = b""
    stdout_size: int = 0
    stderr: str = ""
    stderr_size: int = 0


class WasmEngine:
    """One wasmtime ``Engine`` with epoch interruption, shared by every call, and its epoch ticker.

    The ticker is a daemon thread that advances the epoch every :data:`TICK` seconds while at least one
    guest runs, and sleeps on a condition otherwise, so an idle kernel pays nothing for it.
    """

    def __init__(self) -> None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        # The stock WASI imports, except poll_oneoff, which we replace with one a cancellation can wake
        # (the stock one blocks its thread for the whole sleep).
        self.linker = wasmtime.Linker(self.engine)
        self.linker.allow_shadowing = True
        self.linker.define_wasi()
        poll = wasmtime.FuncType([wasmtime.ValType.i32()] * 4, [wasmtime.ValType.i32()])
        self.linker.define_func(_WASI, "poll_oneoff", poll, _poll_oneoff, access_caller=True)
        # The stock WASI alone, for the helper that reaches the stock poll_oneoff and clocks.
        stock_wasi = wasmtime.Linker(self.engine)
        stock_wasi.define_wasi()
        self.stock_helper = stock_wasi.instantiate_pre(wasmtime.Module(self.engine, _STOCK_HELPER))
        self._running = 0
        self._wake = threading.Condition()
        self._ticker: threading.Thread | None = None

    def close(self) -> None:
        """Free the engine's wasmtime objects now (at exit, before the wasmtime library is torn down)."""
        for managed in (self.stock_helper, self.linker, self.engine):
            with contextlib.suppress(Exception):
                managed.close()

    @contextlib.contextmanager
    def ticking(self) -> Iterator[None]:
        """Keep the epoch advancing while the body runs a guest."""
        with self._wake:
            self._running += 1
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="toolnexus-wasm-epoch", daemon=True)
                self._ticker.start()
            self._wake.notify()
        try:
            yield
        finally:
            with self._wake:
                self._running -= 1

    def _tick(self) -> None:
        while True:
            with self._wake:
                while self._running == 0:
                    self._wake.wait()
            time.sleep(TICK)
            self.engine.increment_epoch()


_shared: WasmEngine | None = None
_shared_lock = threading.Lock()


@atexit.register
def _close_shared_engine() -> None:
    # Registered before any module cache's own exit hook, so it runs after them (atexit is LIFO).
    global _shared
    with _shared_lock:
        if _shared is not None and _shared._running == 0:
            _shared.close()
            _shared = None


def shared_engine() -> WasmEngine:
    """The process-wide engine (modules compiled for one engine run only in that engine's stores)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = WasmEngine()
        return _shared


# Guests by the id their store's deadline callback receives; the guest a thread is running.
_guests: dict[int, Guest] = {}
_guest_ids = itertools.count(1)
_current = threading.local()


class Guest:
    """One run of a WASI command: a fresh store with only the given preopens, environment, stdin and
    memory cap; stdout and stderr go to temporary files whose sizes are watched every tick.

    ``pre`` may be None until the module is loaded; it must be set before :meth:`run`."""

    def __init__(
        self,
        host: WasmEngine,
        pre: wasmtime.InstancePre | None,
        *,
        argv: Sequence[str],
        stdin: bytes,
        env: dict[str, str] | None = None,
        preopens: Sequence[Preopen] = (),
        memory: int | None = None,
        cpu_time: float | None = None,
        max_output: int | None = None,
    ) -> None:
        self.host = host
        self.pre = pre
        self.argv = list(argv)
        self.stdin = stdin
        self.env = dict(env or {})
        self.preopens = list(preopens)
        self.memory = memory
        self.cpu_time = cpu_time
        self.max_output = max_output
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._reason: str | None = None
        self._cpu_start = 0.0
        self._out_fd = -1
        self._err_fd = -1
        self._stock: Any = None

    def interrupt(self, reason: str = "cancelled") -> None:
        """Stop the guest from any thread: it traps at its next epoch tick (or leaves a sleep at once)."""
        if self._reason is None:
            self._reason = reason
        self._stop.set()

    @property
    def stopped(self) -> str | None:
        """Why the host stopped the guest (the :meth:`interrupt` reason), or None while it is not stopped."""
        return self._reason if self._stop.is_set() else None

    def run(self) -> GuestExit:
        """Run the command to its end (blocking; call it in a worker thread)."""
        try:
            if self._stop.is_set():
                return GuestExit(stopped=self._reason)
            with self._output_files() as (out_path, err_path), self.host.ticking():
                return self._run(out_path, err_path)
        finally:
            self.finished.set()

    @contextlib.contextmanager
    def _output_files(self) -> Iterator[tuple[str, str]]:
        opened: list[tuple[int, str | None]] = []
        try:
            for suffix in (".out", ".err"):
                opened.append(_output_file(suffix))
            (out_fd, out_file), (err_fd, err_file) = opened
            self._out_fd, self._err_fd = out_fd, err_fd
            yield _path_of(out_fd, out_file), _path_of(err_fd, err_file)
        finally:
            for fd, name in opened:
                with contextlib.suppress(OSError):
                    os.close(fd)
                if name is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(name)

    def _store(self, out_path: str, err_path: str) -> wasmtime.Store:
        wasi = wasmtime.WasiConfig()
        wasi.argv = self.argv
        if self.env:  # a new WasiConfig has an empty environment already
            wasi.env = list(self.env.items())
        stdin = (ctypes.c_uint8 * len(self.stdin)).from_buffer_copy(self.stdin)
        vec = ffi.wasm_byte_vec_t()
        ffi.wasm_byte_vec_new(ctypes.byref(vec), len(self.stdin), stdin)
        ffi.wasi_config_set_stdin_bytes(wasi.ptr(), ctypes.byref(vec))  # takes ownership of the copy
        wasi.stdout_file = out_path
        wasi.stderr_file = err_path
        for preopen in self.preopens:
            # Explicitly: wasmtime-py >= 48 preopens read-write unless told otherwise.
            wasi.preopen_dir(preopen.host, preopen.guest, fs_mutable=preopen.writable)
        store = wasmtime.Store(self.host.engine)
        store.set_wasi(wasi)
        if self.memory is not None:
            store.set_limits(memory_size=self.memory)
        return store

    def _run(self, out_path: str, err_path: str) -> GuestExit:
        assert self.pre is not None, "the guest's module must be loaded before it runs"
        result = GuestExit()
        store = self._store(out_path, err_path)
        guest_id = next(_guest_ids)
        _guests[guest_id] = self
        _current.guest = self
        ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_deadline, guest_id, _NO_FINALIZER)
        store.set_epoch_deadline(1)
        if self.cpu_time is not None:
            self._cpu_start = time.thread_time()
        exports = None
        try:
            exports = self.pre.instantiate(store).exports(store)  # read once: each read lists every export
            start = exports.get("_start")
            if not isinstance(start, wasmtime.Func):
                result.trap = "the module is not a WASI command: it exports no _start function"
            else:
                result.started = True
                start(store)
                result.code = 0
        except wasmtime.ExitTrap as exit_:
            result.code = exit_.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            result.trap = _trap_message(exc)
        finally:
            _guests.pop(guest_id, None)
            _current.guest = None
        result.stopped = self.stopped
        if exports is not None:
            with contextlib.suppress(wasmtime.WasmtimeError, ValueError):
                memory = exports.get("memory")
                if isinstance(memory, wasmtime.Memory):
                    result.memory = memory.data_len(store)
        del exports, store
        result.stdout_size = os.fstat(self._out_fd).st_size
        result.stderr_size = os.fstat(self._err_fd).st_size
        if self.max_output is None or result.stdout_size <= self.max_output:
            result.stdout = _read(self._out_fd, 0, result.stdout_size)
        tail = min(result.stderr_size, 65536)
        result.stderr = _read(self._err_fd, result.stderr_size - tail, tail).decode("utf-8", "replace")
        return result

    def check(self) -> str | None:
        """Why the guest must stop now, if it must (called on its thread, every tick)."""
        if self._stop.is_set():
            return self._reason
        if self.cpu_time is not None and time.thread_time() - self._cpu_start > self.cpu_time:
            self.interrupt("cpu_time")
        elif self.max_output is not None:
            if os.fstat(self._out_fd).st_size > self.max_output:
                self.interrupt("stdout")
            elif os.fstat(self._err_fd).st_size > self.max_output:
                self.interrupt("stderr")
        return self.stopped

    def wait_interrupt(self, seconds: float) -> bool:
        """Sleep for ``seconds`` unless interrupted first; True when interrupted."""
        return self._stop.wait(seconds)

    def stock(self, caller: wasmtime.Caller) -> Any:
        """The exports (``poll``, ``now``, ``memory``) of the stock WASI helper in this guest's store."""
        if self._stock is None:
            self._stock = self.host.stock_helper.instantiate(caller).exports(caller)
        return self._stock


# Where a guest's stdout and stderr go: files in the temporary folder (on disk, not in memory, so a guest
# that floods its output fills no RAM), unnamed where the system allows it (Linux's O_TMPFILE, reopened by
# wasmtime through /proc/self/fd): nothing to name, nothing to unlink, and none left behind by a crash.
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_unnamed_files = bool(_O_TMPFILE) and os.path.isdir("/proc/self/fd")


def _output_file(suffix: str) -> tuple[int, str | None]:
    """A new, empty, private file for a guest's output: its descriptor, and its name if it has one."""
    global _unnamed_files
    if _unnamed_files:
        try:
            return os.open(tempfile.gettempdir(), _O_TMPFILE | os.O_RDWR, 0o600), None
        except OSError:  # a filesystem without O_TMPFILE: named files from now on
            _unnamed_files = False
    fd, name = tempfile.mkstemp(prefix="toolnexus-wasm-", suffix=suffix)
    return fd, name


def _path_of(fd: int, name: str | None) -> str:
    """The path wasmtime opens to write to the file behind ``fd``."""
    return name if name is not None else f"/proc/self/fd/{fd}"


def _read(fd: int, offset: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _trap_message(exc: Exception) -> str:
    """The cause of a trap without wasmtime's backtrace."""
    text = exc.message if isinstance(exc, wasmtime.Trap) else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if "Caused by:" in lines:
        lines = lines[lines.index("Caused by:") + 1 :]
    elif lines and lines[0].startswith("error while executing at wasm backtrace"):
        lines = [line for line in lines[1:] if not line[:1].isdigit()]
    return " ".join(lines) or type(exc).__name__


@_DeadlineCallback
def _on_deadline(context: Any, data: int | None, delta: Any, kind: Any) -> int:
    """wasmtime calls this on the guest's thread when its epoch deadline passes: go on for one more
    tick, or trap. It must not raise (there is no Python frame above it to catch anything)."""
    try:
        guest = _guests.get(data or 0)
        reason = guest.check() if guest is not None else None
    except Exception:  # an unreadable output file, say: stop the guest rather than run it unchecked
        reason = "internal"
    if reason is None:
        delta[0] = 1
        kind[0] = _DEADLINE_CONTINUE
        return 0
    error = ffi.wasmtime_error_new(f"toolnexus stopped the guest ({reason})".encode())
    return ctypes.cast(error, ctypes.c_void_p).value or 0


_SUBSCRIPTION = struct.Struct("<QB7xIxxxxQQH6x")  # userdata, tag, clock id, timeout, precision, flags
_EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags
_CLOCK_ABSTIME = 1


def _poll_oneoff(caller: wasmtime.Caller, in_ptr: int, out_ptr: int, count: int, nevents_ptr: int) -> int:
    """WASI poll_oneoff whose clock waits end early when the guest is interrupted (returning EINTR, so the
    guest gets back to wasm code, where its next epoch check traps). Subscriptions on file descriptors
    go to the stock implementation: our descriptors (files, stdin bytes) are always ready at once."""
    try:
        guest: Guest | None = getattr(_current, "guest", None)
        memory = caller.get("memory")
        if guest is None or not isinstance(memory, wasmtime.Memory) or count == 0:
            return _EINVAL
        raw = memory.read(caller, in_ptr, in_ptr + count * _SUBSCRIPTION.size)
        if len(raw) != count * _SUBSCRIPTION.size:
            return _EINVAL
        subscriptions = [_SUBSCRIPTION.unpack_from(raw, i * _SUBSCRIPTION.size) for i in range(count)]
        if any(tag != 0 for _, tag, *_ in subscriptions):
            return _stock_poll(caller, guest.stock(caller), memory, raw, count, out_ptr, nevents_ptr)
        remaining = []
        for _userdata, _tag, clock, timeout, _precision, flags in subscriptions:
            if flags & _CLOCK_ABSTIME:
                # The guest's clocks are WASI's (its monotonic clock starts with the store): ask them.
                now = int(guest.stock(caller)["now"](caller, clock))
                if now < 0:
                    return _EINVAL
                remaining.append(timeout - now)
            else:
                remaining.append(timeout)
        wait = max(0, min(remaining))
        if guest.wait_interrupt(wait / 1e9):
            return _EINTR
        events = b"".join(
            _EVENT.pack(userdata, 0, 0, 0, 0)
            for (userdata, *_), left in zip(subscriptions, remaining, strict=True)
            if left <= wait
        )
        memory.write(caller, events, out_ptr)
        memory.write(caller, struct.pack("<I", len(events) // _EVENT.size), nevents_ptr)
        return 0
    except Exception:  # never raise into wasmtime: its error slot is shared by all threads
        return _EIO


def _stock_poll(
    caller: wasmtime.Caller, stock: Any, memory: wasmtime.Memory, raw: bytes, count: int, out_ptr: int, nevents_ptr: int
) -> int:
    """The stock poll_oneoff, run on a copy of the subscriptions in the helper's memory."""
    scratch: wasmtime.Memory = stock["memory"]
    events_at = len(raw)
    nevents_at = events_at + count * _EVENT.size
    needed = nevents_at + 4
    if needed > scratch.data_len(caller):
        scratch.grow(caller, (needed - scratch.data_len(caller) + 65535) // 65536)
    scratch.write(caller, raw, 0)
    errno = int(stock["poll"](caller, 0, events_at, count, nevents_at))
    if errno == 0:
        (nevents,) = struct.unpack("<I", scratch.read(caller, nevents_at, nevents_at + 4))
        memory.write(caller, scratch.read(caller, events_at, events_at + nevents * _EVENT.size), out_ptr)
        memory.write(caller, struct.pack("<I", nevents), nevents_ptr)
    return errno
