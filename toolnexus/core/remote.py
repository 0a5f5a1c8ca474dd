"""Outputs kept where they were made: a step output too large to bring back from a Dask worker.

The worker keeps such an output in the cluster and hands back a :class:`RemoteValue` instead — a small
mapping the engine holds, records (state store, MLflow, events) and passes on like any output: its reference,
its size as JSON, and a bounded summary of it. A later step that takes the output whole
(``with: {rows: "${{ steps.read.outputs }}"}``) gets the real value on its worker, moved there worker to
worker by Dask; an expression that looks *inside* it cannot, here, and says so.

A plain ``dict`` subclass, so that every JSON path (the store, MLflow, events, MCP) writes it as what it
looks like: ``{"$toolnexus_remote": "<ref>", "bytes": 123456789, "summary": {...}}``. After a round trip
through JSON it is a plain dict again, which :func:`is_remote` still recognises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from toolnexus.core.errors import ToolFailure

REMOTE_KEY = "$toolnexus_remote"
_seen = [False]  # whether this process was handed a remote value yet: until then nobody looks for one
SUMMARY_BYTES = 1024  # the most of an output's head a summary quotes (as JSON)
HEAD_ITEMS = 3  # the items (or keys) of a list (or mapping) a summary quotes


class RemoteValue(dict[str, Any]):
    """A reference to an output kept on the cluster, with its size and a bounded summary."""

    @classmethod
    def make(cls, ref: str, size: int, value: Any) -> RemoteValue:
        """The reference ``ref`` to ``value`` (``size`` bytes as JSON), summarised."""
        return cls({REMOTE_KEY: ref, "bytes": size, "summary": summary_of(value)})

    def __getitem__(self, key: Any) -> Any:
        # What a template's slice or index of the output would read is not here: say so, not "unhashable".
        if isinstance(key, str) and dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise ToolFailure(inside_remote_message("a step's output", self))

    @property
    def ref(self) -> str:
        """What the cluster keeps the value under."""
        return str(self[REMOTE_KEY])

    @property
    def size(self) -> int:
        """The value's size as JSON, in bytes (at least: a bound measured without writing the JSON out)."""
        return int(self["bytes"])


def note_remote() -> None:
    """This process now holds remote values (the Dask executor says so as one comes back)."""
    _seen[0] = True


def remote_seen() -> bool:
    """Whether this process was ever handed a remote value: the pipeline looks for them in arguments only then
    (the cost of that look is not paid by a process that never uses Dask)."""
    return _seen[0]


def is_remote(value: Any) -> bool:
    """Whether ``value`` is a :class:`RemoteValue` (or its JSON form)."""
    return isinstance(value, dict) and REMOTE_KEY in value and isinstance(value.get(REMOTE_KEY), str)


def remote_refs(value: Any, found: set[str] | None = None, depth: int = 0) -> set[str]:
    """The references of every remote value inside ``value`` (arguments: a few levels deep at most)."""
    found = set() if found is None else found
    if depth > 16:
        return found
    if is_remote(value):
        found.add(str(value[REMOTE_KEY]))
    elif isinstance(value, Mapping):
        for item in value.values():
            remote_refs(item, found, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            remote_refs(item, found, depth + 1)
    return found


def resolve_remote(value: Any, lookup: Callable[[str], Any], depth: int = 0) -> Any:
    """``value`` with each remote value inside replaced by ``lookup(ref)`` (what the cluster kept)."""
    if depth > 16:
        return value
    if is_remote(value):
        return lookup(str(value[REMOTE_KEY]))
    if isinstance(value, Mapping):
        return {key: resolve_remote(item, lookup, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve_remote(item, lookup, depth + 1) for item in value]
    return value


def summary_of(value: Any) -> dict[str, Any]:
    """What a record shows of a large value: its type, its length, and the head of it (≤ ~1 KB as JSON)."""
    summary: dict[str, Any] = {"type": type(value).__name__}
    if isinstance(value, list | tuple | Mapping | str | bytes):
        summary["length"] = len(value)
    if isinstance(value, list | tuple):
        head: Any = list(value[:HEAD_ITEMS])
    elif isinstance(value, Mapping):
        head = {key: value[key] for key in list(value)[:HEAD_ITEMS]}
    else:
        head = value
    text = json.dumps(head, default=str)
    summary["head"] = text if len(text) <= SUMMARY_BYTES else text[:SUMMARY_BYTES] + "…"
    return summary


def inside_remote_message(where: str, value: Mapping[str, Any]) -> str:
    """What an expression that looks inside a remote value is told."""
    return (f"{where} is a large output ({int(value.get('bytes', 0)):,} bytes as JSON) kept on the Dask workers: "
            "pass it whole to a step (it gets the value there), or raise [dask] large_output to bring it back")
