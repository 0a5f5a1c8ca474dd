"""Parser events straight to plain data, within :class:`YamlLimits`: loading a document for use.

A document loaded for use (a mission that validates) never needs a node tree: the tree of a
100,000-step mission is ~900,000 nodes and their marks (a quarter of a GB) built only to be walked
once. Here each event goes straight into the dict or list being read, and only the start mark of
each value is looked at (for the problems that point at it). The data and the problems are those of
composing the node tree and building it (:mod:`~toolnexus.core.yamlpos.composer`,
:mod:`~toolnexus.core.yamlpos.build`), which stay the way :class:`Positions` are worked out when an
error needs them:

- the same bounds (depth, values, what aliases stand for; an alias to an open value refused);
- every alias a copy of its value (the tree built it afresh at each alias), the duplicate and
  non-scalar keys inside the anchored value reported again at each alias (a scalar without a value
  once), and an aliased key's problems at its anchor;
- keys: a plain string as is, another scalar as its string (``1`` → ``"1"``, null → ``"None"``),
  a list or mapping reported and its entry dropped (with the problems of its value, never built);
- ``<<:`` merges, written keys winning; duplicate keys reported, the last one kept.
"""

from __future__ import annotations

import copy
from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.tag import Tag

from toolnexus.core.diagnostics import Diagnostic
from toolnexus.core.yamlpos.bounds import Bounded
from toolnexus.core.yamlpos.build import _merge_into
from toolnexus.core.yamlpos.composer import _Scalar
from toolnexus.core.yamlpos.positions import YamlLimits
from toolnexus.core.yamlpos.resolver import _DEFAULT_STR, _MERGE, _STR, _rules
from toolnexus.core.yamlpos.syntax import _scalar_problem

_KEY: Any = object()
"""A mapping's next value is a key."""
_MERGE_KEY: Any = object()
"""The key read was ``<<``: the value is merged."""
_SKIP: Any = object()
"""The key read was a list or mapping (reported): the value is dropped."""


_STARTS = (MappingStartEvent, SequenceStartEvent)
_ENDS = (MappingEndEvent, SequenceEndEvent)
_MORE: Any = object()
"""The document's root value is not read yet."""


class _Frame:
    """A list or mapping being read."""

    __slots__ = (
        "anchor", "explicit", "is_list", "key", "mark", "plain", "problems_from", "skip_from", "start", "value",
    )

    def __init__(self, is_list: bool, mark: Any, anchor: str | None, problems_from: int, start: int) -> None:
        self.is_list = is_list
        self.value: Any = [] if is_list else {}  # a list when is_list, else a dict
        self.mark = mark
        self.anchor = anchor
        self.problems_from = problems_from  # the problems found inside, repeated at each alias
        # The values read and aliases expanded before it: what it stands for (itself, its items, and what its
        # aliases stand for) is the count since, taken as it ends, not added up value by value.
        self.start = start
        self.key: Any = _KEY
        # The keys written here, once a `<<:` merged others (which written keys override, and which may be
        # overridden): until then they are the dict's keys, and no set is kept.
        self.explicit: set[str] | None = None
        self.plain = not is_list  # a mapping without merged keys: a key not in the dict is a new one
        # (skip_from, where the problems of a dropped key's value start, is set with the key _SKIP)


class _Anchored:
    """What an anchor names: its value (copied at each alias), size, start mark and the problems found in it."""

    __slots__ = ("frame", "is_merge", "mark", "problems", "said", "size", "value")

    def __init__(self, value: Any, size: int | None, mark: Any, problems: list[Diagnostic], is_merge: bool = False,
                 frame: _Frame | None = None) -> None:
        self.value, self.size, self.mark, self.problems, self.is_merge = value, size, mark, problems, is_merge
        self.frame = frame  # the open list or mapping (size None) until its end
        self.said: list[Diagnostic] = []  # a scalar's own problem, said once where it is written


