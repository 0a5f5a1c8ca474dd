"""Secrets a tool returns, prints or puts in its error never leave the invocation path."""

from __future__ import annotations

from pathlib import Path

import toolnexus as tn
from toolnexus import ToolFailure, tool
from toolnexus.registry import spec_of

TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


@tool(name="scrub.leaky", register=False)
def leaky(fail: bool = False) -> dict:
    """Return (or fail with) a credential."""
    if fail:
        raise ToolFailure(f"could not log in with {TOKEN}", details={"password": "hunter2"})
    return {"token_used": TOKEN, "password": "hunter2", "rows": 3}


def test_outputs_and_errors_are_scrubbed(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(leaky))
        ok = nexus.call("scrub.leaky")
        assert ok.output == {"token_used": "***", "password": "***", "rows": 3}
        failed = nexus.call("scrub.leaky", fail=True)
        assert TOKEN not in failed.error.message and "***" in failed.error.message
        assert failed.error.details == {"password": "***"}
        stored = nexus.store._conn().execute("SELECT result FROM calls").fetchall()
        assert all(TOKEN not in row["result"] and "hunter2" not in row["result"] for row in stored)
