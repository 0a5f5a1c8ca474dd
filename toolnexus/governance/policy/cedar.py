"""Cedar policy sets: ``.cedar`` files among the policies, evaluated by ``cedarpy`` (``pip install toolnexus[cedar]``).

A file is parsed once at load, and evaluated by :class:`~toolnexus.governance.policy.cedar_set.CedarSet`.
Annotations on a policy:

- ``@id("…")``: the rule id (else ``<file name>#policyN``, Cedar's own id);
- ``@mode("observe"|"warn"|"enforce")``: its mode (else the file's ``// mode: …`` line, else ``[governance] mode``);
- ``@effect("approve")`` on a permit: the call waits for a person's approval; with ``@approvers("a, b")``,
  ``@four_eyes("true")``, ``@channels("cli, rest")``, ``@timeout("30m")`` as on a YAML approve rule;
- ``@reason("…")``: told to the caller when the policy decides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

from toolnexus.core.diagnostics import Diagnostic
from toolnexus.core.units import parse_duration
from toolnexus.governance.policy.cedar_request import AGENTCORE, DEFAULT_GATEWAY, TOOLNEXUS, Vocabulary
from toolnexus.governance.policy.cedar_rule import CedarRule
from toolnexus.governance.policy.cedar_set import CedarSet
from toolnexus.governance.policy.cedar_source import Statement, directives, locate_error, position, statements
from toolnexus.governance.policy.model import Channel, Effect, Mode

SUFFIX = ".cedar"
INSTALL = "Cedar policies need pip install toolnexus[cedar]"


def is_cedar(file: str | Path) -> bool:
    """Whether ``file`` is a Cedar policy set (by its suffix)."""
    return str(file).endswith(SUFFIX)


def compile_cedar(file: str, text: str, default: Mode, start: int, problems: list[Diagnostic]) -> CedarSet | None:
    """The Cedar set of ``file`` (its rules numbered from ``start``); None, with ``problems`` added, when it has any."""
    try:
        import cedarpy
    except ImportError:
        problems.append(Diagnostic(message=INSTALL, file=file, hint="or remove the .cedar file from [governance] "
                                   "policies"))
        return None
    found = len(problems)
    mode = _file_mode(file, text, default, problems)
    try:
        est = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        problems.append(_parse_problem(file, text, str(exc), cedarpy.PolicySet.from_str))
        return None
    vocabulary = _vocabulary(file, text, est, problems)
    parts = statements(text)
    # In the order written (Cedar's positional ids), so that among equal effects the first written decides.
    written = sorted(est.get("staticPolicies", {}).items(), key=lambda item: _written_order(item[0]))
    rules = {cedar_id: _rule(file, text, cedar_id, body, parts, mode, start + i, problems)
             for i, (cedar_id, body) in enumerate(written)}
    for cedar_id in est.get("templates", {}):
        problems.append(_at(file, text, _statement(parts, cedar_id), f"Cedar template {cedar_id} (?principal or "
                            "?resource slots) is not supported: it would authorize nothing"))
    if len(problems) > found or vocabulary is None:
        return None
    name = Path(file).name
    fallback = CedarRule(id=f"{name}#default-deny", effect=Effect.DENY, mode=mode, order=start + len(rules),
                         reason=f"no Cedar policy of {name} permits the call", file=file, line=1, column=1,
                         default=True)
    flipped = {k: {**v, "effect": "permit"} for k, v in written}
    return CedarSet(file, vocabulary, flipped, rules, fallback, uses_missions="mission" in text)


def _file_mode(file: str, text: str, default: Mode, problems: list[Diagnostic]) -> Mode:
    written = directives(text).get("mode")
    if written is None:
        return default
    try:
        return Mode(written[0])
    except ValueError:
        problems.append(Diagnostic(message=f"unknown mode {written[0]!r}", file=file, line=written[1],
                                   hint="observe, warn or enforce"))
        return default


def _parse_problem(file: str, text: str, message: str, parse: Any) -> Diagnostic:
    located = locate_error(text, parse)
    if located is None:
        return Diagnostic(message=f"Cedar parse error: {message}", file=file)
    detail, offset = located
    line, column = position(text, offset) if offset is not None else (None, None)
    return Diagnostic(message=f"Cedar parse error: {detail}", file=file, line=line, column=column)


def _vocabulary(file: str, text: str, est: dict[str, Any], problems: list[Diagnostic]) -> Vocabulary | None:
    """The entities the file's policies name: AgentCore's, or toolnexus's (a file names one of the two)."""
    used = {kind.partition("::")[0] for kind in _entity_types(est)}
    if {AGENTCORE, TOOLNEXUS} <= used:
        problems.append(Diagnostic(message="a Cedar file names either AgentCore:: or Toolnexus:: entities, not both",
                                   file=file, hint="split it into two files"))
        return None
    if AGENTCORE not in used:
        return Vocabulary(TOOLNEXUS)
    gateways = sorted({uid for kind, uid in _entities(est) if kind == "AgentCore::Gateway"})
    written = directives(text).get("gateway")
    if written is not None:
        return Vocabulary(AGENTCORE, written[0])
    if len(gateways) > 1:
        problems.append(Diagnostic(message=f"the policies name {len(gateways)} AgentCore gateways "
                                   f"({', '.join(gateways)}); toolnexus stands for one", file=file,
                                   hint="say which with a line `// gateway: <arn>`"))
        return None
    return Vocabulary(AGENTCORE, gateways[0] if gateways else DEFAULT_GATEWAY)


