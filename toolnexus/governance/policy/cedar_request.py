"""A call as a Cedar request: principal, action, resource, context and the entities they are.

Two vocabularies (a ``.cedar`` file uses one; see :mod:`~toolnexus.governance.policy.cedar`):

- ``Toolnexus``: principal ``Toolnexus::User::"<principal>"`` (attributes ``tenant``, ``surface``), action
  ``Toolnexus::Action::"<tool>"`` (in ``Toolnexus::Action::"<namespace>"``), resource ``Toolnexus::Tool::"<tool>"``
  (attributes ``name``, ``namespace``, ``tier``, ``lifecycle``, ``runtime``, ``tags``);
- ``AgentCore`` (Amazon Bedrock AgentCore Policy's): principal ``AgentCore::OAuthUser::"<principal>"`` (attribute
  ``id``), action ``AgentCore::Action::"<namespace>___<name>"`` (a gateway's ``${target}___${tool}``, in
  ``AgentCore::Action::"<namespace>"`` and ``AgentCore::Action::"CallTool"``, itself in ``…::"Mcp"``), resource
  ``AgentCore::Gateway::"<gateway>"``.

Both principals carry the tags ``username``, ``tenant`` and ``surface`` (AgentCore's OAuth claims are tags);
the context is ``input`` (the call's arguments), ``tool``, ``surface``, ``tenant``, ``runtime``, ``mission``.
Cedar has no null and no floating point: a None is left out (``has`` is false), a whole number is a Long, a
fractional one a ``decimal`` (4 places, as AgentCore maps JSON Schema ``number``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolnexus.governance.policy.rule import Facts

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
DECIMAL_LIMIT = 922_337_203_685_477  # the integer part of Cedar's largest decimal
TOOLNEXUS, AGENTCORE = "Toolnexus", "AgentCore"
DEFAULT_GATEWAY = "toolnexus"
TOOLNEXUS_USER, AGENTCORE_USER = "Toolnexus::User", "AgentCore::OAuthUser"


def cedar_value(value: Any) -> Any:
    """``value`` as Cedar JSON, or None when Cedar cannot hold it (the key is then left out)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if LONG_MIN <= value <= LONG_MAX else None
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Mapping):
        return cedar_record(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in (cedar_value(item) for item in value) if v is not None]
    return str(value)


def _number(value: float) -> Any:
    if not math.isfinite(value) or abs(value) > DECIMAL_LIMIT:
        return None
    if value.is_integer():
        return int(value)
    return {"__extn": {"fn": "decimal", "arg": f"{value:.4f}"}}


def cedar_record(values: Mapping[Any, Any]) -> dict[str, Any]:
    """A record of ``values`` (keys as text), without the entries Cedar cannot hold."""
    record: dict[str, Any] = {}
    for key, value in values.items():
        converted = cedar_value(value)
        if converted is not None:
            record[str(key)] = converted
    return record


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """How a call is named to a Cedar policy set: the ``Toolnexus`` or the ``AgentCore`` entities."""

    namespace: str = TOOLNEXUS
    gateway: str = DEFAULT_GATEWAY  # AgentCore: the gateway the workspace stands for

    def request(self, facts: Facts) -> dict[str, Any]:
        """The Cedar request for ``facts``: principal, action and resource by uid, and the context."""
        context = cedar_record({"input": facts.arguments, "tool": facts.tool, "surface": str(facts.surface),
                                "tenant": facts.tenant, "runtime": facts.runtime, "mission": facts.mission})
        context.setdefault("input", {})
        principal = _uid(AGENTCORE_USER if self.namespace == AGENTCORE else TOOLNEXUS_USER, facts.principal)
        resource = (_uid("AgentCore::Gateway", self.gateway) if self.namespace == AGENTCORE
                    else _uid("Toolnexus::Tool", facts.tool))
        return {"principal": principal, "action": _uid(f"{self.namespace}::Action", self.action_id(facts)),
                "resource": resource, "context": context}

    def entities(self, facts: Facts) -> list[dict[str, Any]]:
        """The entities the request of ``facts`` names: they depend on the caller and the tool, never on the
        arguments (see :func:`entity_key`), so they are parsed once per caller and tool."""
        return [self._principal(facts), self._resource(facts), *self._action(facts)]

    def action_id(self, facts: Facts) -> str:
        """The id of the call's action: the tool's name, or AgentCore's ``<namespace>___<name>``."""
        if self.namespace != AGENTCORE:
            return facts.tool
        name = facts.tool.rpartition(".")[2]
        return f"{facts.namespace}___{name}" if facts.namespace else name

    def _principal(self, facts: Facts) -> dict[str, Any]:
        tags = cedar_record({"username": facts.principal, "tenant": facts.tenant, "surface": str(facts.surface)})
        if self.namespace == AGENTCORE:
            uid, attrs = _uid(AGENTCORE_USER, facts.principal), {"id": facts.principal}
        else:
            uid = _uid(TOOLNEXUS_USER, facts.principal)
            attrs = cedar_record({"tenant": facts.tenant, "surface": str(facts.surface)})
        return {"uid": uid, "attrs": attrs, "parents": [], "tags": tags}

    def _action(self, facts: Facts) -> list[dict[str, Any]]:
        kind = f"{self.namespace}::Action"
        group = [_uid(kind, facts.namespace)] if facts.namespace else []
        if self.namespace != AGENTCORE:
            return [{"uid": _uid(kind, facts.tool), "attrs": {}, "parents": group}]
        call_tool = _uid(kind, "CallTool")
        return [{"uid": _uid(kind, self.action_id(facts)), "attrs": {}, "parents": [*group, call_tool]},
                {"uid": call_tool, "attrs": {}, "parents": [_uid(kind, "Mcp")]}]

    def _resource(self, facts: Facts) -> dict[str, Any]:
        if self.namespace == AGENTCORE:
            return {"uid": _uid("AgentCore::Gateway", self.gateway), "attrs": {}, "parents": []}
        attrs = cedar_record({"name": facts.tool, "namespace": facts.namespace, "tier": facts.tier,
                              "lifecycle": facts.lifecycle, "runtime": facts.runtime, "tags": list(facts.tags)})
        return {"uid": _uid("Toolnexus::Tool", facts.tool), "attrs": attrs, "parents": []}


def entity_key(facts: Facts) -> tuple[object, ...]:
    """What the entities of a request depend on: the caller and the tool (not the arguments)."""
    return (facts.principal, facts.tenant, facts.surface, facts.tool, facts.tier, facts.lifecycle, facts.runtime,
            facts.tags)


def _uid(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}
