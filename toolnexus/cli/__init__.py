"""The ``toolnexus`` command line: run, validate and plan missions; call tools; read runs and config.

Each command group lives in its own module and registers itself on the shared ``app``.
"""

from __future__ import annotations

import atexit
import gc

from toolnexus.cli import (  # noqa: F401  (registers commands)
    approvals,
    audit,
    config,
    flags,
    kill,
    mcp,
    missions,
    policy,
    runs,
    sandbox,
    schemas,
    tools,
)
from toolnexus.cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, app

__all__ = ["EXIT_CANCELLED", "EXIT_FAILED", "EXIT_USAGE", "app", "main"]


def main() -> None:
    """Entry point of the ``toolnexus`` command."""
    # At exit, the interpreter's teardown walks every object the command imported (~0.1 s of CPU: pydantic's
    # schemas, the engine, governance...) looking for cycles to collect. Freezing them first skips that walk; the
    # teardown still closes what it closes, std streams are flushed and logging's exit handler still runs. It is
    # registered here, before the command runs, so that it runs after the exit handlers the command registers
    # (exit handlers run last-registered first): the tracker's, the runtimes' and the store's.
    atexit.register(gc.freeze)
    from toolnexus.mission.gcpause import allow_freezing

    allow_freezing()  # a one-shot process: a large compile may freeze what it made (see mission.gcpause)
    app()