class _Loader(Bounded):
    """Events to plain data without recursion and without nodes, within :class:`YamlLimits`."""

    def __init__(self, parser: Any, file: str | None, limits: YamlLimits, constructor: Any,
                 problems: list[Diagnostic]) -> None:
        super().__init__(parser, file, limits)
        self.constructor = constructor
        self.problems = problems
        self.anchors: dict[str, _Anchored] = {}
        self.open: list[_Frame] = []
        # A scalar without a value is said once: the node tree's constructor gave None at its aliases.
        self.said_once: set[int] = set()
        self.strings: dict[str, str] = {}
        # The plain scalars that start as a rule's match may (`n` as null, `t` as true) and resolved to a string.
        self.resolved: set[str] = set()

    def root(self) -> Any:
        """The root value: a scalar, or a list or mapping (read by :meth:`contents`)."""
        value = self.read(self.parser.get_event())
        return value if value is not _MORE else self.contents()

    def contents(self) -> Any:
        """The root list or mapping just started, read event by event to its end.

        The hot loop of loading a mission (a million events for 100,000 steps, each costing more here than the
        parser takes to make it): the common events are handled inline — a plain string going into the list or
        mapping being read, and the start and end of one without an anchor — and every other by :meth:`read`.
        Every event here goes into an open list or mapping: the root's end goes to :meth:`read`, which returns it.
        """
        get_event, stack, rules, read, place = self.parser.get_event, self.open, _rules(), self.read, self.place
        problems = self.problems
        max_nodes = self.limits.max_nodes
        # One string object per distinct text: the parser makes a new one per scalar, and a large
        # mission repeats most of them (keys, tool names, the step ids its `needs:` name).
        shared, resolved = self.strings.setdefault, self.resolved
        while True:
            event = get_event()
            kind = type(event)
            # A plain string: no tag, no anchor, and quoted, or starting with a character that no YAML 1.2 rule
            # (null, bool, number, merge) starts with, or already resolved to a string (`needs`, `name`).
            if (kind is ScalarEvent and event.ctag is None and event.anchor is None
                    and (not event.implicit[0] or event.value[:1] not in rules or event.value in resolved)):
                self.nodes += 1
                if self.nodes > max_nodes:
                    raise self.too_many(event)
                value = shared(event.value, event.value)
                top = stack[-1]
                key = top.key
                if key is _KEY and top.plain and value not in top.value:
                    top.key = value  # a new key
                    continue
                mark = event.start_mark
            elif kind in _STARTS and event.anchor is None:
                begun = self.nodes + self.aliased
                self.entering(event)
                stack.append(_Frame(kind is SequenceStartEvent, event.start_mark, None, len(problems), begun))
                continue
            elif kind in _ENDS and len(stack) > 1 and stack[-1].anchor is None:
                done = stack.pop()
                value, mark, top = done.value, done.mark, stack[-1]
                key = top.key
            else:
                value = read(event)
                if value is not _MORE:
                    return value
                continue
            if type(key) is str:  # the value of a key read (not one of the markers _KEY, _SKIP, _MERGE_KEY)
                top.value[key] = value
                top.key = _KEY
            elif top.is_list:
                top.value.append(value)
            else:
                place(top, value, mark, False)  # a key

    def read(self, event: Any) -> Any:
        """Read any event but a plain string going into a list or mapping; the root value once it is read."""
        kind = type(event)
        is_merge = False
        if kind is ScalarEvent:
            self.nodes += 1
            if self.nodes > self.limits.max_nodes:
                raise self.too_many(event)
            value, is_merge = self.scalar(event, self.open)
            mark = event.start_mark
        elif kind is SequenceStartEvent or kind is MappingStartEvent:
            self.start(event, kind is SequenceStartEvent)
            return _MORE
        elif kind is AliasEvent:
            value, mark, is_merge = self.alias(event)
        else:  # the end of a list or mapping
            value, mark = self.end()
        if not self.open:
            return value
        self.place(self.open[-1], value, mark, is_merge)
        return _MORE

    def place(self, top: _Frame, value: Any, mark: Any, is_merge: bool) -> None:
        """Put ``value`` (starting at ``mark``; ``is_merge``: the key ``<<``) into the list or mapping ``top``."""
        key = top.key
        if key is _KEY:
            if top.is_list:
                top.value.append(value)
            else:
                self.key(top, value, mark, is_merge)
        elif key is _SKIP or key is _MERGE_KEY:
            self.special(top, key, value)
        else:
            top.value[key] = value
            top.key = _KEY

    def scalar(self, event: Any, stack: list[_Frame]) -> tuple[Any, bool]:
        """A scalar that may not be a plain string: resolved by the YAML 1.2 rules (the resolver's own, by its first
        character) or its tag, and its anchor recorded; its value, and whether it is the merge key ``<<``."""
        tag, value, is_merge = event.ctag, event.value, False
        if tag is None or str(tag) == "!":
            tag = _DEFAULT_STR
            if event.implicit[0]:
                for rule_tag, regexp in _rules().get(value[:1], ()):
                    if regexp.match(value):
                        tag = Tag(suffix=rule_tag)
                        break
                else:
                    if event.ctag is None:
                        self.resolved.add(value)
        if tag is _DEFAULT_STR:
            value = self.strings.setdefault(value, value)
        else:
            as_key = bool(stack) and stack[-1].key is _KEY and not stack[-1].is_list
            before = len(self.problems)
            value, is_merge = self.constructed(tag, event, as_key)
            if event.anchor is not None:
                anchored = self.anchors[event.anchor] = _Anchored(value, 1, event.start_mark, [], is_merge)
                anchored.said = self.problems[before:]
                return value, is_merge
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, 1, event.start_mark, [], is_merge)
        return value, is_merge

    def constructed(self, tag: Any, event: Any, as_key: bool) -> tuple[Any, bool]:
        """A scalar that is not a plain string: its value (None, reported, when it has none), and whether it is
        the merge key ``<<`` (a key, so not constructed)."""
        node = _Scalar(tag, event.value, event.start_mark, event.style, event.anchor)
        name = node.tag
        if name == _STR:
            return event.value, False
        if as_key and name == _MERGE:
            return None, True
        try:
            return self.constructor.construct_object(node, deep=True), name == _MERGE
        except (YAMLError, ValueError, TypeError, OverflowError) as exc:
            problem = _scalar_problem(node, exc, self.file)
            self.said_once.add(id(problem))
            self.problems.append(problem)
            return None, name == _MERGE

    def special(self, frame: _Frame, key: Any, value: Any) -> None:
        """The value of a dropped key (a list or mapping, reported) or of ``<<``."""
        frame.key = _KEY
        if key is _SKIP:
            # The value of a dropped key is not read at all: its problems go, and are no longer "said once" (an
            # alias of an anchor inside it is then read where it is used, and the ids may be reused).
            self.said_once.difference_update(id(p) for p in self.problems[frame.skip_from :])
            del self.problems[frame.skip_from :]
        else:
            if frame.explicit is None:  # the first merge: until now, the keys written are the dict's
                frame.explicit = set(frame.value)
                frame.plain = False
            _merge_into(frame.value, value, frame.explicit)

    def key(self, frame: _Frame, key: Any, mark: Any, is_merge: bool) -> None:
        """A mapping key read: ``<<``, a duplicate (reported), or a list or mapping (reported, its entry dropped)."""
        if is_merge:
            frame.key = _MERGE_KEY
            return
        if not isinstance(key, str):
            if not isinstance(key, int | float | bool) and key is not None:
                self.problems.append(self.at(mark, "a mapping key must be a plain scalar"))
                frame.key, frame.skip_from = _SKIP, len(self.problems)
                return
            key = str(key)
        explicit = frame.explicit
        if key in (frame.value if explicit is None else explicit):
            self.problems.append(self.at(mark, f"duplicate key {key!r}", "each key may appear once"))
        if explicit is not None:
            explicit.add(key)
        frame.key = key

    def at(self, mark: Any, message: str, hint: str | None = None) -> Diagnostic:
        return Diagnostic(message=message, file=self.file, line=mark.line + 1, column=mark.column + 1, hint=hint)

    def start(self, event: Any, is_list: bool) -> None:
        begun = self.nodes + self.aliased
        self.entering(event)
        frame = _Frame(is_list, event.start_mark, event.anchor, len(self.problems), begun)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(frame.value, None, event.start_mark, [], frame=frame)
        self.open.append(frame)

    def end(self) -> tuple[Any, Any]:
        done = self.open.pop()
        if done.anchor is not None:
            anchored = self.anchors[done.anchor]
            if anchored.frame is done:  # not redefined inside
                # Itself, and every value read and alias expanded since it started.
                anchored.size, anchored.frame = self.nodes + self.aliased - done.start, None
                anchored.problems = [p for p in self.problems[done.problems_from :] if id(p) not in self.said_once]
        return done.value, done.mark

    def alias(self, event: Any) -> tuple[Any, Any, bool]:
        anchored = self.anchors.get(event.anchor)
        self.aliasing(event, anchored is not None, anchored.size if anchored is not None else 0)
        assert anchored is not None
        # The node tree built an alias afresh: a copy, with the problems found in it said again.
        self.problems.extend(anchored.problems)
        for problem in anchored.said:  # said once where written, unless that was in a dropped entry
            if id(problem) not in self.said_once:
                self.said_once.add(id(problem))
                self.problems.append(problem)
        value = copy.deepcopy(anchored.value) if isinstance(anchored.value, list | dict) else anchored.value
        return value, anchored.mark, anchored.is_merge

