"""Through the Jupyter endpoint the caller is the Jupyter user: a tool call and each step of a mission run are
decided (and recorded) with principal = the user's name, surface ``mcp`` and the workspace's tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import IdentityProvider, User

from toolnexus.core.caller import Caller, Surface
from toolnexus.core.events import GateDecided
from toolnexus.jupyter.extension import ToolnexusExtension

MISSION = """\
mission: greet
steps:
  - id: hi
    uses: test.echo
    with: {value: hello}
  - id: again
    uses: test.echo
    needs: [hi]
    with: {value: again}
"""


class NamedUser(IdentityProvider):
    """Jupyter's token check, with a named user behind the token (as JupyterHub's provider gives)."""

    async def get_user(self, handler: Any) -> User | None:
        """Ada, for a request with the server's token; nobody otherwise."""
        user = await super().get_user(handler)
        return None if user is None else User(username="ada", name="Ada Lovelace")


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], toolnexus_workspace: Path) -> dict[str, Any]:
    (toolnexus_workspace / "toolnexus.toml").write_text('[governance]\ntenant = "acme"\n')
    (toolnexus_workspace / "missions").mkdir(exist_ok=True)
    (toolnexus_workspace / "missions" / "greet.yaml").write_text(MISSION)
    return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], "identity_provider_class": NamedUser}}


async def test_calls_and_mission_steps_carry_the_jupyter_user(toolnexus_server: ToolnexusExtension,
                                                              mcp_connect: Any) -> None:
    service = toolnexus_server.service
    assert service is not None
    seen: list[GateDecided] = []
    service.nexus.bus.subscribe(lambda event: seen.append(event) if isinstance(event, GateDecided) else None)
    async with mcp_connect("auto") as client:
        called = await client.call_tool("test.echo", {"value": "x"})
        ran = await client.call_tool("mission.greet", {})
    assert not called.is_error and not ran.is_error
    ada = Caller(principal="ada", tenant="acme", surface=Surface.MCP)
    direct = [d.call for d in seen if d.call.run_id is None]
    steps = [d.call for d in seen if d.call.run_id is not None]
    assert [(c.caller, c.correlation_id == c.id, c.origin) for c in direct] == [(ada, True, "mcp")]
    assert [(c.caller, c.step_id, c.origin) for c in steps] == [(ada, "hi", "mission"), (ada, "again", "mission")]
    assert {c.correlation_id for c in steps} == {steps[0].run_id}
    store = service.nexus.store
    stored = store.get_run(steps[0].run_id)
    assert stored is not None and stored.caller == ada
