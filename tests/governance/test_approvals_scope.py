"""What an approval is bound to: the digest of the call is SHA-256 over RFC 8785 canonical JSON, so anyone with
a JCS library (here: the reference ``rfc8785`` package) recomputes it from the ticket's fields."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

import rfc8785

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, Surface
from toolnexus.governance.approvals_scope import call_digest, canonical_json, matches
from toolnexus.governance.plan import CallPlan


def test_a_call_digest_is_recomputed_by_a_reference_jcs_library() -> None:
    arguments = {"path": "out/é.md", "lines": [3, 1.5, None], "z": {"b": True, "a": "\u0001"}}
    caller = Caller(principal="alice", tenant="t1", surface=Surface.CLI)
    plan = CallPlan(call=ToolCall(tool="files.write", version="1.0.0", arguments=arguments, caller=caller))
    bound = {"tool": "files.write", "version": "1.0.0", "arguments": arguments, "principal": "alice",
             "tenant": "t1", "policy_version": "sha256:abc"}
    assert call_digest(plan, "sha256:abc") == hashlib.sha256(rfc8785.dumps(bound)).hexdigest()


def test_values_json_cannot_hold_exactly_are_taken_as_their_text() -> None:
    assert canonical_json({"p": PurePosixPath("a/b"), "n": float("nan"), "big": 2**60}) == \
        '{"big":"1152921504606846976","n":"nan","p":"a/b"}'


def test_a_pattern_matches_non_string_arguments_by_their_canonical_json() -> None:
    assert matches({"limits": '{"a":1,"b":*}'}, {"limits": {"b": 2, "a": 1}})
    assert not matches({"limits": '{"a":2*'}, {"limits": {"b": 2, "a": 1}})
