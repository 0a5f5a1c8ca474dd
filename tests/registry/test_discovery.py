"""Tool providers: installed packages' entry points, Python modules, and what an object provides."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

import toolnexus as tn
from toolnexus.core.spec import ToolSpec
from toolnexus.registry import ENTRY_POINT_GROUP, Registry, load_entry_points, load_module, spec_of, specs_in, tool

PROVIDER = '''
"""A third-party package's tools."""

from toolnexus import tool


@tool(name="ep.shout", register=False)
def shout(text: str) -> str:
    """Shout a text."""
    return text.upper()


@tool(name="ep.whisper", version="2.0.0", register=False)
def whisper(text: str) -> str:
    """Whisper a text."""
    return text.lower()


def helper() -> int:  # not a tool
    return 1


def make_tools():
    @tool(name="ep.made", register=False)
    def made(n: int) -> int:
        """Made by a factory."""
        return n + 1

    return [made]
'''

BROKEN = """
raise RuntimeError("this provider is broken on import")
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path holding an installed distribution that declares toolnexus tools."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "tn_ep_provider.py").write_text(PROVIDER)
    (root / "tn_ep_broken.py").write_text(BROKEN)
    dist = root / "tn_ep_provider-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tn-ep-provider\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        dedent(f"""\
        [{ENTRY_POINT_GROUP}]
        a_module = tn_ep_provider
        b_broken = tn_ep_broken
        c_missing = tn_ep_no_such_module
        d_factory = tn_ep_provider:make_tools
        e_not_tools = tn_ep_provider:helper

        [console_scripts]
        unrelated = tn_ep_provider:helper
    """)
    )
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in ("tn_ep_provider", "tn_ep_broken"):
        sys.modules.pop(name, None)


def test_entry_points_register_their_tools(site: Path) -> None:
    registry = Registry()

    loaded = load_entry_points(registry)

    assert sorted(s.ref for s in loaded) == ["ep.made@1.0.0", "ep.shout@1.0.0", "ep.whisper@2.0.0"]
    assert registry.names() == ["ep.made", "ep.shout", "ep.whisper"]
    shout = registry.get("ep.shout")
    assert shout.callable is not None and shout.callable({"text": "hi"}) == "HI"
    assert registry.get("ep.made").callable({"n": 1}) == 2


def test_broken_entry_points_are_reported_and_do_not_stop_the_others(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()

    load_entry_points(registry)

    assert len(registry.problems) == 3
    broken, missing, not_tools = registry.problems
    assert "entry point 'b_broken' (tn_ep_broken) failed to load: RuntimeError: this provider is broken" in broken
    assert "'c_missing'" in missing and "ModuleNotFoundError" in missing
    assert "'e_not_tools'" in not_tools and "provides no tools" in not_tools
    assert "b_broken" in caplog.text  # logged too
    assert "ep.shout" in registry.names()


def test_only_the_toolnexus_group_is_read(site: Path) -> None:
    assert load_entry_points(Registry(), group="console_scripts.nothing-here") == []


def test_a_nexus_loads_entry_points_unless_configured_not_to(site: Path, workspace: Path) -> None:
    with tn.Nexus(workspace, store=False) as nexus:
        assert "ep.shout" in nexus.registry.names()
        result = nexus.call("ep.shout", {"text": "loud"})
        assert result.output == "LOUD"
        assert any("b_broken" in p for p in nexus.registry.problems)

    (workspace / "toolnexus.toml").write_text("[tools]\nentry_points = false\n")
    with tn.Nexus(workspace, store=False) as nexus:
        assert "ep.shout" not in nexus.registry.names()


# -- modules and objects ------------------------------------------------------------------------------


@tool(name="local.one", register=False)
def one() -> int:
    """One."""
    return 1


def test_load_module_registers_the_modules_own_tools(site: Path) -> None:
    registry = Registry()

    specs = load_module(registry, "tn_ep_provider")

    assert sorted(s.name for s in specs) == ["ep.shout", "ep.whisper"]  # the factory is not called


def test_a_module_does_not_provide_tools_it_merely_imports() -> None:
    module = types.ModuleType("tn_importer")
    module.one = one  # imported from elsewhere

    assert specs_in(module) == []


@pytest.mark.parametrize(
    "provider",
    [
        lambda: spec_of(one),  # a ToolSpec
        lambda: one,  # a @tool function
        lambda: [one],  # an iterable of them
        lambda: lambda: [spec_of(one)],  # a factory
    ],
)
def test_specs_in_accepts_the_shapes_a_provider_may_take(provider: object) -> None:
    specs = specs_in(provider())  # type: ignore[operator]

    assert [s.name for s in specs] == ["local.one"]
    assert all(isinstance(s, ToolSpec) for s in specs)


@pytest.mark.parametrize("provider", [42, "a string", {"a": 1}, [1], lambda: 5])
def test_specs_in_refuses_what_provides_no_tools(provider: object) -> None:
    with pytest.raises(TypeError, match="provides no tools"):
        specs_in(provider)
