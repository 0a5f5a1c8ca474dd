"""The rule index: which rules could match a tool, looked up by its name once and remembered.

Rules naming exact tools (or exact namespaces) are filed under those names; rules with glob patterns
are tried once per tool name; the rest apply to every tool. A decision then runs only the few rules filed
for its tool, so a policy of 1,000 rules on different tools costs about what one of 10 does.
"""

from __future__ import annotations

from collections.abc import Sequence

from toolnexus.governance.policy.rule import Rule

MAX_REMEMBERED = 4096
"""Tool names whose candidate rules are remembered (the registry's names, in practice)."""


class RuleIndex:
    """Candidate rules by tool name, in the policy's order."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._by_tool: dict[str, list[Rule]] = {}
        self._by_namespace: dict[str, list[Rule]] = {}
        self._scanned: list[Rule] = []  # glob patterns: tried against each new tool name
        self._everywhere: list[Rule] = []
        for rule in rules:
            self._file(rule)
        self._remembered: dict[str, tuple[Rule, ...]] = {}

    def _file(self, rule: Rule) -> None:
        tools, namespaces = rule.names("tools"), rule.names("namespaces")
        if tools is not None and not tools.globs:
            for name in tools.exact:
                self._by_tool.setdefault(name, []).append(rule)
        elif namespaces is not None and not namespaces.globs and tools is None:
            for name in namespaces.exact:
                self._by_namespace.setdefault(name, []).append(rule)
        elif tools is not None or namespaces is not None:
            self._scanned.append(rule)
        else:
            self._everywhere.append(rule)

    def candidates(self, tool: str) -> tuple[Rule, ...]:
        """The rules that may match a call of ``tool`` (by name alone), in the policy's order."""
        found = self._remembered.get(tool)
        if found is None:
            found = self._lookup(tool)
            if len(self._remembered) >= MAX_REMEMBERED:
                self._remembered.clear()
            self._remembered[tool] = found
        return found

    def _lookup(self, tool: str) -> tuple[Rule, ...]:
        namespace = tool.rpartition(".")[0]
        scanned = [r for r in self._scanned if _names_match(r, tool, namespace)]
        rules = {r.order: r for r in (*self._by_tool.get(tool, ()), *self._by_namespace.get(namespace, ()),
                                      *scanned, *self._everywhere)}
        return tuple(rules[order] for order in sorted(rules))


def _names_match(rule: Rule, tool: str, namespace: str) -> bool:
    tools, namespaces = rule.names("tools"), rule.names("namespaces")
    return (tools is None or tools.match(tool)) and (namespaces is None or namespaces.match(namespace))
