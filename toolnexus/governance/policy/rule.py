"""A compiled rule: its matchers as sets and globs, its conditions as tests, and the facts it is matched on."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolnexus.core.caller import Surface, os_user
from toolnexus.governance.plan import CallPlan
from toolnexus.governance.policy.conditions import Condition
from toolnexus.governance.policy.model import Channel, Effect, Mode

GLOB_CHARS = frozenset("*?[")


def is_glob(text: str) -> bool:
    """Whether ``text`` is an fnmatch pattern rather than a plain name."""
    return not GLOB_CHARS.isdisjoint(text)


@dataclass(frozen=True, slots=True)
class Names:
    """A matcher on one fact: exact names (a set lookup) and glob patterns."""

    exact: frozenset[str]
    globs: tuple[str, ...]
    # The globs as one compiled pattern (None: no globs), made once: a decision then runs one regex match, not
    # an fnmatch call (with its cache lookup) per glob. ``*`` alone matches any name: no regex at all.
    _glob: Callable[[str], Any] | None = field(init=False, default=None, compare=False, repr=False)
    _any: bool = field(init=False, default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if "*" in self.globs:
            object.__setattr__(self, "_any", True)
        elif self.globs:
            pattern = "|".join(fnmatch.translate(glob) for glob in self.globs)
            object.__setattr__(self, "_glob", re.compile(pattern).match)

    @classmethod
    def of(cls, values: Iterable[Any]) -> Names:
        """The matcher of ``values`` as a rule lists them."""
        texts = [str(v) for v in values]
        return cls(frozenset(t for t in texts if not is_glob(t)), tuple(t for t in texts if is_glob(t)))

    def match(self, value: str | None) -> bool:
        """Whether ``value`` is one of the names or matches one of the globs."""
        if value is None:
            return False
        if self._any or value in self.exact:
            return True
        return self._glob is not None and self._glob(value) is not None

    def __str__(self) -> str:
        return ", ".join(sorted(self.exact) + list(self.globs))


def flag_of(flags: Callable[[str, CallPlan], bool] | None, plan: CallPlan) -> Callable[[str], bool] | None:
    """Whether a rollout flag is on for ``plan``, by name (None without ``flags``: every flag off)."""
    if flags is None:
        return None

    def flag(name: str) -> bool:
        return flags(name, plan)

    return flag


# Not frozen: a frozen dataclass sets each of its 12 fields through object.__setattr__, and the facts are made
# for every governed call. Nothing changes them once made (and, holding the arguments, they were never hashable).
@dataclass(slots=True)
class Facts:
    """What a rule is matched on: the tool, the runtime, the caller, the mission and the arguments."""

    tool: str
    namespace: str
    tier: str | None
    lifecycle: str | None
    tags: tuple[str, ...]
    runtime: str | None
    principal: str
    tenant: str | None
    surface: str
    mission: str | None
    arguments: Mapping[str, Any]
    flag: Callable[[str], bool] | None = None  # whether a rollout flag is on for the call (None: every flag off)

    @classmethod
    def of(cls, plan: CallPlan, *, mission: str | None = None, tenant: str | None = None,
           flag: Callable[[str], bool] | None = None) -> Facts:
        """The facts of ``plan``: a call without a caller is the process's OS user's, through the Python API;
        ``tenant`` is the workspace's, for a caller that names none; ``flag`` tells whether a flag is on for it."""
        spec = plan.spec
        caller = plan.call.caller
        name = plan.tool
        return cls(
            tool=name,
            namespace=name.rpartition(".")[0],
            # StrEnum members compare and hash as their values: no `.value` lookups on the hot path.
            tier=spec.tier if spec is not None else None,
            lifecycle=spec.lifecycle if spec is not None else None,
            tags=tuple(spec.tags) if spec is not None else (),
            runtime=plan.runtime,
            principal=caller.principal if caller is not None else os_user(),
            tenant=(caller.tenant if caller is not None else None) or tenant,
            surface=caller.surface if caller is not None else Surface.PYTHON,
            mission=mission,
            arguments=plan.call.arguments,
            flag=flag,
        )

    def flag_on(self, name: str) -> bool:
        """Whether the rollout flag ``name`` is on for the call (off where no flags are known)."""
        return self.flag is not None and self.flag(name)


# The matchers a rule may carry, in the order they are tried: the fact each reads.
MATCHERS: tuple[tuple[str, str], ...] = (
    ("tools", "tool"), ("namespaces", "namespace"), ("tiers", "tier"), ("lifecycle", "lifecycle"),
    ("runtimes", "runtime"), ("tenants", "tenant"), ("principals", "principal"), ("surfaces", "surface"),
    ("missions", "mission"),
)


