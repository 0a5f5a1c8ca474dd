"""The versioned, thread-safe Registry: version matching, lookups with hints, listing, listeners."""

from __future__ import annotations

import threading

import pytest

from toolnexus.core.spec import ToolSpec
from toolnexus.registry import Registry, ToolNotFound
from toolnexus.registry.versions import matches, newest, split_ref


def spec(name: str, version: str = "1.0.0") -> ToolSpec:
    return ToolSpec(name=name, version=version, summary=f"{name} {version}")


@pytest.fixture
def registry() -> Registry:
    return Registry(
        [spec("files.read", v) for v in ("1.0.0", "1.2.0", "1.2.5", "1.10.0", "2.0.0", "3.0.0rc1")]
        + [spec("files.write"), spec("text.render")]
    )


@pytest.mark.parametrize(
    ("ref", "version"),
    [
        ("files.read", "2.0.0"),  # latest final release
        ("files.read@latest", "2.0.0"),
        ("files.read@1", "1.10.0"),  # highest 1.x, compared as numbers, not text
        ("files.read@1.2", "1.2.5"),
        ("files.read@1.2.0", "1.2.0"),  # exact
        ("files.read@2", "2.0.0"),
        ("files.read@2.0", "2.0.0"),
        ("files.read@3", "3.0.0rc1"),  # a pre-release when nothing else matches
        ("files.read@3.0.0rc1", "3.0.0rc1"),
    ],
)
def test_version_references_pick_the_highest_match(registry: Registry, ref: str, version: str) -> None:
    assert registry.get(ref).version == version


def test_a_version_argument_overrides_the_reference(registry: Registry) -> None:
    assert registry.get("files.read", "1.2").version == "1.2.5"
    assert registry.get("files.read@2", "1").version == "1.10.0"


def test_unknown_tool_suggests_the_closest_name(registry: Registry) -> None:
    with pytest.raises(ToolNotFound) as info:
        registry.get("files.raed")

    assert str(info.value) == "no tool named 'files.raed'"
    assert info.value.hint == "did you mean `files.read`?"
    assert isinstance(info.value, LookupError)


def test_unknown_tool_with_nothing_close_has_no_hint(registry: Registry) -> None:
    with pytest.raises(ToolNotFound) as info:
        registry.get("zzz")

    assert info.value.hint is None


def test_unknown_version_lists_the_available_ones_in_order(registry: Registry) -> None:
    with pytest.raises(ToolNotFound) as info:
        registry.get("files.read@9")

    assert str(info.value) == "no version of 'files.read' matches @9"
    assert info.value.hint == "available versions: 1.0.0, 1.2.0, 1.2.5, 1.10.0, 2.0.0, 3.0.0rc1"


def test_a_malformed_version_is_a_clear_value_error(registry: Registry) -> None:
    with pytest.raises(ValueError, match=r"'x\.y' is not a version"):
        registry.get("files.read@x.y")
    assert registry.find("files.read@x.y") is None


def test_find_and_contains(registry: Registry) -> None:
    assert registry.find("files.read@1.2").version == "1.2.5"
    assert registry.find("files.read@7") is None
    assert registry.find("nope") is None
    assert "files.read@1" in registry
    assert "files.read@7" not in registry
    assert 42 not in registry


def test_listing_gives_latest_versions_in_name_order(registry: Registry) -> None:
    assert [s.ref for s in registry.list()] == ["files.read@2.0.0", "files.write@1.0.0", "text.render@1.0.0"]
    assert [s.ref for s in registry] == ["files.read@2.0.0", "files.write@1.0.0", "text.render@1.0.0"]
    assert [s.version for s in registry.list(all_versions=True)][:6] == [
        "1.0.0",
        "1.2.0",
        "1.2.5",
        "1.10.0",
        "2.0.0",
        "3.0.0rc1",
    ]
    assert registry.names() == ["files.read", "files.write", "text.render"]
    assert registry.versions("files.read")[-1] == "3.0.0rc1"
    assert len(registry) == 8


def test_registering_the_same_version_replaces_it_unless_told_not_to(registry: Registry) -> None:
    registry.register(ToolSpec(name="files.write", summary="new"))
    assert registry.get("files.write").summary == "new"
    assert len(registry.versions("files.write")) == 1

    with pytest.raises(ValueError, match=r"files.write@1.0.0 is already registered"):
        registry.register(spec("files.write"), replace=False)


def test_registering_a_bad_version_is_refused() -> None:
    with pytest.raises(ValueError, match="'banana' is not a version"):
        Registry().register(spec("x", "banana"))


def test_unregister_one_version_or_all(registry: Registry) -> None:
    registry.unregister("files.read", "2.0.0")
    assert registry.get("files.read").version == "1.10.0"

    registry.unregister("files.read")
    assert "files.read" not in registry.names()
    registry.unregister("files.write", "1.0.0")
    assert registry.names() == ["text.render"]


def test_generation_counts_changes(registry: Registry) -> None:
    before = registry.generation
    registry.register(spec("new"))
    registry.unregister("new")

    assert registry.generation == before + 2


def test_listeners_hear_registrations_and_removals_until_unsubscribed(registry: Registry) -> None:
    heard: list[tuple[str, str]] = []
    stop = registry.subscribe(lambda event, s: heard.append((event, s.ref)))

    registry.register(spec("a.tool", "1.0.0"))
    registry.register(spec("a.tool", "1.1.0"))
    registry.unregister("a.tool")
    stop()
    registry.register(spec("b.tool"))
    stop()  # a second call is harmless

    assert heard == [
        ("registered", "a.tool@1.0.0"),
        ("registered", "a.tool@1.1.0"),
        ("unregistered", "a.tool@1.0.0"),
        ("unregistered", "a.tool@1.1.0"),
    ]


