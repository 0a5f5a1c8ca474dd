"""``json.query``: JMESPath over any JSON value."""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import tool


@tool(name="json.query", version="1.0.0", tier="read_only", tags=["json", "data"], deterministic=True,
      register=False,
      examples=[{"arguments": {"data": {"rows": [{"region": "emea", "total": 3},
                                                 {"region": "apac", "total": 5}]},
                               "query": "rows[?total > `4`].region"},
                 "result": ["apac"]}])
def query_json(data: Any, query: str) -> Any:
    """Select and reshape JSON data with a JMESPath query (https://jmespath.org).

    Args:
        data: Any JSON value to query.
        query: The JMESPath expression, e.g. ``rows[?total > `4`].region``.

    Returns:
        The value the query selects (null when nothing matches).
    """
    try:
        expression = jmespath.compile(query)
    except JMESPathError as exc:
        raise ToolFailure(f"invalid JMESPath query {query!r}: {exc}", kind=ErrorKind.INVALID_ARGUMENTS,
                          details={"query": query}) from None
    try:
        return expression.search(data)
    except JMESPathError as exc:
        raise ToolFailure(f"JMESPath query {query!r} failed on this data: {exc}",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"query": query}) from None
