"""The stand-in for rfc3987_syntax: jsonschema imports cheaply, and ``iri`` checking still works."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("rfc3987_syntax")

SCRIPT = """
import sys
import toolnexus, jsonschema
deferred = type(sys.modules["rfc3987_syntax"]).__name__
checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
validator = jsonschema.Draft202012Validator({"type": "string", "format": "iri"}, format_checker=checker)
print(deferred, validator.is_valid("http://example.com/ä"), validator.is_valid("::: not an iri"),
      type(sys.modules["rfc3987_syntax"]).__name__)
"""


def test_jsonschema_does_not_load_the_grammar_until_an_iri_is_checked() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["_StandIn", "True", "False", "module"]


def test_a_module_imported_before_toolnexus_is_left_alone() -> None:
    script = "import sys, rfc3987_syntax, toolnexus; print(type(sys.modules['rfc3987_syntax']).__name__)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "module"
