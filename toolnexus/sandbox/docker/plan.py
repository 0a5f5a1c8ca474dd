"""What a call needs of the docker runtime: which container (its key), and what to send it.

A docker tool whose image carries our worker, a command tool and ``python.exec`` go to a warm worker
container as a request; a docker tool whose image has no worker gets a container of its own, its
arguments as JSON on stdin. Everything else is refused: toolnexus itself is not installed in the image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolnexus.core.call import ToolCall
from toolnexus.core.spec import PYTHON_EXEC_TARGET, Limits, ToolSpec, is_python_exec
from toolnexus.errors import Refused
from toolnexus.sandbox.docker.container import ContainerKey
from toolnexus.sandbox.docker.launch import CALL_ENV

# python.exec is recognised by its entry; the worker in the image is told by this name.
PYEXEC_TARGET = PYTHON_EXEC_TARGET
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib", "/etc/", "/proc/", "/sys/", "/dev/")

Mounts = tuple[tuple[str, str, bool], ...]


@dataclass
class CallPlan:
    """A call's container key, whether a worker in it answers (else the command is the container's own),
    and the request: the worker's frame, or for a direct container the arguments to write to its stdin."""

    key: ContainerKey
    worker: bool
    request: dict[str, Any]


@dataclass(frozen=True)
class Planner:
    """The runtime's settings that decide a call's plan: its default image and caps, its network policy,
    the workspace declared mounts are relative to, and how to learn whether an image carries our worker."""

    image: str
    memory: int
    cpus: float
    allow_network: bool
    workspace: str
    has_worker: Callable[[str], bool]

    def key(self, image: str, limits: Limits, *, network: bool, mounts: Mounts, **direct: Any) -> ContainerKey:
        """The key of a container of ``image`` for a call under ``limits`` (the runtime's caps where they
        set none); a network only if the call asks for one and the runtime allows it."""
        return ContainerKey(
            image=image,
            memory=int(limits.memory or self.memory),
            nano_cpus=int(self.cpus * 1e9),
            network=network and self.allow_network,
            mounts=mounts,
            open_files=limits.open_files,
            **direct,
        )

    def plan(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> CallPlan:
        """The plan of ``call`` (blocking: it may ask the engine about an image); Refused if it cannot run here."""
        entry = spec.entry
        base = {"arguments": call.arguments, "limits": limits.model_dump(mode="json")}
        if entry.kind == "docker":
            return self._docker(spec, limits, base)
        if entry.kind == "command" and entry.argv:
            return self._command(spec, limits, base)
        if is_python_exec(spec):
            self._need_worker("python.exec")
            key = self.key(self.image, limits, network=False, mounts=self._mounts(spec))
            return CallPlan(key, True, {**base, "kind": "python", "target": PYEXEC_TARGET})
        raise Refused(
            f"the docker runtime runs docker tools, command tools and python.exec, not {spec.ref} "
            f"({entry.kind} {entry.target or ''}); toolnexus itself is not installed in the image"
        )

    def _docker(self, spec: ToolSpec, limits: Limits, base: dict[str, Any]) -> CallPlan:
        """A docker tool: to the worker of its image if it has one, else the image's command, on its own."""
        entry = spec.entry
        if not entry.image or not entry.argv:
            raise Refused(f"{spec.ref} declares no image and command to run in a container")
        mounts = self._mounts(spec)
        if self.has_worker(entry.image):
            key = self.key(entry.image, limits, network=entry.network, mounts=mounts)
            request = {
                **base,
                "kind": "command",
                "env": CALL_ENV,
                "entry": {"argv": entry.argv, "env": entry.env, "cwd": entry.cwd},
            }
            return CallPlan(key, True, request)
        key = self.key(
            entry.image,
            limits,
            network=entry.network,
            mounts=mounts,
            command=tuple(entry.argv),
            env=tuple(sorted(entry.env.items())),
            cwd=entry.cwd,
        )
        return CallPlan(key, False, base)

    def _command(self, spec: ToolSpec, limits: Limits, base: dict[str, Any]) -> CallPlan:
        """A command tool: to a worker of the default image, with its own program files mounted."""
        entry = spec.entry
        # The tool's own program files (absolute host paths in its argv) are visible, read-only,
        # at the same paths; nothing else of the host is.
        programs = tuple(
            (arg, arg, False)
            for arg in entry.argv
            if os.path.isabs(arg) and not arg.startswith(_SYSTEM_PREFIXES) and os.path.isfile(arg)
        )
        self._need_worker("command tools")
        key = self.key(self.image, limits, network=False, mounts=self._mounts(spec) + programs)
        request = {
            **base,
            "kind": "command",
            "env": CALL_ENV,
            "entry": {"argv": entry.argv, "env": entry.env, "cwd": None},
        }
        return CallPlan(key, True, request)

    def _need_worker(self, what: str) -> None:
        if not self.has_worker(self.image):
            raise Refused(f"image {self.image!r} has no toolnexus worker to run {what} in")

    def _mounts(self, spec: ToolSpec) -> Mounts:
        workspace = Path(self.workspace)
        return tuple((str((workspace / m.host).resolve()), m.guest, m.writable) for m in spec.entry.mounts)
