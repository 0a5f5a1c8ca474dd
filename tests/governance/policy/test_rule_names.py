"""A rule's name matchers (exact names and globs, compiled once) and the decisions a winning rule gives."""

from __future__ import annotations

import fnmatch

import pytest

from toolnexus.core.decision import Verdict
from toolnexus.governance.policy.combine import combine, enforced_decision
from toolnexus.governance.policy.model import Effect, Mode
from toolnexus.governance.policy.rule import Names, Rule

NAMES = ["files.read", "svc*.run", "q?", "[ab]c", "[!x]y", "net.*", "a.b*c"]
VALUES = ["files.read", "svc1.run", "svc.run", "svc1.runs", "q1", "q", "q12", "ac", "bc", "cc", "zy", "xy",
          "net.fetch", "net", "a.bc", "a.bxc", "a.b\nc", "line\nbreak", "", "FILES.READ"]


@pytest.mark.parametrize("value", VALUES)
def test_compiled_globs_match_as_fnmatch_does(value: str) -> None:
    names = Names.of(NAMES)
    expected = value in names.exact or any(fnmatch.fnmatchcase(value, glob) for glob in names.globs)
    assert names.match(value) is expected


def test_a_lone_star_matches_every_name_and_no_missing_one() -> None:
    anyone = Names.of(["*"])
    assert all(anyone.match(value) for value in VALUES)
    assert not anyone.match(None)


def test_matchers_compare_by_their_names() -> None:
    assert Names.of(["a", "b*"]) == Names.of(["a", "b*"]) != Names.of(["a", "c*"])
    assert hash(Names.of(["a", "b*"])) == hash(Names.of(["a", "b*"]))


def _rule(effect: Effect, rule_id: str = "r1", reason: str = "") -> Rule:
    return Rule(id=rule_id, effect=effect, mode=Mode.ENFORCE, order=0, reason=reason)


def test_a_winning_rule_gives_the_same_decision_each_time() -> None:
    allow, deny = _rule(Effect.ALLOW), _rule(Effect.DENY)
    assert combine([allow]) is combine([allow])
    assert combine([deny]).verdict is Verdict.DENY and combine([deny]) is enforced_decision(deny)
    assert combine([allow]).reason == "allowed by policy rule r1"
    assert combine([deny]).reason == "denied by policy rule r1"


def test_a_reloaded_rule_of_the_same_id_decides_with_its_own_reason() -> None:
    before = combine([_rule(Effect.DENY, reason="old")])
    after = combine([_rule(Effect.DENY, reason="new")])
    assert (before.reason, after.reason) == ("old", "new")
