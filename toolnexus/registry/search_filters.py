"""Filters as slot masks, computed from attribute postings before ranking.

A filtered search must still return ``k`` hits when ``k`` matching tools exist, and it must not test
every candidate in Python. So each filterable attribute (namespace prefix, tag, tier, runtime, lifecycle)
keeps the sorted slots of the tools carrying each value, and a :class:`Toolset` becomes a boolean mask
with a few vectorised unions and intersections. Masks are cached until the index changes, because a
person typing in the tool browser repeats the same filter on every keystroke.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

import numpy as np

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.search_postings import Postings
from toolnexus.registry.toolsets import Toolset

_WILDCARDS = frozenset("*?[")


def attributes(spec: ToolSpec) -> list[tuple[str, str]]:
    """The ``(attribute, value)`` pairs a toolset may filter ``spec`` on."""
    parts = spec.name.split(".")
    # Every proper dotted prefix: ``a.b.c`` is in namespace ``a`` and ``a.b`` (Toolset.matches' rule).
    pairs = [("namespace", ".".join(parts[:i])) for i in range(1, len(parts))]
    if spec.namespace == "":
        pairs.append(("namespace", ""))
    pairs += [("tag", tag) for tag in dict.fromkeys(spec.tags)]
    pairs += [("tier", str(spec.tier)), ("runtime", spec.runtime), ("lifecycle", str(spec.lifecycle))]
    return pairs


class FilterIndex:
    """Slots by attribute value, and the masks of toolsets over them."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], Postings] = {}
        self._masks: dict[str, np.ndarray] = {}

    def add(self, slot: int, spec: ToolSpec) -> None:
        """Index the filterable attributes of ``spec`` under ``slot``."""
        for pair in attributes(spec):
            postings = self._values.get(pair)
            if postings is None:
                postings = self._values[pair] = Postings()
            postings.append(slot)
        self._masks.clear()

    def add_many(self, first: int, specs: list[ToolSpec]) -> None:
        """``add`` for each of ``specs`` at slots ``first, first + 1, ...``, one extend per value."""
        new: dict[tuple[str, str], list[int]] = {}
        for slot, spec in enumerate(specs, first):
            for pair in attributes(spec):
                slots = new.get(pair)
                if slots is None:
                    new[pair] = [slot]
                else:
                    slots.append(slot)
        for pair, slots in new.items():
            postings = self._values.get(pair)
            if postings is None:
                postings = self._values[pair] = Postings()
            postings.extend(slots)
        self._masks.clear()

    def remove(self, slot: int, spec: ToolSpec) -> None:
        """Forget the filterable attributes ``spec`` had under ``slot``."""
        for pair in attributes(spec):
            postings = self._values.get(pair)
            if postings is not None:
                postings.discard(slot)
                if not postings:
                    del self._values[pair]
        self._masks.clear()

    def _any_of(self, attribute: str, values: list[str], size: int) -> np.ndarray:
        mask = np.zeros(size, dtype=bool)
        for value in values:
            postings = self._values.get((attribute, value))
            if postings is not None:
                mask[postings.arrays()[0]] = True
        return mask

    def mask(
        self, toolset: Toolset, size: int, names: list[str | None], slot_of: Callable[[str], int | None]
    ) -> np.ndarray:
        """Which of ``size`` slots ``toolset`` admits (same rules as :meth:`Toolset.matches`).

        ``names`` gives each slot's tool name (``None`` when free); ``slot_of`` finds a name's slot.
        """
        key = toolset.model_dump_json()
        cached = self._masks.get(key)
        if cached is not None and len(cached) == size:
            return cached
        admitted = np.ones(size, dtype=bool)
        criteria = (
            ("namespace", toolset.namespaces),
            ("tag", toolset.tags),
            ("tier", [str(t) for t in toolset.tiers]),
            ("runtime", toolset.runtimes),
            ("lifecycle", [str(s) for s in toolset.lifecycle]),
        )
        for attribute, values in criteria:
            if values:
                admitted &= self._any_of(attribute, values, size)
        for patterns, admit in ((toolset.include, True), (toolset.exclude, False)):
            for slot in self._named(patterns, names, slot_of):
                admitted[slot] = admit
        if len(self._masks) >= 64:  # a bound, not an LRU: filters in use are few
            self._masks.clear()
        self._masks[key] = admitted
        return admitted

    @staticmethod
    def _named(patterns: list[str], names: list[str | None], slot_of: Callable[[str], int | None]) -> list[int]:
        slots: list[int] = []
        for pattern in patterns:
            if _WILDCARDS.isdisjoint(pattern):
                slot = slot_of(pattern)
                slots.extend([] if slot is None else [slot])
            else:
                compiled = re.compile(fnmatch.translate(pattern))
                slots.extend(i for i, name in enumerate(names) if name is not None and compiled.match(name))
        return slots
