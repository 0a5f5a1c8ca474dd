"""Rollout flags, evaluated through OpenFeature: who gets a rule, a tool or an experimental tool, call by call.

A Nexus owns one :class:`Flags`. It evaluates a flag with an OpenFeature client whose evaluation context
is built from the call plan: the targeting key is the caller's principal, and the attributes are the
``tenant``, ``surface``, ``tool``, ``namespace``, ``tier`` (the operation type), ``lifecycle`` and the
workspace's ``environment``. The provider is the ``[flags]`` tables of ``toolnexus.toml`` with, over them, the
flags set in the state store (:class:`~toolnexus.governance.flag_provider.SettingsProvider`,
:mod:`~toolnexus.governance.flag_store`), or, with ``[flags] provider =
"module:factory"``, whatever OpenFeature provider that callable returns (flagd, a vendor's): no code changes.

Flags gate three things: a policy rule naming ``flag:`` (it applies only while the flag is on for the call),
a tool tagged ``flag:NAME`` (:class:`FlagCheck` refuses its calls while the flag is off), and an experimental
tool (opted in while ``experimental.<tool name>`` or ``experimental`` is on: :meth:`Flags.opt_in`).
"""

from __future__ import annotations

import importlib
import itertools
from typing import TYPE_CHECKING, Any, TypeVar

from toolnexus.core.caller import Surface, os_user
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.governance.decide import Announcer
from toolnexus.governance.flag_model import FlagsSettings
from toolnexus.governance.flag_store import StoredFlags
from toolnexus.governance.plan import CallPlan

if TYPE_CHECKING:
    from openfeature.client import OpenFeatureClient
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.provider import FeatureProvider

    from toolnexus.store.sqlite import StateStore

DECIDER = "flag"
TAG_PREFIX = "flag:"
EXPERIMENTAL = "experimental"

T = TypeVar("T", bool, str, int, float)

_domains = itertools.count(1)


