"""The argument-condition grammar: each operator, shorthands, paths, and what a missing argument means."""

from __future__ import annotations

from typing import Any

import pytest

from toolnexus.core.yamlpos import load_yaml
from toolnexus.governance.policy.conditions import compile_block


def _holds(block: str, arguments: dict[str, Any]) -> bool:
    data, positions = load_yaml(block)
    problems: list[Any] = []
    conditions = compile_block(data, (), positions, problems)
    assert not problems, problems
    return all(c.holds(arguments) for c in conditions)


@pytest.mark.parametrize(("block", "arguments", "expected"), [
    ("path: {under: out}", {"path": "out/a/b.txt"}, True),
    ("path: {under: out/}", {"path": "out"}, True),
    ("path: {under: out}", {"path": "out/../etc/passwd"}, False),
    ("path: {under: out}", {"path": "output/x"}, False),
    ("path: {under: out}", {"path": "/out/x"}, False),
    ("path: {startswith: out/}", {"path": "out/../x"}, True),  # plain text: use `under` for paths
    ("url: {host_in: [api.example.com]}", {"url": "https://API.example.com:8443/v1"}, True),
    ("url: {host_in: ['*.example.com']}", {"url": "https://a.b.example.com/"}, True),
    ("url: {host_in: ['*.example.com']}", {"url": "https://example.com.evil.test/"}, False),
    ("url: {host_in: [api.example.com]}", {"url": "https://api.example.com@evil.test/"}, False),
    ("amount: {lt: 500}", {"amount": 499.99}, True),
    ("amount: {lt: 500}", {"amount": "10"}, False),
    ("amount: {lt: 500}", {"amount": True}, False),
    ("amount: {ge: 10, le: 20}", {"amount": 20}, True),
    ("amount: {gt: 10}", {}, False),
    ("mode: fast", {"mode": "fast"}, True),
    ("region: [eu, us]", {"region": "apac"}, False),
    ("region: {not_in: [eu, us]}", {"region": "apac"}, True),
    ("region: {ne: eu}", {"region": "us"}, True),
    ("name: {matches: '^report-'}", {"name": "report-1"}, True),
    ("name: {glob: '*.csv'}", {"name": "a.csv"}, True),
    ("name: {endswith: [.csv, .tsv]}", {"name": "a.tsv"}, True),
    ("options.level: {eq: 3}", {"options": {"level": 3}}, True),
    ("items.1.name: x", {"items": [{"name": "a"}, {"name": "x"}]}, True),
    ("items.5.name: x", {"items": [{"name": "a"}]}, False),
    ("token: {exists: false}", {}, True),
    ("token: {exists: true}", {"token": None}, True),
])
def test_conditions(block: str, arguments: dict[str, Any], expected: bool) -> None:
    assert _holds(block, arguments) is expected
