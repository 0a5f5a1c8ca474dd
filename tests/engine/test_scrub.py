"""Secrets a tool returns, prints or puts in its error never leave the invocation path."""

from __future__ import annotations

import base64
from pathlib import Path

import toolnexus as tn
from toolnexus import ToolFailure, tool
from toolnexus.core.secrets import scrub_text
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
        nexus.store.flush()
        stored = nexus.store._conn().execute("SELECT result FROM calls").fetchall()
        assert all(TOKEN not in row["result"] and "hunter2" not in row["result"] for row in stored)


PNG = bytes(range(48))  # 64 characters of base64: token-sized and high-entropy, like a credential


@tool(name="scrub.picture", register=False)
def picture() -> tn.Content:
    """Return an image, an embedded binary resource and a text that leaks a token."""
    return tn.Content(tn.Image(data=PNG, mime_type="image/png"),
                      tn.EmbeddedResource(uri="file:///x.bin", blob=PNG, mime_type="application/octet-stream"),
                      tn.Text(f"logged in with {TOKEN}"))


def test_content_payloads_are_data_not_secrets(workspace: Path) -> None:
    payload = base64.b64encode(PNG).decode()
    assert scrub_text(payload) == "***"  # outside a content block, the scrubber would take it for a key
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(picture))
        result = nexus.call("scrub.picture")
        assert result.ok, result.error
        blocks = result.output["blocks"]
        assert [b.get("data") or b.get("blob") for b in blocks[:2]] == [payload, payload]
        assert blocks[2]["text"] == "logged in with ***"  # other fields of blocks are still scrubbed
