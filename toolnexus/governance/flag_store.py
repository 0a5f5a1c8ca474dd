"""Rollout flags set at run time in the state store: ``toolnexus flags set`` and ``nexus.governed.flags.stored``.

A flag of the store replaces the ``[flags.NAME]`` table of ``toolnexus.toml`` of the same name (its default and
rules, whole) for every process sharing the store, within a tenth of a second, with no file edited and no restart
(:class:`~toolnexus.governance.flag_provider.SettingsProvider` reads it). Each change is a ``flag_changed``
:class:`~toolnexus.core.events.GovernanceChanged` event (details: ``change`` ``set`` or ``unset``, the
``definition`` and the ``previous`` one), so the audit log records who changed what, and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from toolnexus.core.events import GovernanceChanged
from toolnexus.governance.decide import Announcer
from toolnexus.governance.flag_model import FlagSettings
from toolnexus.store.flags import FlagRow, FlagTable
from toolnexus.store.sqlite import StateStore


def definition_of(value: FlagSettings | Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as a flag's definition (``default``, ``description``, ``rules``), checked as ``[flags.NAME]``
    would be: a pydantic ``ValidationError`` (a ``ValueError``) names what is wrong."""
    flag = value if isinstance(value, FlagSettings) else FlagSettings.model_validate(dict(value))
    return flag.model_dump(exclude_defaults=True, exclude_none=True) | {"default": flag.default}


class StoredFlags:
    """The rollout flags of a state store: set, unset and list them; each change is announced (and audited).

    ``announce`` (the Nexus's bus) hears a ``flag_changed`` event for each change; ``on_change`` is called after
    one (the provider reads the store again at once); ``served`` says whether the workspace's provider reads the
    store (not when ``[flags] provider`` names another provider, which serves every flag).
    """

    def __init__(self, store: StateStore, announce: Announcer | None = None, *,
                 on_change: Callable[[], None] | None = None, served: bool = True) -> None:
        self.table = FlagTable(store)
        self.announce = announce
        self.on_change = on_change
        self.served = served

    def set(self, name: str, value: FlagSettings | Mapping[str, Any], *, by: str | None,
            reason: str = "") -> FlagRow:
        """Set flag ``name`` to ``value`` (a :class:`FlagSettings`, or the mapping of one: ``{"default": True}``,
        ``{"default": False, "rules": [{"tenants": "acme", "value": True}]}``); returns the stored flag."""
        name = _name(name)
        definition = definition_of(value)
        row, previous = self.table.set(name, definition, by)
        self._changed("set", row.name, by, reason, definition, previous)
        return row

    def unset(self, name: str, *, by: str | None, reason: str = "") -> FlagRow | None:
        """Remove flag ``name`` from the store (a toml flag of that name applies again); returns what it was
        (None, and nothing announced: the store had no such flag)."""
        previous = self.table.unset(_name(name))
        if previous is not None:
            self._changed("unset", previous.name, by, reason, None, previous)
        return previous

    def get(self, name: str) -> FlagRow | None:
        """Flag ``name`` as the store has it, or None."""
        return self.table.get(name)

    def list(self) -> list[FlagRow]:
        """The store's flags, by name."""
        return self.table.list()

    def _changed(self, change: str, name: str, by: str | None, reason: str, definition: dict[str, Any] | None,
                 previous: FlagRow | None) -> None:
        if self.on_change is not None:
            self.on_change()
        announce = self.announce
        if announce is None or not announce.wants(GovernanceChanged):
            return
        details = {"change": change, "definition": definition, "previous": None if previous is None else previous.value}
        announce.emit(GovernanceChanged(action="flag_changed", target=name, by=by, reason=reason, details=details))


def _name(name: str) -> str:
    """A flag's name, stripped; a ValueError for an empty one or one with spaces."""
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"a flag's name is one word, like new-search or experimental.files.sync (not {name!r})")
    return name
