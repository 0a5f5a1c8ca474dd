"""The bounded, iterative composer: events to nodes, refusing deep nesting, too many values and alias bombs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.events import (
    AliasEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

from toolnexus.core.yamlpos.bounds import Bounded
from toolnexus.core.yamlpos.positions import YamlLimits
from toolnexus.core.yamlpos.resolver import _DEFAULT_STR, _rules


class _Scalar(ScalarNode):
    """A scalar node made without ruamel's generic constructors (a third of composing a mission).

    Only the start mark is kept: nothing reads the end of a value, and a million marks less is a
    hundred MB less for a document at the bound.
    """

    __slots__ = ()

    def __init__(self, tag: Tag, value: str, start_mark: Any, style: Any, anchor: str | None) -> None:
        self.ctag, self.value, self.start_mark, self.end_mark = tag, value, start_mark, None
        self.style, self.anchor, self.comment = style, anchor, None


@dataclass
class _Open:
    """A list or mapping whose items are being read."""

    node: CollectionNode
    anchor: str | None
    items: list[Node] = field(default_factory=list)
    size: int = 1  # values it stands for: itself, its items, and what its aliases stand for


class _Composer(Bounded):
    """Events to nodes without recursion, within :class:`YamlLimits`.

    Each anchor keeps the number of values it stands for, so an alias adds that number to a running
    count in constant time: an alias bomb is refused at the alias that crosses the bound, having
    expanded nothing. An alias to a list or mapping that is still open (``&a [*a]``) is refused too:
    it would make a cyclic value.
    """

    def __init__(self, parser: Any, file: str | None, limits: YamlLimits) -> None:
        super().__init__(parser, file, limits)
        self.anchors: dict[str, tuple[Node, int | None]] = {}  # size None: still open
        self.open: list[_Open] = []

    def root(self) -> Node:
        """The document's root node, read event by event (the hot loop of loading a mission)."""
        get_event, stack, rules = self.parser.get_event, self.open, _rules()
        max_nodes = self.limits.max_nodes
        node: Node
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                self.nodes += 1
                if self.nodes > max_nodes:
                    raise self.too_many(event)
                # Inline resolution (the resolver's own, by a plain scalar's first character):
                # most scalars are plain strings, and a call per scalar is felt on a large mission.
                tag, value = event.ctag, event.value
                if tag is None or str(tag) == "!":
                    tag = _DEFAULT_STR
                    if event.implicit[0]:
                        for rule_tag, regexp in rules.get(value[:1], ()):
                            if regexp.match(value):
                                tag = Tag(suffix=rule_tag)
                                break
                node, size = _Scalar(tag, value, event.start_mark, event.style, event.anchor), 1
                if event.anchor is not None:
                    self.anchors[event.anchor] = (node, 1)
            elif kind is SequenceStartEvent or kind is MappingStartEvent:
                self.start(event, SequenceNode if kind is SequenceStartEvent else MappingNode)
                continue
            elif kind is AliasEvent:
                node, size = self.alias(event)
            else:  # the end of a list or mapping
                node, size = self.end(event)
            if not stack:
                return node
            top = stack[-1]
            top.items.append(node)
            top.size += size

    def start(self, event: Any, kind: type[CollectionNode]) -> None:
        self.entering(event)
        tag = event.ctag
        if tag is None or str(tag) == "!":
            tag = self.parser.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style, anchor=event.anchor)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, None)
        self.open.append(_Open(node, event.anchor))

    def end(self, event: Any) -> tuple[Node, int]:
        done = self.open.pop()
        node = done.node
        node.end_mark = event.end_mark
        items = done.items
        node.value = list(zip(items[::2], items[1::2], strict=True)) if isinstance(node, MappingNode) else items
        if done.anchor is not None and self.anchors[done.anchor][0] is node:  # not redefined inside
            self.anchors[done.anchor] = (node, done.size)
        return node, done.size

    def alias(self, event: Any) -> tuple[Node, int]:
        node, size = self.anchors.get(event.anchor, (None, 0))
        self.aliasing(event, event.anchor in self.anchors, size)
        assert node is not None and size is not None
        return node, size


