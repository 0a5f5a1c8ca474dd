"""The tools of the runtime conformance suite (tests/sandbox/test_conformance.py), one form per backend."""