def test_a_listener_may_read_the_registry_without_deadlock(registry: Registry) -> None:
    seen: list[int] = []
    registry.subscribe(lambda event, s: seen.append(len(registry.list(all_versions=True))))

    registry.register(spec("c.tool"))

    assert seen == [9]


def test_concurrent_writers_and_readers_see_consistent_registries() -> None:
    registry = Registry()
    writers, per_writer, readers = 8, 150, 4
    heard: list[str] = []
    heard_lock = threading.Lock()

    def listen(event: str, s: ToolSpec) -> None:
        with heard_lock:
            heard.append(s.ref)

    registry.subscribe(listen)
    start = threading.Barrier(writers + readers)
    writing_done = threading.Event()
    failures: list[BaseException] = []

    def write(w: int) -> None:
        start.wait()
        for i in range(per_writer):
            # every writer also adds versions of one shared tool
            registry.register(spec(f"w{w}.t{i}"))
            registry.register(spec("shared", f"{w}.{i}.0"))

    def read() -> None:
        start.wait()
        try:
            while not writing_done.is_set():
                listing = registry.list()
                names = [s.name for s in listing]
                assert names == sorted(set(names))  # name order, one entry per name
                everything = registry.list(all_versions=True)
                # nothing is ever removed, so a later snapshot holds all of an earlier one
                assert {s.ref for s in listing} <= {s.ref for s in everything}
                if "shared" in names:
                    assert registry.get("shared").name == "shared"
        except BaseException as exc:  # surfaced in the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads[:writers]:
        t.join()
    writing_done.set()
    for t in threads[writers:]:
        t.join()

    assert failures == []
    assert len(registry) == writers * per_writer * 2
    assert len(registry.names()) == writers * per_writer + 1
    assert len(registry.versions("shared")) == writers * per_writer
    assert registry.get("shared").version == f"{writers - 1}.{per_writer - 1}.0"
    assert len(heard) == writers * per_writer * 2
    assert registry.generation == writers * per_writer * 2


# -- version helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("files.read", ("files.read", None)),
        ("files.read@1", ("files.read", "1")),
        ("files.read@", ("files.read", None)),
        ("files.read@latest", ("files.read", "latest")),
    ],
)
def test_split_ref(ref: str, parts: tuple[str, str | None]) -> None:
    assert split_ref(ref) == parts


@pytest.mark.parametrize(
    ("version", "wanted", "ok"),
    [
        ("1.2.3", None, True),
        ("1.2.3", "latest", True),
        ("1.2.3", "*", True),
        ("1.2.3", "1", True),
        ("1.2.3", "1.2", True),
        ("1.2.3", "1.2.3", True),
        ("1.2.3", "1.3", False),
        ("1.2.3", "2", False),
        ("1.20.0", "1.2", False),
        ("1.0", "1.0.0", True),
        ("1", "1.0.0", True),
        ("1", "1.0.1", False),
        ("2.0.0rc1", "2.0.0rc1", True),
        ("2.0.0", "2.0.0rc1", False),
    ],
)
def test_matches(version: str, wanted: str | None, ok: bool) -> None:
    assert matches(version, wanted) is ok


def test_newest_prefers_final_releases() -> None:
    assert newest(["1.0.0", "1.10.0", "1.9.0"]) == "1.10.0"
    assert newest(["1.0.0", "2.0.0b1"]) == "1.0.0"
    assert newest(["2.0.0a1", "2.0.0b1"]) == "2.0.0b1"


def test_a_failing_listener_neither_stops_the_change_nor_the_other_listeners(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []

    def broken(event: str, s: ToolSpec) -> None:
        raise RuntimeError("widget gone")

    registry.subscribe(broken)
    registry.subscribe(lambda event, s: heard.append(f"{event} {s.ref}"))

    registry.register(spec("d.tool"))
    registry.unregister("d.tool")

    assert heard == ["registered d.tool@1.0.0", "unregistered d.tool@1.0.0"]
    assert "d.tool" not in registry.names()
    assert "registry listener" in caplog.text and "widget gone" in caplog.text


def test_register_completes_while_the_first_index_build_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolnexus.registry.search_index import SearchIndex

    registry = Registry([ToolSpec(name=f"bulk.tool{i}", summary=f"bulk tool number {i}") for i in range(2000)])
    registry.register(ToolSpec(name="old.gone", summary="a parquet tool that will be retired"))
    building, registered = threading.Event(), threading.Event()
    original = SearchIndex.add_many

    def held_open(self: SearchIndex, specs: list[ToolSpec]) -> None:
        building.set()  # the build has its snapshot; keep it going until the register below is done
        assert registered.wait(30), "register waited for the index build"
        original(self, specs)

    monkeypatch.setattr(SearchIndex, "add_many", held_open)
    results: list[list[str]] = []
    searcher = threading.Thread(target=lambda: results.append([h.name for h in registry.search("parquet")]))
    searcher.start()
    assert building.wait(30)
    writer = threading.Thread(
        target=lambda: (
            registry.register(ToolSpec(name="csv.to_parquet", summary="Convert CSV to Parquet")),
            registry.unregister("old.gone"),
            registered.set(),
        )
    )
    writer.start()
    writer.join(30)
    assert registered.is_set()  # the writer was not blocked by the build holding the registry lock
    searcher.join(30)
    # Changes made during the build are in the index the first search used and in later ones.
    assert results == [["csv.to_parquet"]]
    assert [h.name for h in registry.search("parquet")] == ["csv.to_parquet"]
