"""json.query: JMESPath over JSON values."""

from __future__ import annotations

import pytest

from toolnexus.builtins import jsonq
from toolnexus.builtins.jsonq import query_json
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import spec_of

query = spec_of(query_json).callable


def test_query_selects_and_projects():
    data = {"rows": [{"region": "emea", "total": 3}, {"region": "apac", "total": 5}]}
    assert query({"data": data, "query": "rows[?total > `4`].region"}) == ["apac"]
    assert query({"data": data, "query": "sum(rows[].total)"}) == 8
    assert query({"data": data, "query": "missing"}) is None


def test_query_works_on_any_json_value():
    assert query({"data": [3, 1, 2], "query": "sort(@)"}) == [1, 2, 3]
    assert query({"data": "text", "query": "length(@)"}) == 4


def test_bad_query_is_invalid_arguments_with_the_parse_error():
    with pytest.raises(ToolFailure) as failure:
        query({"data": {}, "query": "rows[?"})
    error = failure.value.error
    assert error.kind is ErrorKind.INVALID_ARGUMENTS
    assert "rows[?" in error.message and "invalid JMESPath" in error.message


def test_query_that_fails_on_the_data_is_invalid_arguments():
    with pytest.raises(ToolFailure) as failure:
        query({"data": {"a": "x"}, "query": "sum(a)"})
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS


# -- bounds: a hostile query ends quickly with limit_exceeded -------------------------------------------------

DOUBLED = "@" + " | [@, @]" * 60  # 2**60 copies of the data as JSON, in 61 small lists sharing their halves


def limit_failure(q: str, data: object) -> str:
    """The message of the limit_exceeded failure ``q`` gives on ``data``."""
    with pytest.raises(ToolFailure) as failure:
        query({"data": data, "query": q})
    assert failure.value.error.kind is ErrorKind.LIMIT_EXCEEDED, failure.value.error
    return failure.value.error.message


@pytest.mark.parametrize("q", [
    DOUBLED,
    f"({DOUBLED}) == ({DOUBLED})",  # comparing two such values would take 2**60 steps in C
    f"to_string({DOUBLED})",
], ids=["result", "comparison", "to_string"])
def test_values_that_share_their_parts_are_measured_with_every_copy(q):
    assert f"over {jsonq.MAX_VALUE:,} characters as JSON" in limit_failure(q, 1)


def test_a_text_doubled_by_join_is_stopped():
    message = limit_failure("@" + " | [@, @] | join('', @)" * 40, "x")
    assert f"over {jsonq.MAX_VALUE:,} characters as JSON" in message


def test_projections_share_one_budget_of_steps(monkeypatch):
    monkeypatch.setattr(jsonq, "MAX_STEPS", 10_000)  # the same bound, reached sooner
    rows = [list(range(200))] * 200
    assert "more than 10,000 steps" in limit_failure("[*].map(&[*], @)", rows)


def test_a_query_past_its_deadline_is_stopped(monkeypatch):
    monkeypatch.setattr(jsonq, "QUERY_TIMEOUT", 0.0)
    assert "longer than 0s" in limit_failure("[*].map(&@, @)", [list(range(100))] * 100)


def test_a_result_over_the_cap_is_refused(monkeypatch):
    monkeypatch.setattr(jsonq, "MAX_RESULT", 1000)
    assert "result is over 1,000 characters" in limit_failure("@", ["x" * 2000])
    assert query({"data": ["x" * 10], "query": "@"}) == ["x" * 10]


def test_a_query_nested_too_deeply_is_invalid_arguments():
    with pytest.raises(ToolFailure) as failure:
        query({"data": 1, "query": "[" * 5000 + "]" * 5000})
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert "nests too deeply" in failure.value.error.message
