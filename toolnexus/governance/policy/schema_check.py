"""Checking a policy against the tools it names: every argument condition must be on an argument that at
least one tool the rule matches has, so no rule silently never fires."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from toolnexus.core.diagnostics import Diagnostic, did_you_mean
from toolnexus.core.spec import ToolSpec
from toolnexus.governance.policy.conditions import Condition
from toolnexus.governance.policy.rule import Rule

if TYPE_CHECKING:
    from toolnexus.governance.policy.policy import Policy

MAX_DEPTH = 32  # how deep a schema's $refs are followed (a recursive schema ends here)


def static_match(rule: Rule, spec: ToolSpec) -> bool:
    """Whether ``rule`` can match calls of ``spec``: its tool, namespace, tier, lifecycle and tag matchers."""
    facts = {"tool": spec.name, "namespace": spec.namespace, "tier": spec.tier.value,
             "lifecycle": spec.lifecycle.value}
    for _, fact, names in rule.matchers:
        if fact in facts and not names.match(facts[fact]):
            return False
    return rule.tags is None or not rule.tags.isdisjoint(spec.tags)


def has_path(schema: Any, path: Sequence[str | int], root: Mapping[str, Any] | None = None, depth: int = 0) -> bool:
    """Whether the JSON schema ``schema`` admits a value at ``path`` (unknown or open schemas admit any)."""
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return True
    root = root if root is not None else schema
    if "$ref" in schema:
        return has_path(_resolve(root, str(schema["$ref"])), path, root, depth + 1)
    branches = [b for key in ("anyOf", "oneOf", "allOf") for b in schema.get(key, ())]
    if branches:
        return any(has_path(b, path, root, depth + 1) for b in branches)
    if not path:
        return True
    return _child(schema, path, root, depth)


def _child(schema: Mapping[str, Any], path: Sequence[str | int], root: Mapping[str, Any], depth: int) -> bool:
    head, rest = path[0], path[1:]
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and str(head) in properties:
        return has_path(properties[str(head)], rest, root, depth + 1)
    if isinstance(head, int) and "items" in schema:
        return has_path(schema["items"], rest, root, depth + 1)
    extra = schema.get("additionalProperties")
    if extra not in (None, False):
        return has_path(extra, rest, root, depth + 1) if isinstance(extra, Mapping) else True
    # A schema that says nothing of its shape (no properties, no items) admits anything.
    return properties is None and "items" not in schema and extra is None and schema.get("type") in (None, "object")


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.removeprefix("#/").split("/") if ref.startswith("#/") else ():
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def check_conditions(policy: Policy, specs: Sequence[ToolSpec]) -> list[Diagnostic]:
    """Every argument condition of ``policy`` on an argument that no tool its rule matches (among ``specs``) has."""
    problems: list[Diagnostic] = []
    for rule in policy.rules:
        conditions = (*rule.when, *rule.unless)
        if not conditions:
            continue
        tools = [spec for spec in specs if static_match(rule, spec)]
        if not tools:
            problems.append(_diagnostic(policy, rule, conditions[0].where[:-1], (
                f"rule {rule.id!r} has argument conditions but matches none of the workspace's tools"),
                "check its tools/namespaces/tiers/tags matchers (see `toolnexus tools list`)"))
            continue
        for condition in conditions:
            if not any(has_path(spec.input_schema, condition.path) for spec in tools):
                problems.append(_unknown_argument(policy, rule, condition, tools))
    return problems


def _unknown_argument(policy: Policy, rule: Rule, condition: Condition, tools: Sequence[ToolSpec]) -> Diagnostic:
    names = sorted({str(k) for spec in tools for k in spec.input_schema.get("properties", {})})
    shown = ", ".join(spec.name for spec in tools[:5]) + (", …" if len(tools) > 5 else "")
    hint = did_you_mean(condition.argument, names) or (f"their arguments: {', '.join(names)}" if names else None)
    return _diagnostic(policy, rule, condition.where, (
        f"rule {rule.id!r}: no tool it matches ({shown}) has an argument {condition.argument!r}, "
        "so this condition could never hold"), hint)


def _diagnostic(policy: Policy, rule: Rule, where: tuple[str | int, ...], message: str,
                hint: str | None) -> Diagnostic:
    positions = policy.positions.get(rule.file or "")
    if positions is None:
        return Diagnostic(message=message, file=rule.file, line=rule.line, column=rule.column, hint=hint)
    return positions.diagnostic(where, message, hint, key=True)
