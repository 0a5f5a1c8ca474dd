"""json.query: JMESPath over JSON values."""

from __future__ import annotations

import pytest

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
