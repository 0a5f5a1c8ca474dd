"""The default OpenFeature provider: the flags of ``[flags]`` in ``toolnexus.toml`` and, over them, the flags set in
the state store (``toolnexus flags set``), targeted by the call's context.

It is an ordinary OpenFeature provider (``AbstractProvider``): the OpenFeature client evaluates through it as
through flagd or a vendor's, so swapping it for one of those changes no code (``[flags] provider``).

A flag of the store replaces the toml flag of the same name, whole (its default and rules): an operator flips a
flag without editing files. A flag set by another process is seen within :data:`REFRESH_INTERVAL`: an evaluation
asks SQLite's ``data_version`` (a microsecond) at most that often per thread, and reads the table only when the
database changed.
"""

from __future__ import annotations

import fnmatch
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from toolnexus.governance.flag_model import TARGETS, FlagSettings, FlagValue
from toolnexus.store.sqlite import data_version

if TYPE_CHECKING:
    from toolnexus.store.flags import FlagTable

V = TypeVar("V")

log = logging.getLogger("toolnexus.governance")

REFRESH_INTERVAL = 0.1
"""Seconds between two looks at the store for flags set by another process."""


@dataclass(frozen=True, slots=True)
class Target:
    """A rule's matcher on one context attribute: names and fnmatch globs."""

    attribute: str
    patterns: tuple[str, ...]

    def match(self, context: Mapping[str, Any]) -> bool:
        """Whether the context's attribute is one of the names or matches one of the globs."""
        value = context.get(self.attribute)
        return value is not None and any(fnmatch.fnmatchcase(str(value), p) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    """A flag ready to evaluate: ``(targets, value)`` rules in order, then the default."""

    default: FlagValue
    rules: tuple[tuple[tuple[Target, ...], FlagValue], ...]

    @classmethod
    def of(cls, flag: FlagSettings) -> CompiledFlag:
        """The compiled form of ``flag``."""
        rules = tuple((tuple(Target(attr, tuple(getattr(rule, key))) for key, attr in TARGETS
                             if getattr(rule, key) is not None), rule.value) for rule in flag.rules)
        return cls(flag.default, rules)

    def resolve(self, context: EvaluationContext | None) -> FlagResolutionDetails[Any]:
        """The value for ``context``: the first matching rule's (its index as the variant), else the default."""
        facts: dict[str, Any] = dict(context.attributes) if context is not None else {}
        if context is not None and context.targeting_key is not None:
            facts.setdefault("principal", context.targeting_key)
        for index, (targets, value) in enumerate(self.rules):
            if all(target.match(facts) for target in targets):
                return FlagResolutionDetails(value=value, reason=Reason.TARGETING_MATCH, variant=f"rule {index + 1}")
        return FlagResolutionDetails(value=self.default, reason=Reason.DEFAULT, variant="default")


class SettingsProvider(AbstractProvider):
    """Serves the flags of ``[flags]`` and, with a ``table``, the state store's over them: each flag's first
    matching targeting rule, else its default."""

    def __init__(self, flags: Mapping[str, FlagSettings], table: FlagTable | None = None, *,
                 refresh_interval: float = REFRESH_INTERVAL) -> None:
        super().__init__()
        self._settings = {name: CompiledFlag.of(flag) for name, flag in flags.items()}
        self._flags = self._settings
        self.table = table
        self.refresh_interval = refresh_interval
        self._local = threading.local()  # per thread: its connection's last data_version and when it looked
        if table is not None:
            self.reload()

    def get_metadata(self) -> Metadata:
        """The provider's name, as OpenFeature reports it."""
        return Metadata(name="toolnexus.toml" if self.table is None else "toolnexus.toml+store")

    def reload(self) -> None:
        """Read the store's flags now (after a change made here, or to look at once)."""
        assert self.table is not None
        stored: dict[str, CompiledFlag] = {}
        for row in self.table.list():
            try:
                stored[row.name] = CompiledFlag.of(FlagSettings.model_validate(row.value))
            except ValueError as exc:  # a row written by hand or by a newer toolnexus: the toml flag stays
                log.warning("rollout flag %r of the state store is ignored: %s", row.name, exc)
        self._flags = {**self._settings, **stored}

    def _refresh(self) -> None:
        """Read the store's flags again if the database changed since this thread last looked (at most every
        :attr:`refresh_interval`): an evaluation costs no query while nothing changes."""
        local = self._local
        now = time.monotonic()
        if now - getattr(local, "checked_at", -1e9) < self.refresh_interval:
            return
        local.checked_at = now
        assert self.table is not None
        conn = self.table.store.connection()
        # data_version: commits by other connections; total_changes: this connection's own.
        version = (data_version(conn), conn.total_changes)
        if version != getattr(local, "version", None):
            local.version = version
            self.reload()

    def _resolve(self, key: str, default: V, context: EvaluationContext | None) -> FlagResolutionDetails[Any]:
        if self.table is not None:
            try:
                self._refresh()
            except sqlite3.Error as exc:  # the store closed or locked for long: the flags last read still serve
                log.debug("rollout flags: the store could not be read: %s", exc)
        flag = self._flags.get(key)
        if flag is None:
            where = "[flags] of toolnexus.toml" + (" or the state store" if self.table is not None else "")
            return FlagResolutionDetails(value=default, reason=Reason.ERROR, error_code=ErrorCode.FLAG_NOT_FOUND,
                                         error_message=f"no flag {key!r} in {where}")
        return flag.resolve(context)

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        """The flag's value (the client checks it is a boolean)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[str]:
        """The flag's value (the client checks it is a string)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[int]:
        """The flag's value (the client checks it is an integer)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[float]:
        """The flag's value (the client checks it is a number)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_object_details(self, flag_key: str, default_value: Sequence[Any] | Mapping[str, Any],
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[Any]:
        """Flags of ``[flags]`` are never objects: the value, which the client then refuses as the wrong type."""
        return self._resolve(flag_key, default_value, evaluation_context)
