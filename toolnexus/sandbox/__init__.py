"""Layer 2: sandboxed runtimes behind one protocol (:class:`toolnexus.core.Runtime`)."""

from toolnexus.sandbox.docker import DockerRuntime
from toolnexus.sandbox.inprocess import InProcessRuntime
from toolnexus.sandbox.process import ProcessRuntime, WorkerPool, scrubbed_env

__all__ = ["DockerRuntime", "InProcessRuntime", "ProcessRuntime", "WorkerPool", "scrubbed_env"]
