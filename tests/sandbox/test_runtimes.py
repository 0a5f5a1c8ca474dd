"""Runtimes by name: the registry builds the built-in backends and names the extra a missing one needs."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus.core.context import ToolContext
from toolnexus.sandbox.backends import INPROCESS, RuntimeBackend
from toolnexus.sandbox.runtimes import RuntimeRegistry, RuntimeUnavailable

MISSING = RuntimeBackend("wasm", "wasm", "toolnexus_no_such_module", lambda module, context, settings: module,
                         extra="wasm")


def test_the_entry_points_name_the_built_in_runtimes() -> None:
    assert {"inprocess", "process", "wasm", "docker"} <= set(RuntimeRegistry.from_entry_points().backends)


def test_a_runtime_whose_extra_is_missing_says_what_to_install(workspace: Path) -> None:
    registry = RuntimeRegistry([INPROCESS, MISSING])
    context = ToolContext(workspace=str(workspace))
    with pytest.raises(RuntimeUnavailable, match=r"the wasm runtime needs `pip install toolnexus\[wasm\]`"):
        registry.create("wasm", context, None)
    assert set(registry.build_available(context, None)) == {"inprocess"}
    with pytest.raises(RuntimeUnavailable, match="unknown runtime 'vm'"):
        registry.create("vm", context, None)


def test_a_nexus_builds_its_runtimes_from_the_registry(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        assert {"inprocess", "process", "docker"} <= set(nexus.runtimes)


@pytest.mark.parametrize("spare", [False, True])
def test_the_docker_spare_setting_reaches_the_docker_runtime(workspace: Path, spare: bool) -> None:
    with tn.Nexus(workspace, store=False, overrides={"sandbox.docker_spare": spare}) as nexus:
        docker = nexus.runtimes.get("docker")
        if docker is None:
            pytest.skip("the docker extra is not installed")
        assert docker.pool.spare is spare  # type: ignore[attr-defined]
