"""The ``toolnexus`` command line: run, validate and plan missions; call tools; read runs and config.

Each command group lives in its own module and registers itself on the shared ``app``.
"""

from __future__ import annotations

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
    app()
