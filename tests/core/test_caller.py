"""The caller identity: the OS user as the local caller (one object per surface and tenant), the surface of a
process (``notebook`` in a running Jupyter kernel), and the identity a call or run hands to the calls inside it."""

from __future__ import annotations

import getpass
from pathlib import Path

import anyio
import pytest

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import (
    Caller,
    Identity,
    Surface,
    current_identity,
    local_caller,
    os_user,
    process_surface,
    reset_identity,
    surface_named,
    use_identity,
)


def test_the_local_caller_is_the_os_user_and_one_object_per_surface_and_tenant() -> None:
    assert os_user() == getpass.getuser()
    caller = local_caller(Surface.CLI, "acme")
    assert caller == Caller(principal=getpass.getuser(), tenant="acme", surface=Surface.CLI)
    assert local_caller(Surface.CLI, "acme") is caller  # built once, not per call
    assert local_caller() == Caller(principal=getpass.getuser())


def test_a_caller_is_frozen_and_reads_as_who_through_what() -> None:
    caller = Caller(principal="ada", tenant="acme", surface=Surface.MCP)
    with pytest.raises(ValueError):
        caller.principal = "eve"  # type: ignore[misc]
    assert str(caller) == "ada (mcp, tenant acme)"
    assert str(Caller(principal="ada")) == "ada (python)"
    assert Caller.model_validate_json(caller.model_dump_json()) == caller


def test_an_origin_names_a_surface_or_none() -> None:
    assert surface_named("cli") is Surface.CLI
    assert surface_named("mission") is None and surface_named("openai") is None and surface_named(None) is None


def test_a_calls_correlation_is_its_correlation_id_or_its_own_id() -> None:
    call = ToolCall(tool="t")
    assert call.correlation == call.id
    assert ToolCall(tool="t", correlation_id="c-1").correlation == "c-1"


def test_a_plain_python_process_is_the_python_surface() -> None:
    assert process_surface() is Surface.PYTHON


@pytest.mark.anyio
async def test_the_identity_in_force_is_set_and_restored_and_inherited_by_tasks_and_worker_threads() -> None:
    assert current_identity() is None
    caller = Caller(principal="ada")
    token = use_identity(caller, "c-1")
    try:
        seen: list[Identity | None] = []

        async def task() -> None:
            seen.append(current_identity())

        async with anyio.create_task_group() as group:
            group.start_soon(task)
        seen.append(await anyio.to_thread.run_sync(current_identity))
        assert seen == [Identity(caller, "c-1")] * 2
    finally:
        reset_identity(token)
    assert current_identity() is None


KERNEL_CODE = """
import toolnexus as tn
with tn.Nexus({workspace!r}) as nexus:
    print("SURFACE", nexus.caller.surface.value, nexus.caller.principal)
"""


def test_a_nexus_in_a_jupyter_kernel_calls_from_the_notebook_surface(workspace: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    # The kernel inherits this environment (tracking off: see the workspace fixture).
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(workspace))
    try:
        output: list[str] = []
        reply = client.execute_interactive(KERNEL_CODE.format(workspace=str(workspace)), timeout=120,
                                           output_hook=lambda msg: output.append(msg["content"].get("text", "")))
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert f"SURFACE notebook {getpass.getuser()}" in "".join(output)
