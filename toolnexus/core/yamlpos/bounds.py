"""What both YAML readers share (the node tree for positions, the event loader for data): reading the one
document of a stream, and the hostile-input bounds — how many values a document holds, how deep it nests,
and how many values its aliases stand for."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.composer import ComposerError
from ruamel.yaml.events import StreamEndEvent

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.yamlpos.positions import YamlLimits, _raise_hint


class Bounded:
    """Counts values and alias expansions as a reader goes, and refuses a document past its limits at the
    event that crosses them, with the line and column and a hint naming the setting to raise. A reader
    says how it reads the root value (:meth:`root`); :meth:`document` reads the stream around it."""

    def __init__(self, parser: Any, file: str | None, limits: YamlLimits) -> None:
        self.parser = parser
        self.file = file
        self.limits = limits
        self.nodes = 0
        self.aliased = 0
        self.open: list[Any] = []  # the lists and mappings still open, innermost last

    def root(self) -> Any:
        """The document's root value, read from the parser (a reader's own)."""
        raise NotImplementedError

    def document(self) -> Any:
        """What :meth:`root` reads of the one document in the stream (None when the stream is empty)."""
        parser = self.parser
        parser.get_event()  # stream start
        if parser.check_event(StreamEndEvent):
            parser.get_event()
            return None
        parser.get_event()  # document start
        root_mark = parser.peek_event().start_mark
        root = self.root()
        parser.get_event()  # document end
        if not parser.check_event(StreamEndEvent):
            event = parser.get_event()
            raise ComposerError(
                "expected a single document in the stream", root_mark, "but found another document", event.start_mark
            )
        parser.get_event()
        return root

    def refusal(self, event: Any, message: str, hint: str) -> DiagnosticError:
        """The error refusing the document at ``event``."""
        mark = event.start_mark
        return DiagnosticError(
            [Diagnostic(message=message, file=self.file, line=mark.line + 1, column=mark.column + 1, hint=hint)]
        )

    def too_many(self, event: Any) -> DiagnosticError:
        """The error refusing a document that holds more values than ``max_nodes`` (``event``: the one past it)."""
        return self.refusal(
            event,
            f"the document holds more than {self.limits.max_nodes:,} values",
            "split it into smaller missions, " + _raise_hint("max_nodes"),
        )

    def entering(self, event: Any) -> None:
        """A list or mapping starts at ``event``: one more value, one level deeper."""
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self.too_many(event)
        if len(self.open) >= self.limits.max_depth:
            raise self.refusal(
                event,
                f"the document nests lists and mappings more than {self.limits.max_depth} levels deep",
                "flatten the data, " + _raise_hint("max_depth", "deep"),
            )

    def aliasing(self, event: Any, defined: bool, size: int | None) -> None:
        """The alias at ``event`` names an anchor (``defined``) standing for ``size`` values (None: still open)."""
        name = event.anchor
        if not defined:
            raise ComposerError(None, None, f"found undefined alias {name!r}", event.start_mark)
        if size is None:
            raise self.refusal(
                event,
                f"the alias `*{name}` is inside the value it names (`&{name}`): a value cannot contain itself",
                f"write the value out, or move `*{name}` after the end of the value anchored `&{name}`",
            )
        self.aliased += size
        if self.aliased > self.limits.max_alias_nodes:
            raise self.refusal(
                event,
                f"the aliases of the document stand for more than {self.limits.max_alias_nodes:,} values "
                "(aliases that repeat aliases grow exponentially)",
                "write the repeated values out or use fewer aliases, " + _raise_hint("max_alias_nodes"),
            )
