"""Defer a third-party import that would otherwise cost every ``toolnexus`` command seconds.

``jsonschema`` imports every optional format checker it finds when it is first imported. Jupyter's
dependencies install ``rfc3987-syntax``, which builds a Lark grammar at import time (about 3 s here),
only to check the rarely used ``iri`` format. We put a stand-in module in its place whose
``is_valid_syntax`` (the one name jsonschema takes) imports the real module on its first call; any
other attribute does the same. Nothing changes for code that never checks an ``iri``, and code that
does gets the real function.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable
from typing import Any

_SLOW = "rfc3987_syntax"


class _StandIn(types.ModuleType):
    """Becomes the real module on first use."""

    def _real(self) -> types.ModuleType:
        module = sys.modules.get(_SLOW)
        if module is None or module is self:
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]
            sys.modules.pop(_SLOW, None)
            module = importlib.import_module(_SLOW)
        return module

    def is_valid_syntax(self, *args: Any, **kwargs: Any) -> Any:
        return self._real().is_valid_syntax(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system probes ``__path__`` and the like: not a use
            raise AttributeError(name)
        return getattr(self._real(), name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _SLOW:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _StandIn(_SLOW)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def defer_slow_imports() -> None:
    """Install the stand-in unless the module is already imported (or the stand-in already there)."""
    if _SLOW in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    if importlib.machinery.PathFinder.find_spec(_SLOW) is None:
        return  # not installed: jsonschema skips the format, as it would without us
    sys.meta_path.insert(0, _Finder())


def exports_of(init_file: str) -> dict[str, str]:
    """A package's public names → the module each comes from, read from the ``if TYPE_CHECKING:`` imports of
    its ``__init__`` file ``init_file``: the one list of its API, which type checkers and IDEs read too (parsing
    it costs about a millisecond, far less than importing what it names)."""
    import ast

    with open(init_file, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    return {alias.asname or alias.name: statement.module
            for statement in block.body if isinstance(statement, ast.ImportFrom) and statement.module
            for alias in statement.names}


def lazy_package(package: str, init_file: str, *also: str) -> tuple[list[str], Callable[[str], Any],
                                                                     Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, whose public names — the ``if TYPE_CHECKING:``
    imports of its ``__init__`` file ``init_file`` (see :func:`exports_of`), and ``also`` — are imported on first
    use (PEP 562)."""
    exports = exports_of(init_file)
    names = sorted([*also, *exports])
    return names, lazy_getattr(package, exports), lambda: names


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for ``package``: a name of ``exports`` is imported from its module on
    first use and kept in the package, so later lookups skip the function; any other name is an AttributeError
    (``from package import submodule`` then imports the submodule, as ever)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
