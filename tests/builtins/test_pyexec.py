"""python.exec: result, printed output and errors that point at the snippet's line.

The tool is declared for the process runtime; here its callable is invoked directly, as a worker would.
"""

from __future__ import annotations

import sys

import pytest

from toolnexus.builtins.pyexec import exec_python
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import spec_of

spec = spec_of(exec_python)
execute = spec.callable


def test_declared_for_a_worker_process():
    assert spec.runtime == "process"
    assert spec.entry.target == "toolnexus.builtins.pyexec:exec_python"


def test_result_and_stdout():
    out = execute({"code": "print('adding', len(inputs['xs']))\nresult = {'total': sum(inputs['xs'])}",
                   "inputs": {"xs": [1, 2, 3]}})
    assert out == {"result": {"total": 6}, "stdout": "adding 3\n"}


def test_no_result_is_none_and_stdout_is_restored():
    before = sys.stdout
    assert execute({"code": "x = 1"}) == {"result": None, "stdout": ""}
    assert sys.stdout is before


def test_each_call_gets_fresh_globals():
    execute({"code": "leftover = 42"})
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "result = leftover"})
    assert "NameError" in failure.value.error.message


def test_exception_reports_type_message_and_line():
    code = "a = 1\nb = 0\n\ndef divide():\n    return a / b\n\nresult = divide()\n"
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "print('before')\n" + code})
    error = failure.value.error
    assert error.kind is ErrorKind.TOOL_ERROR
    assert error.message == "ZeroDivisionError: division by zero (line 6)"
    assert error.details["line"] == 6
    assert error.details["stdout"] == "before\n"
    assert "Traceback" not in error.message


def test_transient_exceptions_are_retryable():
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "raise ConnectionError('upstream down')"})
    assert failure.value.error.retryable is True
    assert failure.value.error.message == "ConnectionError: upstream down (line 1)"
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "raise ValueError('bad')"})
    assert failure.value.error.retryable is False


def test_syntax_error_gives_the_line():
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "x = 1\nif x\n    pass\n"})
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert "SyntaxError" in failure.value.error.message and "line 2" in failure.value.error.message


def test_non_json_result_is_output_invalid():
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "result = object()"})
    assert failure.value.error.kind is ErrorKind.OUTPUT_INVALID
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "result = float('nan')"})
    assert failure.value.error.kind is ErrorKind.OUTPUT_INVALID


def test_sys_exit_is_an_error_not_an_exit():
    with pytest.raises(ToolFailure) as failure:
        execute({"code": "import sys\nsys.exit(3)"})
    assert failure.value.error.message == "SystemExit: 3 (line 2)"
