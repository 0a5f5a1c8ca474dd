"""The default OpenFeature provider: the flags of ``[flags]`` in ``toolnexus.toml``, targeted by the call's context.

It is an ordinary OpenFeature provider (``AbstractProvider``): the OpenFeature client evaluates through it as
through flagd or a vendor's, so swapping it for one of those changes no code (``[flags] provider``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from toolnexus.governance.flag_model import TARGETS, FlagSettings, FlagValue

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Target:
    """A rule's matcher on one context attribute: names and fnmatch globs."""

    attribute: str
    patterns: tuple[str, ...]

    def match(self, context: Mapping[str, Any]) -> bool:
        """Whether the context's attribute is one of the names or matches one of the globs."""
        value = context.get(self.attribute)
        return value is not None and any(fnmatch.fnmatchcase(str(value), p) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    """A flag ready to evaluate: ``(targets, value)`` rules in order, then the default."""

    default: FlagValue
    rules: tuple[tuple[tuple[Target, ...], FlagValue], ...]

    @classmethod
    def of(cls, flag: FlagSettings) -> CompiledFlag:
        """The compiled form of ``flag``."""
        rules = tuple((tuple(Target(attr, tuple(getattr(rule, key))) for key, attr in TARGETS
                             if getattr(rule, key) is not None), rule.value) for rule in flag.rules)
        return cls(flag.default, rules)

    def resolve(self, context: EvaluationContext | None) -> FlagResolutionDetails[Any]:
        """The value for ``context``: the first matching rule's (its index as the variant), else the default."""
        facts: dict[str, Any] = dict(context.attributes) if context is not None else {}
        if context is not None and context.targeting_key is not None:
            facts.setdefault("principal", context.targeting_key)
        for index, (targets, value) in enumerate(self.rules):
            if all(target.match(facts) for target in targets):
                return FlagResolutionDetails(value=value, reason=Reason.TARGETING_MATCH, variant=f"rule {index + 1}")
        return FlagResolutionDetails(value=self.default, reason=Reason.DEFAULT, variant="default")


class SettingsProvider(AbstractProvider):
    """Serves the flags of ``[flags]``: each flag's first matching targeting rule, else its default."""

    def __init__(self, flags: Mapping[str, FlagSettings]) -> None:
        super().__init__()
        self._flags = {name: CompiledFlag.of(flag) for name, flag in flags.items()}

    def get_metadata(self) -> Metadata:
        """The provider's name, as OpenFeature reports it."""
        return Metadata(name="toolnexus.toml")

    def _resolve(self, key: str, default: V, context: EvaluationContext | None) -> FlagResolutionDetails[Any]:
        flag = self._flags.get(key)
        if flag is None:
            return FlagResolutionDetails(value=default, reason=Reason.ERROR, error_code=ErrorCode.FLAG_NOT_FOUND,
                                         error_message=f"no flag {key!r} in [flags] of toolnexus.toml")
        return flag.resolve(context)

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        """The flag's value (the client checks it is a boolean)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[str]:
        """The flag's value (the client checks it is a string)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[int]:
        """The flag's value (the client checks it is an integer)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[float]:
        """The flag's value (the client checks it is a number)."""
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_object_details(self, flag_key: str, default_value: Sequence[Any] | Mapping[str, Any],
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[Any]:
        """Flags of ``[flags]`` are never objects: the value, which the client then refuses as the wrong type."""
        return self._resolve(flag_key, default_value, evaluation_context)
