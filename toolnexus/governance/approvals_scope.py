"""What an approval is bound to and what it covers: the call's digest, a grant's scope, a rule's conditions.

A grant is bound to what was approved: the SHA-256 of the canonical JSON of the tool, its version, the
arguments, the caller (principal and tenant) and the policy version. A grant covers:

- ``call``: the approved call only (its digest), once;
- ``run``: later calls of the same tool, under the same rule and policy version, in the same run;
- ``pattern``: calls of the same tool, under the same rule and policy version, whose arguments match
  the grant's pattern (argument path → glob), until the grant's end.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from toolnexus.core.caller import Caller, local_caller
from toolnexus.governance.audit.jcs import canonical
from toolnexus.governance.plan import CallPlan
from toolnexus.store.approvals import ApprovalRecord

SCOPES = ("call", "run", "pattern")


def caller_of(plan: CallPlan) -> Caller:
    """Who makes the call of ``plan`` (the process's OS user when the call names nobody)."""
    return plan.call.caller or local_caller()


def canonical_json(value: Any) -> str:
    """``value`` as RFC 8785 canonical JSON (the audit log's form), so any JCS library recomputes a digest of
    it. What JSON cannot hold exactly (a path, a date, NaN, an integer beyond 2**53) is taken as its text."""
    return canonical({"v": _plain(value)})[5:-1]  # the value alone: JCS writes a mapping, unwrapped here


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_EXACT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


_MAX_EXACT = 2**53 - 1  # I-JSON: integers a JSON reader holds exactly


def call_digest(plan: CallPlan, policy_version: str | None) -> str:
    """The SHA-256 (hex) of what an approval of ``plan`` approves: tool, version, arguments, caller and
    the version of the policy that asked for it."""
    caller = caller_of(plan)
    bound = {
        "tool": plan.tool,
        "version": plan.spec.version if plan.spec is not None else plan.call.version,
        "arguments": plan.call.arguments,
        "principal": caller.principal,
        "tenant": caller.tenant,
        "policy_version": policy_version,
    }
    return hashlib.sha256(canonical_json(bound).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    """What a rule asks of its approvals: four eyes, who may grant, through which channels, how long to wait.

    ``approvers`` and ``channels`` of None mean anyone and any channel; ``timeout`` of None: the queue's.
    """

    four_eyes: bool = False
    approvers: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None
    timeout: float | None = None

    @classmethod
    def of(cls, value: Any) -> ApprovalRule:
        """The rule described by ``value``: a mapping or an object with any of the four names (or None)."""
        if value is None:
            return cls()
        if isinstance(value, ApprovalRule):
            return value
        get = value.get if isinstance(value, Mapping) else (lambda name: getattr(value, name, None))
        timeout = get("timeout")
        return cls(four_eyes=bool(get("four_eyes")), approvers=_names(get("approvers")),
                   channels=_names(get("channels")), timeout=None if timeout is None else float(timeout))


def _names(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def argument_at(arguments: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """The value at the dotted ``path`` of ``arguments`` (``found``, ``value``)."""
    value: Any = arguments
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def matches(pattern: Mapping[str, str], arguments: Mapping[str, Any]) -> bool:
    """Whether every argument path of ``pattern`` is in ``arguments`` with a value matching its glob (a string
    value as is, any other as JSON)."""
    for path, glob in pattern.items():
        found, value = argument_at(arguments, path)
        text = value if isinstance(value, str) else canonical_json(value)
        if not found or not fnmatch.fnmatchcase(text, glob):
            return False
    return True


@dataclass(frozen=True, slots=True)
class Asked:
    """A call asking to be let through by an existing grant: its plan, rule, digest and policy version."""

    plan: CallPlan
    rule: str | None
    digest: str
    policy_version: str | None

    def covered_by(self, grant: ApprovalRecord) -> bool:
        """Whether the live grant ``grant`` lets this call through."""
        if grant.scope == "call":
            return grant.digest == self.digest
        if grant.rule != self.rule or grant.policy_version != self.policy_version \
                or grant.tenant != caller_of(self.plan).tenant:
            return False
        if grant.scope == "run":
            return grant.run_id is not None and grant.run_id == self.plan.call.run_id
        return grant.scope == "pattern" and grant.pattern is not None \
            and matches(grant.pattern, self.plan.call.arguments)
