"""The policy file as written: a list of rules, each an effect, a mode, matchers and argument conditions.

This is the schema of ``policies/*.yaml``; :mod:`~toolnexus.governance.policy.loader` validates a file
against it (errors with file:line:column) and compiles it into a :class:`~toolnexus.governance.policy.Policy`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from toolnexus.core.caller import Surface
from toolnexus.core.spec import Lifecycle, SafetyTier
from toolnexus.core.units import Duration


class Effect(StrEnum):
    """What a matching rule does to a call."""

    ALLOW = "allow"
    DENY = "deny"
    APPROVE = "approve"  # the call waits for a person's approval


class Mode(StrEnum):
    """How much authority a rule has: recorded only, recorded and told to the caller, or enforced."""

    OBSERVE = "observe"
    WARN = "warn"
    ENFORCE = "enforce"


Channel = Literal["cli", "rest", "widget", "mcp"]


def _listed(value: Any) -> Any:
    """A single value where a list is expected is the list of that one value (``tools: files.write``)."""
    return [value] if isinstance(value, str | int | float | bool) else value


Names = Annotated[list[str], BeforeValidator(_listed)]


class RuleModel(BaseModel):
    """One rule of a policy file: which calls it matches and what it does to them."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="the rule's name, unique across the loaded policy files")
    effect: Effect
    mode: Mode | None = Field(None, description="default: the file's `mode:`, else [governance] mode")
    reason: str = Field("", description="told to the caller (and recorded) when the rule decides")
    tools: Names | None = Field(None, description="tool names or globs (fnmatch), e.g. files.* or http.fetch")
    namespaces: Names | None = Field(None, description="namespaces (the part of a tool's name before its last dot)")
    tiers: Annotated[list[SafetyTier], BeforeValidator(_listed)] | None = None
    runtimes: Names | None = None
    lifecycle: Annotated[list[Lifecycle], BeforeValidator(_listed)] | None = None
    tags: Names | None = Field(None, description="matches a tool carrying any of these tags")
    tenants: Names | None = None
    principals: Names | None = Field(None, description="caller principals (globs allowed)")
    surfaces: Annotated[list[Surface], BeforeValidator(_listed)] | None = None
    missions: Names | None = Field(None, description="the name of the mission a step belongs to (globs allowed)")
    when: dict[str, Any] | None = Field(None, description="argument conditions that must all hold")
    unless: dict[str, Any] | None = Field(None, description="argument conditions that, all holding, exempt the call")
    flag: str | None = Field(None, min_length=1, description="a rollout flag: the rule applies only to the calls "
                             "it is on for ([flags] of toolnexus.toml, or the OpenFeature provider)")
    approvers: Names | None = Field(None, description="approve: the principals or groups who may grant")
    four_eyes: bool = Field(False, description="approve: the approver must not be the caller")
    channels: Annotated[list[Channel], BeforeValidator(_listed)] | None = Field(
        None, description="approve: where a grant may come from (default: any)")
    timeout: Duration = Field(None, description="approve: how long the call waits (default: [governance] "
                              "approval_timeout)")


class PolicyFile(BaseModel):
    """A policy file: an optional default mode for its rules and the ordered rules."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    mode: Mode | None = Field(None, description="the mode of this file's rules that name none")
    rules: list[RuleModel] = Field(default_factory=list)


def allowed_keys(path: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``path`` of a policy file, for "did you mean" hints."""
    names = [p for p in path if isinstance(p, str)]
    return list(RuleModel.model_fields) if names == ["rules"] else list(PolicyFile.model_fields)
