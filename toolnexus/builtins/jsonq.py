"""``json.query``: JMESPath over any JSON value, bounded in work, size and time.

A query is user input. Evaluating one is bounded by

- a budget of steps (every node of the query evaluated, for every element it is evaluated on) and a
  deadline, so projections over projections end however their counts multiply;
- a cap on the size (as JSON text) of every value the query builds — multi-selects, flattens, projections,
  function results — and on the result: lists that share their parts (``[@, @]`` applied sixty times is
  small in memory and 2**60 values as JSON) are measured with their parts counted each time, so no later
  comparison, serialisation, flatten or ``join`` can blow up (what each builds is at most twice what it
  is given).

Each is a ``limit_exceeded`` error that says which bound and what to do.
"""

from __future__ import annotations

import time
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.visitor import Options, TreeInterpreter

from toolnexus.core.bounds import json_lower_bound
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import tool

MAX_STEPS = 1_000_000  # query nodes evaluated, across the whole query
MAX_VALUE = 64 * 2**20  # characters of JSON text any value the query builds may stand for
MAX_RESULT = 16 * 2**20  # characters of JSON text the result may stand for
QUERY_TIMEOUT = 10.0  # seconds
_CLOCK_EVERY = 256  # steps between looks at the clock

# Nodes that build a new value from others (the rest hand back part of their input, or a literal).
_BUILDERS = frozenset({"multi_select_list", "multi_select_dict", "flatten", "projection", "filter_projection",
                       "value_projection", "function_expression"})


def _exceeded(message: str, **details: Any) -> ToolFailure:
    return ToolFailure(message, kind=ErrorKind.LIMIT_EXCEEDED, details=details)


class _BoundedInterpreter(TreeInterpreter):
    """JMESPath's interpreter, counting its steps, watching the clock and measuring what it builds."""

    def __init__(self) -> None:
        super().__init__(Options())
        self.steps = 0
        self.deadline = time.monotonic() + QUERY_TIMEOUT
        # Bounds of what the query built so far, kept across its steps: each container is measured once.
        self.sizes: dict[int, tuple[Any, int]] = {}

    def visit(self, node: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._step()
        value = super().visit(node, *args, **kwargs)
        if node["type"] in _BUILDERS and isinstance(value, dict | list) \
                and json_lower_bound(value, MAX_VALUE, self.sizes) > MAX_VALUE:
            raise _exceeded(f"query built a value of over {MAX_VALUE:,} characters as JSON; select less",
                            max_value=MAX_VALUE)
        return value

    def _step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _exceeded(f"query took more than {MAX_STEPS:,} steps; select less at once", max_steps=MAX_STEPS)
        if self.steps % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise _exceeded(f"query took longer than {QUERY_TIMEOUT:g}s; select less at once",
                            timeout=QUERY_TIMEOUT)


@tool(name="json.query", version="1.0.0", tier="read_only", tags=["json", "data"], deterministic=True,
      register=False,
      examples=[{"arguments": {"data": {"rows": [{"region": "emea", "total": 3},
                                                 {"region": "apac", "total": 5}]},
                               "query": "rows[?total > `4`].region"},
                 "result": ["apac"]}])
def query_json(data: Any, query: str) -> Any:
    """Select and reshape JSON data with a JMESPath query (https://jmespath.org).

    A query is bounded: a million steps, ten seconds, and 16 MiB of JSON for its result; past a bound it
    fails with ``limit_exceeded``.

    Args:
        data: Any JSON value to query.
        query: The JMESPath expression, e.g. ``rows[?total > `4`].region``.

    Returns:
        The value the query selects (null when nothing matches).
    """
    expression = _compile(query)
    interpreter = _BoundedInterpreter()
    try:
        result = interpreter.visit(expression.parsed, data)
    except JMESPathError as exc:
        raise ToolFailure(f"JMESPath query {query!r} failed on this data: {exc}",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"query": query}) from None
    except RecursionError:
        raise _exceeded("query nests too deeply for this data; flatten it", query=query) from None
    if json_lower_bound(result, MAX_RESULT) > MAX_RESULT:
        raise _exceeded(f"query result is over {MAX_RESULT:,} characters as JSON; select less",
                        max_result=MAX_RESULT)
    return result


def _compile(query: str) -> Any:
    try:
        return jmespath.compile(query)
    except JMESPathError as exc:
        raise ToolFailure(f"invalid JMESPath query {query!r}: {exc}", kind=ErrorKind.INVALID_ARGUMENTS,
                          details={"query": query}) from None
    except RecursionError:
        raise ToolFailure("JMESPath query nests too deeply to parse; flatten it", kind=ErrorKind.INVALID_ARGUMENTS,
                          details={"query": query[:200]}) from None