class Flags:
    """A workspace's rollout flags: ``enabled(flag, plan)`` asks the OpenFeature provider about one call.

    ``provider`` is any OpenFeature provider (None: no flags, every flag off without asking anyone);
    ``environment`` and ``tenant`` (the tenant of calls whose caller names none) go in every evaluation context.
    The provider is bound to an OpenFeature domain of this object's own, so two workspaces in one process
    never share a provider, and one set with ``openfeature.api.set_provider`` for the process is left alone.
    """

    def __init__(self, provider: FeatureProvider | None = None, *, environment: str | None = None,
                 tenant: str | None = None, stored: StoredFlags | None = None) -> None:
        self.provider = provider
        self.environment = environment
        self.tenant = tenant
        self.stored = stored
        """The flags of the state store (set, unset, list; each change audited), None without a store."""
        self.domain = f"toolnexus-flags-{next(_domains)}"
        self._client: OpenFeatureClient | None = None

    @classmethod
    def from_settings(cls, flags: FlagsSettings | None, *, environment: str | None = None,
                      tenant: str | None = None, store: StateStore | None = None,
                      announce: Announcer | None = None) -> Flags:
        """The flags ``[flags]`` configures: its ``provider`` factory's provider, else its flag tables with, over
        them, the flags of ``store`` (changes to those are announced on ``announce``)."""
        if flags is not None and flags.provider:
            provider = load_provider(flags.provider)
            stored = None if store is None else StoredFlags(store, announce, served=False)
            return cls(provider, environment=environment, tenant=tenant, stored=stored)
        tables = flags.flags if flags is not None else {}
        if store is None and not tables:
            return cls(None, environment=environment, tenant=tenant)  # every flag off, asking nobody
        from toolnexus.governance.flag_provider import SettingsProvider
        from toolnexus.store.flags import FlagTable

        provider = SettingsProvider(tables, None if store is None else FlagTable(store))
        stored = None if store is None else StoredFlags(store, announce, on_change=provider.reload)
        return cls(provider, environment=environment, tenant=tenant, stored=stored)

    @property
    def client(self) -> OpenFeatureClient:
        """The OpenFeature client of this object's domain (the provider registered, and ready, on first use)."""
        if self._client is None:
            from openfeature import api

            assert self.provider is not None
            api.set_provider_and_wait(self.provider, domain=self.domain)
            self._client = api.get_client(domain=self.domain)
        return self._client

    def context(self, plan: CallPlan) -> EvaluationContext:
        """The evaluation context of ``plan``: the caller's principal as targeting key; tenant, surface, tool,
        namespace, tier, lifecycle and environment as attributes (those known)."""
        from openfeature.evaluation_context import EvaluationContext

        caller = plan.call.caller
        tool = plan.tool
        attributes: dict[str, Any] = {"tool": tool, "namespace": tool.rpartition(".")[0],
                                      "surface": str(caller.surface if caller is not None else Surface.PYTHON)}
        tenant = (caller.tenant if caller is not None else None) or self.tenant
        facts = {"tenant": tenant, "environment": self.environment}
        if plan.spec is not None:
            facts.update(tier=str(plan.spec.tier), lifecycle=str(plan.spec.lifecycle))
        attributes.update((k, v) for k, v in facts.items() if v is not None)
        return EvaluationContext(targeting_key=caller.principal if caller is not None else os_user(),
                                 attributes=attributes)

    def value(self, flag: str, plan: CallPlan, default: T) -> T:
        """The value of ``flag`` for ``plan``, of ``default``'s type (``default`` when the flag is unknown, of
        another type, or the provider fails: OpenFeature never raises to its caller)."""
        if self.provider is None:
            return default
        client, context = self.client, self.context(plan)
        if isinstance(default, bool):
            return client.get_boolean_value(flag, default, context)  # type: ignore[return-value]
        if isinstance(default, int):
            return client.get_integer_value(flag, default, context)  # type: ignore[return-value]
        if isinstance(default, float):
            return client.get_float_value(flag, default, context)  # type: ignore[return-value]
        return client.get_string_value(flag, default, context)  # type: ignore[return-value]

    def enabled(self, flag: str, plan: CallPlan) -> bool:
        """Whether the boolean ``flag`` is on for ``plan`` (off when unknown or not a boolean)."""
        return self.value(flag, plan, False)

    def opt_in(self, plan: CallPlan) -> bool:
        """Whether ``plan``'s experimental tool is opted in: the flag ``experimental.<tool>``, else ``experimental``."""
        return self.enabled(f"{EXPERIMENTAL}.{plan.tool}", plan) or self.enabled(EXPERIMENTAL, plan)

    def close(self) -> None:
        """Let go of the provider (OpenFeature shuts it down): its domain falls back to a no-op provider."""
        if self._client is not None:
            from openfeature import api
            from openfeature.provider.no_op_provider import NoOpProvider

            api.set_provider(NoOpProvider(), domain=self.domain)
            self._client = None


class FlagCheck:
    """A ``Governance.checks`` entry: a tool tagged ``flag:NAME`` is refused while ``NAME`` is off for the call."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags

    def __call__(self, plan: CallPlan) -> Decision | None:
        """A deny naming the first of the tool's flags that is off for ``plan``; None when all are on (or none)."""
        spec = plan.spec
        if spec is None or not spec.tags:
            return None
        for tag in spec.tags:
            name = tag[len(TAG_PREFIX):]
            if tag.startswith(TAG_PREFIX) and not self.flags.enabled(name, plan):
                return Decision(verdict=Verdict.DENY, decider=DECIDER, policy=tag,
                                reason=f"{plan.tool} is behind the rollout flag {name!r}, which is off for this call")
        return None


def load_provider(target: str) -> FeatureProvider:
    """The OpenFeature provider ``target`` (``"module:factory"``) returns; a DiagnosticError saying what is wrong."""
    module_name, _, attribute = target.partition(":")
    hint = "set [flags] provider to \"module:factory\", a callable of no arguments returning an OpenFeature provider"
    if not module_name or not attribute:
        raise DiagnosticError([Diagnostic(message=f"[flags] provider {target!r} is not \"module:factory\"",
                                          hint=hint)])
    try:
        factory: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            factory = getattr(factory, part)
        provider = factory()
    except Exception as exc:  # the team's code: whatever it raises is a configuration problem here
        raise DiagnosticError([Diagnostic(message=f"[flags] provider {target!r}: {type(exc).__name__}: {exc}",
                                          hint=hint)]) from exc
    if not callable(getattr(provider, "resolve_boolean_details", None)):
        raise DiagnosticError([Diagnostic(message=f"[flags] provider {target!r} returned {type(provider).__name__}, "
                                          "not an OpenFeature provider", hint=hint)])
    return provider
