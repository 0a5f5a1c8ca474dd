"""Rollout flags as ``toolnexus.toml`` writes them: ``[flags.NAME]`` with a default value and targeting rules.

::

    [flags]
    provider = "mypackage.flags:provider"   # optional: an OpenFeature provider in place of these tables

    [flags.new-search]
    default = false
    rules = [
      { tenants = ["acme"], environments = ["staging"], value = true },
      { tiers = ["read_only"], namespaces = ["search*"], value = true },
    ]

A rule matches a call when every key it names matches (names or fnmatch globs); the first matching rule
gives the value, else ``default``. The keys read the attributes of the OpenFeature evaluation context a
call is decided with (see :mod:`~toolnexus.governance.flags`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

FlagValue = bool | int | float | str
"""What a flag may be: on/off, a number, or a string (a variant's name)."""


def _listed(value: Any) -> Any:
    """A single value where a list is expected is the list of that one value (``tenants = "acme"``)."""
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str], BeforeValidator(_listed)]

# A rule's keys and the evaluation-context attribute each matches.
TARGETS: tuple[tuple[str, str], ...] = (
    ("environments", "environment"), ("tenants", "tenant"), ("tools", "tool"), ("namespaces", "namespace"),
    ("tiers", "tier"), ("surfaces", "surface"), ("principals", "principal"),
)


class FlagRule(BaseModel):
    """One targeting rule of a flag: the calls it matches (every key it names must match) and their value."""

    model_config = ConfigDict(extra="forbid")

    value: FlagValue = Field(description="the flag's value for the calls this rule matches")
    environments: Names | None = Field(None, description="[governance] environment names or globs")
    tenants: Names | None = None
    tools: Names | None = Field(None, description="tool names or globs (a tool family: files.*)")
    namespaces: Names | None = Field(None, description="namespaces (a tool's name before its last dot) or globs")
    tiers: Names | None = Field(None, description="operation types: the tools' safety tiers (read_only, ...)")
    surfaces: Names | None = Field(None, description="where the call comes from: python, cli, rest, mcp, ...")
    principals: Names | None = Field(None, description="callers (the evaluation's targeting key), or globs")


class FlagSettings(BaseModel):
    """One flag of ``[flags]``: its value when no rule matches and its targeting rules, tried in order."""

    model_config = ConfigDict(extra="forbid")

    default: FlagValue = Field(False, description="the value when no rule matches")
    description: str = ""
    rules: list[FlagRule] = Field(default_factory=list)


class FlagsSettings(BaseModel):
    """``[flags]``: the workspace's rollout flags by name, or the OpenFeature provider that serves them."""

    model_config = ConfigDict(extra="allow")

    provider: str | None = Field(None, description="\"module:factory\": a callable returning the OpenFeature "
                                 "provider to evaluate flags with (flagd, a vendor's) in place of these tables")
    # Every other key of [flags] is a flag, validated as one.
    __pydantic_extra__: dict[str, FlagSettings] = Field(init=False)

    @property
    def flags(self) -> dict[str, FlagSettings]:
        """The flags defined here, by name."""
        return dict(self.__pydantic_extra__ or {})
