"""The docker runtime: calls run in hardened containers of a local Docker engine (the ``docker`` SDK).

Every container is created hardened: no network (unless the tool declares it *and* the runtime allows
it), a read-only root with a size-capped tmpfs at /tmp, memory, CPU and pids limits, all capabilities
dropped, no-new-privileges, a non-root user, an init that reaps orphans, no log driver, and no host
folder but the tool's declared mounts (read-only unless declared writable).

Images that carry our worker (the base image of :mod:`toolnexus.sandbox.images`) run it as their
command, and calls travel to it over the container's attached stdin/stdout as frames
(:mod:`toolnexus.sandbox.protocol`): such containers are kept warm, a few per image and limits, so a
call pays one round trip instead of a container start. ``exec_run`` would cost 100–200 ms a call and
could be neither timed out nor killed; a worker dies with its container. With ``spare=True`` a runtime
also keeps one fresh worker container per image and limits started ahead of need, so that a call that
needs a new container (``warm=False``, or every warm one busy) does not wait for the engine to start
one. Other images run the tool's command directly, one container per call, JSON on stdin and stdout.

Cancellation (and so a timeout) kills and removes the container the call ran in before it propagates;
a new one replaces it on demand. All containers carry the label ``toolnexus.managed=1`` and their
owner's host and pid: they are removed on :meth:`DockerRuntime.close`, at interpreter exit, by the
engine when our end of a warm container's stdin closes, and — for those a killed process left
behind — by the next runtime that starts on the same host.

The parts, one module each: :mod:`.engine` (the connection to the engine, our labels, the sweep of
orphans), :mod:`.attachment` (a container's multiplexed stdin/stdout/stderr), :mod:`.container` (a
container and the key it is created with), :mod:`.launch` (creating one hardened), :mod:`.pool` (warm
worker containers), :mod:`.plan` (what container and request a call needs), :mod:`.outcomes` (what
the answer means) and :mod:`.runtime` (the runtime that ties them together).
"""

from toolnexus.sandbox.docker.container import Container, ContainerGone, ContainerKey
from toolnexus.sandbox.docker.engine import (
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_RUNTIME,
    DockerUnavailable,
    managed_containers,
    sweep_orphans,
)
from toolnexus.sandbox.docker.plan import PYEXEC_TARGET
from toolnexus.sandbox.docker.pool import ContainerPool
from toolnexus.sandbox.docker.runtime import DockerRuntime

__all__ = [
    "LABEL_MANAGED",
    "LABEL_OWNER",
    "LABEL_RUNTIME",
    "PYEXEC_TARGET",
    "Container",
    "ContainerGone",
    "ContainerKey",
    "ContainerPool",
    "DockerRuntime",
    "DockerUnavailable",
    "managed_containers",
    "sweep_orphans",
]
