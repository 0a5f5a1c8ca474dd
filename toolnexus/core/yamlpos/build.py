"""Plain data from a node tree, recording where every value and key starts."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from toolnexus.core.diagnostics import Diagnostic
from toolnexus.core.yamlpos.positions import Path, Positions
from toolnexus.core.yamlpos.resolver import _DEFAULT_STR, _MERGE, _STR
from toolnexus.core.yamlpos.syntax import _mark, _scalar_problem


def _build(node: Node, path: Path, positions: Positions | None, constructor: Any, problems: list[Diagnostic],
           file: str | None = None) -> Any:
    """Plain data from ``node``; with ``positions``, also where every value and key starts.

    Without ``positions`` (a document loaded for use, not for an error) ``path`` stays ``()``:
    building a path per node is only worth it when positions are wanted.
    """
    if positions is not None:
        positions._values[path] = _mark(node)  # type: ignore[index]
        file = positions.file
    if isinstance(node, ScalarNode):
        # Most scalars are plain strings: no need for the constructor's machinery (the identity
        # test spares a string conversion of the tag; an explicit `!!str` takes the second test).
        if node.ctag is _DEFAULT_STR or node.tag == _STR:
            return node.value
        try:
            return constructor.construct_object(node, deep=True)
        except (YAMLError, ValueError, TypeError, OverflowError) as exc:
            problems.append(_scalar_problem(node, exc, file))
            return None
    if isinstance(node, SequenceNode):
        if positions is None:
            return [_build(item, path, None, constructor, problems, file) for item in node.value]
        return [_build(item, (*path, i), positions, constructor, problems, file) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        return _build_mapping(node, path, positions, constructor, problems, file)
    return None


def _build_mapping(node: MappingNode, path: Path, positions: Positions | None, constructor: Any,
                   problems: list[Diagnostic], file: str | None) -> dict[Any, Any]:
    """A mapping's dict: merge keys (``<<:``) fill in, written keys win, duplicates and non-scalar keys reported."""
    result: dict[Any, Any] = {}
    explicit: set[str] = set()  # keys written here; merged (`<<:`) keys may be overridden, these may not
    for key_node, value_node in node.value:
        if key_node.ctag is not _DEFAULT_STR and key_node.tag == _MERGE:
            merged = _build(value_node, path, positions, constructor, problems, file)
            _merge_into(result, merged, explicit)
            continue
        key = _key(key_node, path, positions, constructor, problems, file)
        if key is None:
            continue
        if key in explicit:
            line, column = _mark(key_node)
            problems.append(Diagnostic(message=f"duplicate key {key!r}", file=file, line=line, column=column,
                                       hint="each key may appear once"))
        explicit.add(key)
        if positions is not None:
            positions._keys[(*path, key)] = _mark(key_node)
        result[key] = _build(value_node, (*path, key) if positions is not None else path, positions, constructor,
                             problems, file)
    return result


def _merge_into(result: dict[Any, Any], merged: Any, explicit: set[str]) -> None:
    """Add the entries of a merged mapping (or list of them) that no written key overrides."""
    for source in merged if isinstance(merged, list) else [merged]:
        if isinstance(source, dict):
            for k, v in source.items():
                if k not in explicit:
                    result.setdefault(k, v)


def _key(key_node: Node, path: Path, positions: Positions | None, constructor: Any, problems: list[Diagnostic],
         file: str | None) -> str | None:
    """A mapping key as a string, or None (reported) when it is not a plain scalar."""
    if key_node.ctag is _DEFAULT_STR and isinstance(key_node, ScalarNode) and positions is None:
        return key_node.value  # the common key: a plain string
    key = _build(key_node, (*path, "<key>") if positions is not None else path, positions, constructor, problems, file)
    if not isinstance(key, str | int | float | bool) and key is not None:
        line, column = _mark(key_node)
        problems.append(Diagnostic(message="a mapping key must be a plain scalar", file=file, line=line, column=column))
        return None
    return str(key) if not isinstance(key, str) else key
