"""Where every value of a YAML document sits: `Positions`, the `Path` into the data, and `YamlLimits`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from toolnexus.core.diagnostics import Diagnostic

Path = tuple[str | int, ...]
"""A path into the data: mapping keys and list indexes."""


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on one YAML document, so that hostile input is refused in bounded time and memory.

    The defaults leave room for a 100,000-step mission (5.6 MB, 800,000 values) and keep the
    loader under a few hundred MB whatever the input.
    """

    max_bytes: int = 10 * 1024 * 1024
    """Size of the document in UTF-8 bytes."""
    max_depth: int = 128
    """Nesting of lists and mappings (the document's top level is 1)."""
    max_nodes: int = 1_000_000
    """Values (scalars, lists, mappings) written in the document."""
    max_alias_nodes: int = 100_000
    """Values that aliases (``*name``) stand for, counted as if each alias were written out."""

    def __post_init__(self) -> None:
        # Values nested deeper than 200 outgrow the recursion of what reads them later (the
        # plan's serialisation among others), so a larger bound would only move the crash.
        if not 1 <= self.max_depth <= MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {MAX_DEPTH}, not {self.max_depth}")
        if min(self.max_bytes, self.max_nodes) < 1 or self.max_alias_nodes < 0:
            raise ValueError("max_bytes and max_nodes must be positive, max_alias_nodes at least 0")


MAX_DEPTH = 200
"""The largest nesting bound that may be configured."""


DEFAULT_LIMITS = YamlLimits()


def _raise_hint(key: str, what: str = "large") -> str:
    return f"or raise `{key}` under `[mission]` in toolnexus.toml if the file is meant to be this {what}"


class Positions:
    """Where each value (and each mapping key) of a loaded document starts; 1-based line and column."""

    def __init__(self, file: str | None, text: str | None = None, limits: YamlLimits = DEFAULT_LIMITS) -> None:
        self.file = file
        # Given the text, positions are worked out on first use: a document that validates never
        # needs them, and recording one per node is a fifth of loading a large mission.
        self._text = text
        self._limits = limits
        self._values: dict[Path, tuple[int, int]] | None = None if text is not None else {}
        self._keys: dict[Path, tuple[int, int]] = {}

    @property
    def values(self) -> dict[Path, tuple[int, int]]:
        """Where each value starts, by its path in the document (worked out from the text on first use)."""
        self._ensure()
        assert self._values is not None
        return self._values

    @property
    def keys(self) -> dict[Path, tuple[int, int]]:
        """Where each mapping key starts, by the path of the value it names (worked out on first use)."""
        self._ensure()
        return self._keys

    def _ensure(self) -> None:
        if self._values is not None:
            return
        self._values = {}
        # Imported here: reading and building produce Positions, so they import this module.
        from toolnexus.core.yamlpos.build import _build
        from toolnexus.core.yamlpos.reading import compose
        from toolnexus.core.yamlpos.resolver import _yaml

        yaml = _yaml()
        node = compose(self._text or "", self.file, self._limits, yaml)
        if node is not None:
            _build(node, (), self, yaml.constructor, [])

    def at(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int | None, int | None]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return None, None
            path = path[:-1]

    def diagnostic(
        self, path: Sequence[str | int], message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        """A :class:`Diagnostic` with ``message`` pointing at ``path`` (at its key when ``key``), or its nearest
        positioned ancestor."""
        line, column = self.at(path, key=key)
        return Diagnostic(message=message, file=self.file, line=line, column=column, hint=hint)

