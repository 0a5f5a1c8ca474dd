"""Tool names in each provider's alphabet, and back: a collision-free, reversible map per export.

Providers restrict tool names: OpenAI and Anthropic to ``^[a-zA-Z0-9_-]{1,64}$``, MCP (2025-11-25,
SEP-986) to ``^[A-Za-z0-9._-]{1,128}$``. A name already valid for the provider is kept as it is.
Otherwise dots become ``__``, any other character outside the alphabet becomes ``_xHH_`` (its code
point in hex), and a name still too long is cut and ends in ``_`` plus 8 hex digits of its SHA-256.
A provider name another tool already holds gets that hash suffix too, so no two tools of one export
ever share a name; the :class:`NameMap` records every pair and is what parsing reads back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from toolnexus.core.diagnostics import did_you_mean
from toolnexus.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class NameRules:
    """What a provider accepts as a tool name."""

    provider: str
    pattern: re.Pattern[str]
    max_length: int
    keeps_dots: bool


OPENAI = NameRules("openai", re.compile(r"^[a-zA-Z0-9_-]{1,64}$"), 64, keeps_dots=False)
ANTHROPIC = NameRules("anthropic", re.compile(r"^[a-zA-Z0-9_-]{1,64}$"), 64, keeps_dots=False)
MCP = NameRules("mcp", re.compile(r"^[A-Za-z0-9._-]{1,128}$"), 128, keeps_dots=True)
HASH_LENGTH = 8


class Provider(StrEnum):
    """Where the definitions go."""

    MCP = "mcp"
    OPENAI = "openai"  # Chat Completions
    OPENAI_RESPONSES = "openai-responses"
    ANTHROPIC = "anthropic"


RULES: dict[Provider, NameRules] = {Provider.MCP: MCP, Provider.OPENAI: OPENAI,
                                    Provider.OPENAI_RESPONSES: OPENAI, Provider.ANTHROPIC: ANTHROPIC}


class AdapterError(InvalidInput, ValueError):
    """A tool that cannot be exported as asked, or a provider payload that is not a tool call."""


class UnknownProviderName(NotFound, LookupError):
    """A provider's tool call names a tool this export never offered."""

    def __init__(self, name: str, known: list[str], provider: str) -> None:
        self.hint = did_you_mean(name, known)
        super().__init__(f"{provider} called {name!r}, which is not a tool of this export")


def _digest(name: str, extra: int = 0) -> str:
    return hashlib.sha256(f"{name}#{extra}".encode() if extra else name.encode()).hexdigest()[:HASH_LENGTH]


def _readable(name: str, rules: NameRules) -> str:
    allowed = re.compile(r"[A-Za-z0-9_.-]" if rules.keeps_dots else r"[A-Za-z0-9_-]")
    out = []
    for char in name:
        if allowed.fullmatch(char):
            out.append(char)
        elif char == ".":
            out.append("__")
        else:
            out.append(f"_x{ord(char):02x}_")
    return "".join(out)


def _hashed(name: str, base: str, rules: NameRules, extra: int = 0) -> str:
    suffix = "_" + _digest(name, extra)
    return base[: rules.max_length - len(suffix)] + suffix


@dataclass
class NameMap:
    """Tool names and their provider names, both ways, for one export to one provider."""

    rules: NameRules
    to_provider: dict[str, str] = field(default_factory=dict)
    to_tool: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, names: Iterable[str], rules: NameRules) -> NameMap:
        """A map for ``names``; which name keeps the readable form depends only on the set, not its order."""
        mapping = cls(rules)
        unique = sorted(set(names))
        # Names valid as they are come first: a tool called ``a__b`` keeps its name, ``a.b`` yields it.
        for name in unique:
            if rules.pattern.fullmatch(name):
                mapping._assign(name, name)
        for name in unique:
            if name in mapping.to_provider:
                continue
            candidate = _readable(name, rules)
            if len(candidate) > rules.max_length or candidate in mapping.to_tool:
                candidate = _hashed(name, candidate, rules)
            extra = 0
            while candidate in mapping.to_tool:  # a hash collision: astronomically rare, still handled
                extra += 1
                candidate = _hashed(name, _readable(name, rules), rules, extra)
            mapping._assign(name, candidate)
        return mapping

    def _assign(self, name: str, provider_name: str) -> None:
        assert self.rules.pattern.fullmatch(provider_name), provider_name
        self.to_provider[name] = provider_name
        self.to_tool[provider_name] = name

    def provider_name(self, name: str) -> str:
        """The name ``name`` has for this provider."""
        return self.to_provider[name]

    def tool_name(self, provider_name: str) -> str:
        """The tool a provider name stands for; :class:`UnknownProviderName` if this export has none."""
        try:
            return self.to_tool[provider_name]
        except KeyError:
            raise UnknownProviderName(provider_name, list(self.to_tool), self.rules.provider) from None