def _entity_types(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("type", "entity_type") and isinstance(value, str):
                yield value
            else:
                yield from _entity_types(value)
    elif isinstance(node, list):
        for item in node:
            yield from _entity_types(item)


def _entities(node: Any) -> Iterable[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and isinstance(node.get("id"), str):
            yield node["type"], node["id"]
        for value in node.values():
            yield from _entities(value)
    elif isinstance(node, list):
        for item in node:
            yield from _entities(item)


def _written_order(cedar_id: str) -> int:
    """Where Cedar's positional id ``policyN`` is in the file (N)."""
    number = cedar_id.removeprefix("policy")
    return int(number) if number.isdigit() else 0


def _statement(parts: list[Statement], cedar_id: str) -> Statement | None:
    """The statement of Cedar's positional id ``policyN`` (Cedar numbers the file's policies in order)."""
    number = cedar_id.removeprefix("policy")
    return parts[int(number)] if number.isdigit() and int(number) < len(parts) else None


def _at(file: str, text: str, statement: Statement | None, message: str, hint: str | None = None) -> Diagnostic:
    line, column = position(text, statement.start) if statement is not None else (None, None)
    return Diagnostic(message=message, file=file, line=line, column=column, hint=hint)


def _rule(file: str, text: str, cedar_id: str, body: dict[str, Any], parts: list[Statement], mode: Mode,
          order: int, problems: list[Diagnostic]) -> CedarRule:
    statement = _statement(parts, cedar_id)
    notes: dict[str, str] = body.get("annotations") or {}
    permit = body.get("effect") == "permit"
    where = (file, text, statement)
    rule_id = notes.get("id") or f"{Path(file).name}#{cedar_id}"
    effect = Effect.ALLOW if permit else Effect.DENY
    if notes.get("effect") is not None:
        effect = _effect(notes["effect"], permit, rule_id, where, problems)
    line, column = position(text, statement.start) if statement is not None else (None, None)
    return CedarRule(
        id=rule_id, effect=effect, mode=_mode(notes.get("mode"), mode, rule_id, where, problems), order=order,
        reason=notes.get("reason", ""), approvers=_listed(notes.get("approvers")),
        four_eyes=_flag(notes.get("four_eyes"), rule_id, where, problems),
        channels=_channels(notes.get("channels"), rule_id, where, problems),
        timeout=_timeout(notes.get("timeout"), rule_id, where, problems),
        file=file, line=line, column=column, cedar_id=cedar_id,
    )


Where = tuple[str, str, "Statement | None"]


def _effect(value: str, permit: bool, rule_id: str, where: Where, problems: list[Diagnostic]) -> Effect:
    if value == "approve" and permit:
        return Effect.APPROVE
    problems.append(_at(*where, f"Cedar policy {rule_id}: @effect({value!r}) is not supported",
                        '@effect("approve") goes on a permit policy'))
    return Effect.ALLOW if permit else Effect.DENY


def _mode(value: str | None, default: Mode, rule_id: str, where: Where, problems: list[Diagnostic]) -> Mode:
    if value is None:
        return default
    try:
        return Mode(value)
    except ValueError:
        problems.append(_at(*where, f"Cedar policy {rule_id}: unknown @mode({value!r})", "observe, warn or enforce"))
        return default


def _listed(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _flag(value: str | None, rule_id: str, where: Where, problems: list[Diagnostic]) -> bool:
    if value is None or value in ("true", "false"):
        return value == "true"
    problems.append(_at(*where, f"Cedar policy {rule_id}: @four_eyes({value!r}) is true or false"))
    return False


def _channels(value: str | None, rule_id: str, where: Where, problems: list[Diagnostic]) -> tuple[Any, ...] | None:
    names = _listed(value)
    known = get_args(Channel)
    for name in names or ():
        if name not in known:
            problems.append(_at(*where, f"Cedar policy {rule_id}: unknown channel {name!r}", ", ".join(known)))
    return names


def _timeout(value: str | None, rule_id: str, where: Where, problems: list[Diagnostic]) -> float | None:
    try:
        return parse_duration(value)
    except ValueError as exc:
        problems.append(_at(*where, f"Cedar policy {rule_id}: @timeout: {exc}"))
        return None
