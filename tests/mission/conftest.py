"""Compiling missions against a registry of the built-in tools and the test tools."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

from tests.fixtures.tools import ALL
from toolnexus.builtins import builtin_specs
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.mission import Plan, compile_source
from toolnexus.registry import Registry, spec_of


@pytest.fixture
def registry() -> Registry:
    registry = Registry(builtin_specs())
    for fn in ALL:
        registry.register(spec_of(fn))
    return registry


@pytest.fixture
def compile_text(registry: Registry) -> Callable[..., Plan]:
    """Compile dedented mission text (as file ``mission.yaml``) against ``registry``."""

    def compile_(text: str, file: str = "mission.yaml") -> Plan:
        return compile_source(dedent(text), file, registry.get)

    return compile_


@pytest.fixture
def problems(compile_text: Callable[..., Plan]) -> Callable[[str], list[str]]:
    """The diagnostics (as ``line:column message``) of mission text that must not compile."""

    def problems_(text: str) -> list[str]:
        with pytest.raises(DiagnosticError) as info:
            compile_text(text)
        return [f"{d.line}:{d.column} {d.message}" for d in info.value.diagnostics]

    return problems_
