"""The policy gate: the :class:`~toolnexus.governance.gate.Gate` that decides calls by a loaded policy.

``check`` is quick (an indexed lookup and the conditions of the few candidate rules); an enforced
``approve`` rule parks the call (``wait``) and ``settle`` hands it to the approvals queue. ``reload``
swaps in a new policy only when it loads cleanly: a running server keeps its last good policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.spec import ToolSpec
from toolnexus.governance.plan import CallPlan
from toolnexus.governance.policy.combine import DECIDER
from toolnexus.governance.policy.loader import load_policy, policy_files
from toolnexus.governance.policy.model import Mode
from toolnexus.governance.policy.policy import EMPTY, Policy
from toolnexus.governance.policy.rule import Facts, Rule, flag_of

ToolSource = Callable[[], Iterable[ToolSpec]]
"""The tools a policy's conditions are checked against (the registry's, from the caller: layering)."""

MissionOf = Callable[[str], "str | None"]
"""The mission a run belongs to, by run id (None when unknown)."""

FlagOf = Callable[[str, CallPlan], bool]
"""Whether a rollout flag is on for a call, by flag name (e.g. ``Flags.enabled``)."""

MAX_RUNS_REMEMBERED = 1024


class Approvals(Protocol):
    """Where a parked call waits for a person: grants, denials, expiry (the approvals queue)."""

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """Wait, cancellably, for the final allow or deny of the call ``pending`` parked."""
        ...


class GovernanceConfig(Protocol):
    """What the gate reads of ``[governance]`` (``config.GovernanceSettings``)."""

    @property
    def policies(self) -> list[str]:
        """Policy files and globs, relative to the workspace."""
        ...

    @property
    def mode(self) -> str:
        """The mode of rules that name none."""
        ...

    @property
    def tenant(self) -> str | None:
        """The tenant of calls whose caller names none."""
        ...


class PolicyGate:
    """Decides calls by a :class:`Policy`; an approve rule's calls wait on ``approvals``.

    ``tenant`` is the tenant of calls whose caller names none (``[governance] tenant``); ``mission_of`` gives
    a run's mission by run id (see :func:`~toolnexus.governance.policy.missions.missions_in`), asked only when
    a rule names ``missions``; ``tools`` are what conditions are checked against at each load; ``source``
    lists the policy files (read again by :meth:`reload`); ``mode`` is the mode of rules that name none;
    ``flags`` says whether a rollout flag is on for a call, asked only for a candidate rule naming ``flag``
    (without it, such rules never apply).
    """

    def __init__(self, policy: Policy = EMPTY, *, approvals: Approvals | None = None, tenant: str | None = None,
                 mission_of: MissionOf | None = None, tools: ToolSource | None = None,
                 source: Callable[[], Sequence[Path]] | None = None, mode: Mode | str = Mode.OBSERVE,
                 flags: FlagOf | None = None) -> None:
        self._policy = policy
        self.flags = flags
        self.approvals = approvals
        self.tenant = tenant
        self.mission_of = mission_of
        self.tools = tools
        self.mode = Mode(mode)
        self._source = source or (lambda: [Path(f) for f in self._policy.files])
        self._missions: dict[str, str | None] = {}

    @classmethod
    def from_files(cls, files: Sequence[str | Path], *, mode: Mode | str = Mode.OBSERVE,
                   approvals: Approvals | None = None, tenant: str | None = None,
                   mission_of: MissionOf | None = None, tools: ToolSource | None = None,
                   flags: FlagOf | None = None) -> PolicyGate:
        """A gate on the policy of ``files`` (read again on reload); a bad file, or a condition on an argument no
        tool has (when ``tools`` is given), raises a DiagnosticError."""
        paths = [Path(f) for f in files]
        gate = cls(approvals=approvals, tenant=tenant, mission_of=mission_of, tools=tools, mode=mode,
                   source=lambda: paths, flags=flags)
        gate._policy = gate.load()
        return gate

    @classmethod
    def from_settings(cls, settings: GovernanceConfig, workspace: str | Path, *, approvals: Approvals | None = None,
                      tools: ToolSource | None = None, mission_of: MissionOf | None = None,
                      flags: FlagOf | None = None) -> PolicyGate:
        """The gate ``[governance]`` configures: its policy files (globs re-read on reload), default mode and tenant.

        A bad policy raises a DiagnosticError (file:line:column), so a process never starts on half a policy.
        """
        patterns, root = list(settings.policies), Path(workspace)
        gate = cls(approvals=approvals, tenant=settings.tenant, mission_of=mission_of, tools=tools,
                   mode=settings.mode, source=lambda: policy_files(patterns, root), flags=flags)
        gate._policy = gate.load()
        return gate

    @property
    def policy(self) -> Policy:
        """The policy in force (the last that loaded cleanly)."""
        return self._policy

    @property
    def version(self) -> str:
        """The digest of the policy in force: a grant is bound to it."""
        return self._policy.version

    def rule_of(self, rule_id: str | None) -> Rule | None:
        """The rule ``rule_id`` of the policy in force (what an approval asks: approvers, four eyes, channels,
        timeout); None for no rule or one the policy no longer has."""
        return self._policy.rule(rule_id) if rule_id else None

    def hold(self, policy: Policy) -> None:
        """Put ``policy`` in force instead of the files' (a weakening policy waiting for its approval)."""
        self._policy = policy

    def load(self) -> Policy:
        """The policy the files hold now, checked against ``tools`` (not put in force); any problem raises a
        DiagnosticError."""
        policy = load_policy(self._source(), self.mode)
        if self.tools is not None:
            problems = policy.check_against(self.tools())
            if problems:
                raise DiagnosticError(problems)
        return policy

    def reload(self) -> list[Diagnostic]:
        """Load the policy files again; on any problem keep the policy in force and return the problems."""
        try:
            self._policy = self.load()
        except DiagnosticError as exc:
            return exc.diagnostics
        return []

    def facts(self, plan: CallPlan) -> Facts:
        """What the policy decides ``plan`` on (its mission looked up only when a rule names missions)."""
        mission = None
        if plan.call.run_id is not None and self.mission_of is not None and self._policy.uses_missions:
            mission = self._mission(plan.call.run_id)
        flag = flag_of(self.flags, plan) if self._policy.uses_flags else None
        return Facts.of(plan, mission=mission, tenant=self.tenant, flag=flag)

    def _mission(self, run_id: str) -> str | None:
        try:
            return self._missions[run_id]
        except KeyError:
            assert self.mission_of is not None
            if len(self._missions) >= MAX_RUNS_REMEMBERED:
                self._missions.clear()
            mission = self._missions[run_id] = self.mission_of(run_id)
            return mission

    async def check(self, plan: CallPlan) -> Decision:
        """The policy's decision on ``plan``: allow, deny, or wait (an enforced approve rule)."""
        return self._policy.decide_facts(self.facts(plan))

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """The approvals queue's final word on a parked call; without one, a deny that says why."""
        if self.approvals is not None:
            return await self.approvals.settle(plan, pending)
        return Decision(verdict=Verdict.DENY, decider=DECIDER, policy=pending.policy, mode=pending.mode,
                        reason=f"policy rule {pending.policy} needs a person's approval, and approvals need the "
                               "state store: this Nexus has no approvals queue")