NAME_KEYS = frozenset({"tools", "namespaces"})


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule of a policy: matchers, conditions, effect and mode, and where it was written."""

    id: str
    effect: Effect
    mode: Mode
    order: int
    reason: str = ""
    matchers: tuple[tuple[str, str, Names], ...] = ()  # (key, fact, names)
    tags: frozenset[str] | None = None
    when: tuple[Condition, ...] = ()
    unless: tuple[Condition, ...] = ()
    approvers: tuple[str, ...] | None = None  # None: anyone may grant
    four_eyes: bool = False
    channels: tuple[Channel, ...] | None = None
    timeout: float | None = None
    flag: str | None = None  # a rollout flag that must be on for the call
    file: str | None = None
    line: int | None = None
    column: int | None = None
    # The matchers left to try on a candidate: all but tools and namespaces, which the index tried.
    checks: tuple[tuple[str, str, Names], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(m for m in self.matchers if m[0] not in NAME_KEYS))

    @property
    def enforced(self) -> bool:
        """Whether the rule's effect is applied (not only recorded)."""
        return self.mode is Mode.ENFORCE

    def names(self, key: str) -> Names | None:
        """The matcher of ``key`` (``tools``, ``namespaces``…), or None when the rule has none."""
        for name, _, names in self.matchers:
            if name == key:
                return names
        return None

    def mismatch(self, facts: Facts) -> str | None:
        """Why the rule does not match ``facts`` (None: it matches)."""
        return (self._names_mismatch(facts) or self._conditions_mismatch(facts.arguments)
                or self._flag_mismatch(facts))

    def _flag_mismatch(self, facts: Facts) -> str | None:
        if self.flag is None or facts.flag_on(self.flag):
            return None
        return f"the rollout flag {self.flag!r} is off for the call"

    def _names_mismatch(self, facts: Facts) -> str | None:
        for key, fact, names in self.matchers:
            if not names.match(getattr(facts, fact)):
                return f"{fact} {getattr(facts, fact)!r} is not in {key} [{names}]"
        if self.tags is not None and self.tags.isdisjoint(facts.tags):
            return f"the tool has none of the tags [{', '.join(sorted(self.tags))}]"
        return None

    def _conditions_mismatch(self, arguments: Mapping[str, Any]) -> str | None:
        for condition in self.when:
            if not condition.holds(arguments):
                return f"when: not {condition}"
        if self.unless and all(c.holds(arguments) for c in self.unless):
            return "unless: " + " and ".join(str(c) for c in self.unless)
        return None

    def matches(self, facts: Facts) -> bool:
        """Whether the rule applies to ``facts``."""
        return self.admits(facts, self.matchers)

    def admits(self, facts: Facts, matchers: tuple[tuple[str, str, Names], ...] | None = None) -> bool:
        """Whether the rule applies to ``facts``, given it is a candidate for their tool (the index matched
        its ``tools`` and ``namespaces``): the fast path of every decision, which builds no explanation."""
        for _, fact, names in self.checks if matchers is None else matchers:
            if not names.match(getattr(facts, fact)):
                return False
        if self.tags is not None and self.tags.isdisjoint(facts.tags):
            return False
        # The flag last: it may ask a remote provider.
        return self._conditions_hold(facts.arguments) and (self.flag is None or facts.flag_on(self.flag))

    def _conditions_hold(self, arguments: Mapping[str, Any]) -> bool:
        """Whether the ``when`` conditions all hold and the ``unless`` ones do not all hold."""
        for condition in self.when:
            if not condition.holds(arguments):
                return False
        return not (self.unless and all(c.holds(arguments) for c in self.unless))

    def summary(self) -> str:
        """What the rule matches, in one line."""
        parts = [f"{key} [{names}]" for key, _, names in self.matchers]
        if self.tags is not None:
            parts.append(f"tags [{', '.join(sorted(self.tags))}]")
        parts += [f"when {c}" for c in self.when]
        if self.unless:
            parts.append("unless " + " and ".join(str(c) for c in self.unless))
        if self.flag is not None:
            parts.append(f"flag {self.flag}")
        return "; ".join(parts) or "every call"

    def where(self) -> str:
        """Where the rule is written, as ``file:line:column``."""
        return ":".join(str(p) for p in (self.file or "<policy>", self.line, self.column) if p is not None)
