"""``toolnexus.core`` names its public shapes lazily (PEP 562): each is imported on first use, and is the same
object as in its own module; importing the package alone imports none of them (nor pydantic)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import toolnexus.core as core
from toolnexus._deferred import exports_of


def test_every_public_name_is_the_object_of_its_module() -> None:
    exports = exports_of(core.__file__)
    assert core.__all__ == sorted(exports)
    for name, module in exports.items():
        assert getattr(core, name) is getattr(importlib.import_module(module), name), name


def test_an_unknown_name_is_an_attribute_error_and_a_submodule_still_imports() -> None:
    try:
        core.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("toolnexus.core.no_such_name resolved")
    from toolnexus.core import progress

    assert progress.__name__ == "toolnexus.core.progress"


def test_importing_the_package_or_the_surface_imports_no_model() -> None:
    script = ("import json, sys, toolnexus.core, toolnexus.core.surface\n"
              "print(json.dumps(sorted(m for m in sys.modules if m == 'pydantic' or m.startswith('toolnexus.core.'))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) == ["toolnexus.core.surface"]


def test_the_caller_s_surface_is_the_surface_module_s() -> None:
    from toolnexus.core.caller import Surface as from_caller
    from toolnexus.core.surface import Surface

    assert from_caller is Surface
