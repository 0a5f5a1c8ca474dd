"""Compiled wasm modules, cached so that a call pays instantiation, not compilation.

Two levels, both keyed by the SHA-256 of the module file's bytes (``.wasm``, or ``.wat`` text): in
memory, and serialised on disk as ``<sha256>-wasmtime-<version>-<engine tag>.cwasm``, so a new process
(or a new runtime) deserialises in milliseconds what took seconds to compile. Deserialising runs native
code from the file, so the folder is created private to the user; a file wasmtime refuses (corrupt,
another build) is compiled again and replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from toolnexus.errors import SandboxError
from toolnexus.sandbox.wasm_engine import WASMTIME_VERSION, WasmEngine

log = logging.getLogger("toolnexus.sandbox.wasm")

# Changes whenever the engine configuration in WasmEngine does: code compiled for one does not fit another.
ENGINE_TAG = "epoch1"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/toolnexus/wasm``, by default ``~/.cache/toolnexus/wasm``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "toolnexus" / "wasm"


class ModuleError(SandboxError):
    """A module that cannot be used: missing, not WebAssembly, importing more than WASI, or not the pinned file."""


@dataclass(frozen=True)
class CompiledModule:
    """A module ready to instantiate: its imports already resolved against WASI."""

    path: str
    sha256: str
    module: wasmtime.Module
    pre: wasmtime.InstancePre


@dataclass
class CacheStats:
    """What the cache did: modules compiled, deserialised from disk, and served from memory."""

    compiled: int = 0
    loaded: int = 0
    hits: int = 0


_FileKey = tuple[int, int, int, int]  # device, inode, size, mtime: "the same bytes as last time"


class ModuleCache:
    """Compiled modules for one engine, in memory and (unless ``directory`` is None) on disk."""

    def clear(self) -> None:
        """Forget every compiled module held in memory (the disk cache stays)."""
        with self._lock:
            self._by_hash.clear()
            self._by_path.clear()

    def __init__(self, host: WasmEngine, directory: str | os.PathLike[str] | None) -> None:
        self.host = host
        self.directory = Path(directory) if directory is not None else None
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._by_hash: dict[str, CompiledModule] = {}
        self._by_path: dict[str, tuple[_FileKey, str]] = {}
        self._compiling: dict[str, threading.Lock] = {}
        _LIVE.add(self)

    def peek(self, path: str) -> CompiledModule | None:
        """The module at ``path`` if it is in memory and unchanged on disk (cheap: one ``stat``)."""
        try:
            key = _file_key(path)
        except OSError:
            return None
        with self._lock:
            known = self._by_path.get(path)
            if known is None or known[0] != key:
                return None
            compiled = self._by_hash.get(known[1])
            if compiled is not None:
                self.stats.hits += 1
            return compiled

    def load(self, path: str, sha256: str | None = None) -> CompiledModule:
        """The compiled module at ``path``, from memory, disk or the compiler, in that order.

        With ``sha256``, a file whose bytes hash to anything else is refused (a pinned module).
        Blocking, and slow on a miss: call it in a worker thread.
        """
        compiled = self.peek(path)
        if compiled is not None and (sha256 is None or compiled.sha256 == sha256.lower()):
            return compiled
        try:
            key = _file_key(path)
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModuleError(f"cannot read wasm module {path}: {exc.strerror or exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise ModuleError(f"{path} is not the pinned module: its SHA-256 is {digest}, expected {sha256}")
        with self._lock:
            self._by_path[path] = (key, digest)
            compiled = self._by_hash.get(digest)
            if compiled is not None:
                self.stats.hits += 1
                return compiled
            gate = self._compiling.setdefault(digest, threading.Lock())
        # One thread compiles a module; the others wait for it and take its result.
        with gate:
            try:
                return self._build(path, digest, data)
            finally:
                with self._lock:
                    self._compiling.pop(digest, None)

    def _build(self, path: str, digest: str, data: bytes) -> CompiledModule:
        with self._lock:
            compiled = self._by_hash.get(digest)
            if compiled is not None:
                self.stats.hits += 1
                return compiled
        module = self._from_disk(digest) or self._compile(path, digest, data)
        try:
            pre = self.host.linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise ModuleError(f"{path} needs imports WASI does not provide: {_first_line(exc)}") from None
        compiled = CompiledModule(path, digest, module, pre)
        with self._lock:
            self._by_hash[digest] = compiled
        return compiled

    def disk_path(self, sha256: str) -> Path | None:
        """Where the serialised module for ``sha256`` lives (None without a cache folder)."""
        if self.directory is None:
            return None
        return self.directory / f"{sha256}-wasmtime-{WASMTIME_VERSION}-{ENGINE_TAG}.cwasm"

    def _from_disk(self, digest: str) -> wasmtime.Module | None:
        file = self.disk_path(digest)
        if file is None or not file.is_file():
            return None
        try:
            module = wasmtime.Module.deserialize_file(self.host.engine, str(file))
        except wasmtime.WasmtimeError as exc:
            log.warning("ignoring cached module %s (%s); compiling again", file, _first_line(exc))
            return None
        with self._lock:
            self.stats.loaded += 1
        return module

    def _compile(self, path: str, digest: str, data: bytes) -> wasmtime.Module:
        try:
            if data.startswith(b"\0asm"):
                module = wasmtime.Module(self.host.engine, data)
            else:  # WebAssembly text: wasmtime compiles it the same way
                module = wasmtime.Module(self.host.engine, data.decode("utf-8"))
        except (wasmtime.WasmtimeError, UnicodeDecodeError) as exc:
            raise ModuleError(f"{path} is not a valid WebAssembly module: {_first_line(exc)}") from None
        with self._lock:
            self.stats.compiled += 1
        self._save(digest, module)
        return module

    def _save(self, digest: str, module: wasmtime.Module) -> None:
        file = self.disk_path(digest)
        if file is None:
            return
        try:
            file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(module.serialize())
                os.replace(tmp, file)  # atomic: a concurrent reader sees the old file or the whole new one
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except (OSError, wasmtime.WasmtimeError) as exc:
            log.warning("cannot cache the compiled module in %s: %s", file.parent, exc)


def _file_key(path: str) -> _FileKey:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# Compiled modules hold wasmtime objects whose finalisers call into the wasmtime library; at interpreter
# exit that library may be torn down first, so drop them while it still works.
_LIVE: weakref.WeakSet[ModuleCache] = weakref.WeakSet()


@atexit.register
def _drop_compiled_modules() -> None:
    for cache in list(_LIVE):
        cache.clear()
