"""toolnexus.errors: every exception the package defines belongs to the one hierarchy."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import toolnexus
from toolnexus.errors import InvalidInput, NotFound, ToolnexusError, Unavailable


def _package_modules() -> list[str]:
    # `__main__` modules run a program when imported.
    return sorted(m.name for m in pkgutil.walk_packages(toolnexus.__path__, "toolnexus.")
                  if not m.name.endswith("__main__"))


def _defined_exceptions() -> list[type[BaseException]]:
    found = []
    for name in _package_modules():
        module = importlib.import_module(name)
        for _, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == name:
                found.append(value)
    return found


def test_every_exception_toolnexus_defines_derives_from_toolnexus_error() -> None:
    exceptions = _defined_exceptions()
    assert len(exceptions) >= 20  # the walk found the package's exceptions, not an empty set
    outside = [f"{e.__module__}.{e.__qualname__}" for e in exceptions if not issubclass(e, ToolnexusError)]
    assert outside == []


@pytest.mark.parametrize(("module", "name", "family", "builtin"), [
    ("toolnexus.registry.registry", "ToolNotFound", NotFound, LookupError),
    ("toolnexus.mission.expressions", "ExpressionError", InvalidInput, ValueError),
    ("toolnexus.core.diagnostics", "DiagnosticError", InvalidInput, Exception),
    ("toolnexus.mcp.client", "McpUnavailable", Unavailable, Exception),
])
def test_concrete_errors_keep_their_builtin_base_and_join_a_family(module: str, name: str, family: type,
                                                                    builtin: type) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, family)
    assert issubclass(cls, builtin)


def test_a_user_catches_any_toolnexus_error_from_the_top_level() -> None:
    with pytest.raises(toolnexus.ToolnexusError):
        toolnexus.default_nexus().registry.get("no.such.tool", None)
