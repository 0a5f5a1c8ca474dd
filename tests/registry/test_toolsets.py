"""Toolsets by name (built-in and configured), filter options, and search within a toolset."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus.core.spec import Lifecycle, SafetyTier, ToolSpec
from toolnexus.registry import Registry
from toolnexus.registry.toolsets import Toolset
from toolnexus.registry.toolsets_config import (
    BadFilter,
    ToolFilter,
    UnknownToolset,
    available_toolsets,
    builtin_toolsets,
    filter_toolset,
    resolve_toolset,
)


def spec(name: str, tier: str = "read_only", tags: tuple[str, ...] = (), lifecycle: str = "active",
         summary: str = "") -> ToolSpec:
    return ToolSpec(name=name, tier=SafetyTier(tier), tags=list(tags), lifecycle=Lifecycle(lifecycle),
                    summary=summary or f"{name} tool")


SPECS = [spec("files.read", tags=("files",)), spec("files.write", "side_effecting", ("files",)),
         spec("geo.maps.route", tags=("maps",)), spec("old.thing", lifecycle="retired"), spec("plain")]


def names(specs: list[ToolSpec]) -> list[str]:
    return [s.name for s in specs]


def test_builtin_toolsets_are_all_read_only_and_one_per_top_namespace() -> None:
    found = builtin_toolsets(SPECS)
    assert sorted(found) == ["all", "files", "geo", "old", "read-only"]
    assert names(found["all"].select(SPECS)) == ["files.read", "files.write", "geo.maps.route", "plain"]
    assert names(found["read-only"].select(SPECS)) == ["files.read", "geo.maps.route", "plain"]
    assert names(found["geo"].select(SPECS)) == ["geo.maps.route"]
    assert found["old"].select(SPECS) == []  # its only tool is retired


def test_a_configured_toolset_wins_over_a_builtin_of_the_same_name() -> None:
    configured = {"files": Toolset(include=["plain"], namespaces=["nothing"]), "mine": Toolset(tags=["maps"])}
    found = available_toolsets(configured, SPECS)
    assert names(found["files"].select(SPECS)) == ["plain"]
    assert found["files"].name == "files" and found["mine"].name == "mine"
    assert names(resolve_toolset("mine", configured, SPECS).select(SPECS)) == ["geo.maps.route"]


def test_an_unknown_toolset_suggests_the_nearest_name() -> None:
    with pytest.raises(UnknownToolset, match="no toolset named 'fils'") as caught:
        resolve_toolset("fils", {}, SPECS)
    assert "files" in (caught.value.hint or "")


def test_filter_options_become_a_toolset_and_bad_values_say_which_option() -> None:
    assert filter_toolset() is None
    chosen = filter_toolset(tiers=["side_effecting"], namespaces=["files"])
    assert chosen is not None and names(chosen.select(SPECS)) == ["files.write"]
    retired = filter_toolset(lifecycle=["retired"])
    assert retired is not None and names(retired.select(SPECS)) == ["old.thing"]
    with pytest.raises(BadFilter, match=r"--tier 'root'.*read_only"):
        filter_toolset(tiers=["root"])
    with pytest.raises(BadFilter, match="--lifecycle 'dead'"):
        filter_toolset(lifecycle=["dead"])


def test_a_filter_of_several_toolsets_keeps_what_all_of_them_admit() -> None:
    both = ToolFilter(resolve_toolset("files", {}, SPECS), filter_toolset(tiers=["read_only"]), None)
    assert names(both.select(SPECS)) == ["files.read"]


def test_search_within_toolsets_widens_until_it_has_k_hits() -> None:
    # 30 side-effecting "report" tools rank first; the read-only ones come after them.
    registry = Registry([spec(f"w.report{i}", "side_effecting", summary="report report report") for i in range(30)]
                        + [spec(f"r.report{i}", summary="report") for i in range(3)])
    chosen = ToolFilter(resolve_toolset("all"), filter_toolset(tiers=["read_only"]))
    hits = chosen.search(registry, "report", k=2)
    assert [h.spec.tier for h in hits] == [SafetyTier.READ_ONLY] * 2
    assert len(chosen.search(registry, "report", k=10)) == 3  # all there are


def test_toolsets_come_from_toolnexus_toml(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[toolsets.readers]\ndescription = "read things"\n'
                                              'tiers = ["read_only"]\nexclude = ["http.*"]\n')
    with tn.Nexus(workspace, store=False) as nexus:
        readers = resolve_toolset("readers", nexus.settings.toolsets, nexus.registry.list())
        chosen = names(readers.select(nexus.registry.list()))
    assert {"files.read", "files.list", "json.query", "text.render"} <= set(chosen)
    assert "http.fetch" not in chosen and "files.write" not in chosen


def _matches_by_definition(toolset: Toolset, tool: ToolSpec) -> bool:
    # The rule as documented on Toolset, written plainly: the compiled matcher must agree with it.
    import fnmatch

    if any(fnmatch.fnmatchcase(tool.name, p) for p in toolset.exclude):
        return False
    if any(fnmatch.fnmatchcase(tool.name, p) for p in toolset.include):
        return True
    return (
        (not toolset.namespaces or any(tool.name.startswith(ns + ".") or tool.namespace == ns
                                       for ns in toolset.namespaces))
        and (not toolset.tags or bool(set(toolset.tags) & set(tool.tags)))
        and (not toolset.tiers or tool.tier in toolset.tiers)
        and (not toolset.runtimes or tool.runtime in toolset.runtimes)
        and (not toolset.lifecycle or tool.lifecycle in toolset.lifecycle)
    )


def test_compiled_matches_agrees_with_the_definition_on_every_combination() -> None:
    import itertools
    import random

    rng = random.Random(6)
    tools = [
        spec(f"{ns}.{verb}", tier, tags, lifecycle)
        for ns, verb, tier, tags, lifecycle in itertools.product(
            ("files", "files.deep", "web"), ("read", "write"), ("read_only", "privileged"),
            ((), ("io",), ("io", "net")), ("active", "retired"),
        )
    ]
    choices = {
        "namespaces": ([], ["files"], ["web", "files.deep"]),
        "tags": ([], ["io"], ["net", "zzz"]),
        "tiers": ([], ["read_only"]),
        "lifecycle": ([], ["retired"], ["active", "deprecated"]),
        "include": ([], ["web.read"], ["files.*", "nope"]),
        "exclude": ([], ["files.deep.write"], ["*.read", "w?b.write"]),
    }
    for _ in range(300):
        toolset = Toolset(**{key: rng.choice(values) for key, values in choices.items()})
        for tool in tools:
            assert toolset.matches(tool) is _matches_by_definition(toolset, tool), (toolset, tool.name)


def test_changing_a_toolset_recompiles_its_criteria() -> None:
    tool = spec("files.read", tags=("io",))
    toolset = Toolset(tags=["io"])
    assert toolset.matches(tool)
    toolset.tags = ["net"]
    assert not toolset.matches(tool)
    assert toolset.model_copy(update={"tags": ["io"]}).matches(tool)
    assert not toolset.matches(tool)
    assert toolset == Toolset(tags=["net"])  # the compiled criteria do not take part in equality
