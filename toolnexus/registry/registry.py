"""The thread-safe, versioned tool registry."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from toolnexus.core.diagnostics import did_you_mean
from toolnexus.core.spec import ToolSpec
from toolnexus.errors import NotFound
from toolnexus.registry.search import SearchHit, SearchMode
from toolnexus.registry.toolsets import Toolset
from toolnexus.registry.versions import matches, newest, parse_version, split_ref

if TYPE_CHECKING:  # the index imports numpy: loaded on the first search, not with the registry
    from toolnexus.registry.search_index import SearchIndex


class ToolNotFound(NotFound, LookupError):
    """No tool (or no version of it) matches a reference; the message says what exists instead."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message)


RegistryListener = Callable[[str, ToolSpec], None]
log = logging.getLogger("toolnexus.registry")


def _notify(listeners: list[RegistryListener], event: str, spec: ToolSpec) -> None:
    # A broken listener (a widget, a search index) must not undo or hide the change for everyone else.
    for listener in listeners:
        try:
            listener(event, spec)
        except Exception:
            log.exception("registry listener %r failed on %s %s", listener, event, spec.ref)


class Registry:
    """Tools by name and version. Safe for concurrent readers and writers.

    Reads take a snapshot under the lock and work on it afterwards, so a listing is never torn by a
    concurrent ``register``. Listeners hear ``("registered" | "unregistered", spec)`` after each change.
    ``search_mode`` is the default mode of :meth:`search` (``"bm25"``, or ``"hybrid"`` to fuse in the
    ``semantic`` extra's embeddings when it is installed); ``semantic_weight`` weighs the embedding ranking
    against BM25's (1.0) in hybrid mode. Both come from the ``[search]`` settings in a Nexus.
    """

    def __init__(
        self, tools: Iterable[ToolSpec] = (), *, search_mode: SearchMode = "bm25", semantic_weight: float = 1.0
    ) -> None:
        self.search_mode: SearchMode = search_mode
        self.semantic_weight = semantic_weight
        self._lock = threading.RLock()
        self._tools: dict[str, dict[str, ToolSpec]] = {}
        self._listeners: list[RegistryListener] = []
        self._index: SearchIndex | None = None  # built on the first search, then kept current
        self._index_build = threading.Lock()  # one first build at a time; never held with ``_lock``
        self._changed: set[str] | None = None  # names changed while a first build runs outside the lock
        self.generation = 0
        self.problems: list[str] = []  # providers that failed to load, for `toolnexus tools doctor`
        for spec in tools:
            self.register(spec)

    def register(self, spec: ToolSpec, *, replace: bool = True) -> ToolSpec:
        """Add ``spec``; the same name and version replaces the earlier one unless ``replace=False``."""
        parse_version(spec.version)
        with self._lock:
            versions = self._tools.setdefault(spec.name, {})
            if not replace and spec.version in versions:
                raise ValueError(f"{spec.ref} is already registered")
            versions[spec.version] = spec
            self._reindex(spec.name)
            self.generation += 1
            listeners = list(self._listeners)
        _notify(listeners, "registered", spec)
        return spec

    def unregister(self, name: str, version: str | None = None) -> None:
        """Remove one version of a tool, or all of them."""
        with self._lock:
            versions = self._tools.get(name, {})
            removed = (
                [versions.pop(version)] if version in versions else (list(versions.values()) if version is None else [])
            )
            if version is None or not versions:
                self._tools.pop(name, None)
            self._reindex(name)
            self.generation += 1
            listeners = list(self._listeners)
        for spec in removed:
            _notify(listeners, "unregistered", spec)

    def get(self, ref: str, version: str | None = None) -> ToolSpec:
        """The highest version of ``ref`` (``name`` or ``name@version``) that matches; else ToolNotFound.

        Pre-releases are chosen only when pinned exactly or when no final release matches.
        """
        name, ref_version = split_ref(ref)
        wanted = version if version is not None else ref_version
        with self._lock:
            versions = dict(self._tools.get(name, {}))
        if not versions:
            hint = did_you_mean(name, self.names())
            raise ToolNotFound(f"no tool named {name!r}", hint)
        candidates = [v for v in versions if matches(v, wanted)]
        if not candidates:
            available = ", ".join(sorted(versions, key=parse_version))
            raise ToolNotFound(f"no version of {name!r} matches @{wanted}", f"available versions: {available}")
        return versions[newest(candidates)]

    def find(self, ref: str, version: str | None = None) -> ToolSpec | None:
        """The tool as :meth:`get` finds it, or None when there is no such tool or version."""
        try:
            return self.get(ref, version)
        except (ToolNotFound, ValueError):
            return None

    def names(self) -> list[str]:
        """The names of the registered tools, sorted."""
        with self._lock:
            return sorted(self._tools)

    def versions(self, name: str) -> list[str]:
        """The registered versions of tool ``name``, oldest first (none for an unknown name)."""
        with self._lock:
            return sorted(self._tools.get(name, {}), key=parse_version)

    def list(self, *, all_versions: bool = False) -> list[ToolSpec]:
        """Tools in name order: the latest version of each, or every version."""
        with self._lock:
            snapshot = {name: dict(v) for name, v in self._tools.items()}
        out: list[ToolSpec] = []
        for name in sorted(snapshot):
            if all_versions:
                out.extend(snapshot[name][v] for v in sorted(snapshot[name], key=parse_version))
            else:
                out.append(snapshot[name][newest(snapshot[name])])
        return out

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Toolset | Mapping[str, Any] | None = None,
        *,
        mode: SearchMode | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best tools for ``query``, best first, among the latest version of each tool.

        ``filters`` is a :class:`Toolset` or a dict of its fields (namespaces, tags, tiers, runtimes,
        lifecycle, include, exclude); ``None`` admits every tool. ``mode`` (default: ``search_mode``) is
        ``"bm25"`` or ``"hybrid"``; see :meth:`SearchIndex.search`. The index is built on the first search
        and then kept current by every ``register``/``unregister``.
        """
        index = self._index if self._index is not None else self._build_index()
        return index.search(query, k, filters, mode=mode or self.search_mode)

    def _build_index(self) -> SearchIndex:
        # The first build takes a while at catalog scale (about a second per 100k tools), so it runs
        # outside the registry lock: a snapshot is indexed while ``register``/``unregister`` go on and
        # record the names they touch; those are re-indexed from the live tools before the index goes live.
        from toolnexus.registry.search_index import SearchIndex

        with self._index_build:
            if self._index is not None:  # another thread built it while this one waited
                return self._index
            with self._lock:
                snapshot = self.list()
                self._changed = set()
            index = SearchIndex(semantic_weight=self.semantic_weight)
            try:
                index.add_many(snapshot)
            except BaseException:
                with self._lock:
                    self._changed = None
                raise
            with self._lock:
                changed, self._changed = self._changed or set(), None
                self._index = index
                for name in changed:
                    self._reindex(name)
            return index

    def _reindex(self, name: str) -> None:
        # Called under the lock after a change: the index always holds each name's latest version.
        if self._changed is not None:
            self._changed.add(name)
        if self._index is None:
            return
        versions = self._tools.get(name)
        if versions:
            self._index.add(versions[newest(versions)])
        else:
            self._index.remove(name)

    def subscribe(self, listener: RegistryListener) -> Callable[[], None]:
        """Hear about every change; returns a function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self.find(ref) is not None

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._tools.values())

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self.list())
