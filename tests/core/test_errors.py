"""Errors as data (ToolError, ToolFailure, error_from_exception), diagnostics, and cost models."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from toolnexus.core.errors import ErrorKind, ToolError, ToolFailure, error_from_exception
from toolnexus.core.spec import CostModel

# -- ToolError and ToolFailure ----------------------------------------------------------------------


def test_tool_error_is_a_frozen_value_that_prints_kind_and_message() -> None:
    error = ToolError(kind=ErrorKind.TIMEOUT, message="took too long", retryable=True, details={"after": 3})

    assert str(error) == "timeout: took too long"
    with pytest.raises(ValidationError):
        error.message = "changed"  # type: ignore[misc]
    assert ToolError.model_validate_json(error.model_dump_json()) == error


def test_tool_failure_carries_a_structured_error() -> None:
    failure = ToolFailure("rate limited", kind="network", retryable=True, details={"status": 429})

    assert str(failure) == "rate limited"
    assert failure.error == ToolError(
        kind=ErrorKind.NETWORK, message="rate limited", retryable=True, details={"status": 429}
    )
    assert error_from_exception(failure) is failure.error


def test_tool_failure_defaults_to_a_non_retryable_tool_error() -> None:
    error = ToolFailure("nope").error

    assert (error.kind, error.retryable, error.details) == (ErrorKind.TOOL_ERROR, False, {})


def test_tool_failure_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="'exploded' is not a valid ErrorKind"):
        ToolFailure("x", kind="exploded")


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (ConnectionResetError("peer went away"), True),
        (TimeoutError("slow"), True),
        (BlockingIOError("busy"), True),
        (ValueError("bad value"), False),
        (KeyError("k"), False),
    ],
)
def test_exceptions_become_tool_errors_without_tracebacks(exc: Exception, retryable: bool) -> None:
    try:
        raise exc
    except Exception as raised:
        error = error_from_exception(raised)

    assert error.kind == ErrorKind.TOOL_ERROR
    assert error.message == f"{type(exc).__name__}: {exc}"
    assert error.retryable is retryable
    assert error.details == {"exception": type(exc).__name__}
    assert "Traceback" not in error.message and "File " not in error.message


def test_an_exception_without_a_message_is_named() -> None:
    assert error_from_exception(RuntimeError()).message == "RuntimeError"


class Arguments(BaseModel):
    count: int
    name: str


def test_argument_validation_errors_are_invalid_arguments_naming_each_path() -> None:
    with pytest.raises(ValidationError) as info:
        Arguments.model_validate({"count": "many"})

    error = error_from_exception(info.value)

    assert error.kind == ErrorKind.INVALID_ARGUMENTS
    assert not error.retryable
    assert error.message.startswith("invalid arguments at /count: ")
    assert [e["path"] for e in error.details["errors"]] == ["/count", "/name"]


# -- diagnostics --------------------------------------------------------------------------------------


def test_diagnostic_location_and_text() -> None:
    assert str(Diagnostic(message="m", file="f.yaml", line=3, column=7, hint="h")) == "f.yaml:3:7: m (h)"
    assert Diagnostic(message="m", file="f.yaml", line=3).location() == "f.yaml:3"
    assert Diagnostic(message="m", file="f.yaml").location() == "f.yaml"
    assert str(Diagnostic(message="m")) == "<input>: m"


def test_diagnostic_error_carries_every_diagnostic() -> None:
    error = DiagnosticError([Diagnostic(message="one", file="a"), Diagnostic(message="two", file="b")])

    assert [d.message for d in error.diagnostics] == ["one", "two"]
    assert str(error) == "a: one\nb: two"


@pytest.mark.parametrize(
    ("word", "candidates", "prefix", "hint"),
    [
        ("stpes", ["steps", "mission"], "", "did you mean `steps`?"),
        ("fetc", ["fetch", "clean"], "steps.", "did you mean `steps.fetch`?"),
        ("zzz", ["fetch", "clean"], "", None),
        ("x", [], "", None),
    ],
)
def test_did_you_mean(word: str, candidates: list[str], prefix: str, hint: str | None) -> None:
    assert did_you_mean(word, candidates, prefix) == hint


# -- cost models ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "timeout", "estimate"),
    [
        (CostModel(), 10.0, 0.0),
        (CostModel(kind="per_call", amount=0.2), None, 0.2),
        (CostModel(kind="per_second", amount=0.01), 30.0, 0.3),
        (CostModel(kind="per_second", amount=0.01), None, 0.0),  # no timeout: no upper bound to reserve
        (CostModel(kind="reported", field="usage.cost", estimate=0.05), 30.0, 0.05),
    ],
)
def test_estimate_call(model: CostModel, timeout: float | None, estimate: float) -> None:
    assert model.estimate_call(timeout) == pytest.approx(estimate)


@pytest.mark.parametrize(
    ("model", "duration", "output", "cost"),
    [
        (CostModel(), 5.0, {"cost": 9}, 0.0),
        (CostModel(kind="per_call", amount=0.2), 5.0, None, 0.2),
        (CostModel(kind="per_second", amount=0.01), 2.5, None, 0.025),
        (CostModel(kind="reported"), 1.0, {"cost": 0.7}, 0.7),
        (CostModel(kind="reported", field="usage.cost"), 1.0, {"usage": {"cost": 3}}, 3.0),
        (CostModel(kind="reported", field="usage.cost"), 1.0, {"usage": {}}, 0.0),
        (CostModel(kind="reported", field="usage.cost"), 1.0, {"usage": "n/a"}, 0.0),
        (CostModel(kind="reported", field="usage.cost"), 1.0, ["not", "a", "mapping"], 0.0),
        (CostModel(kind="reported"), 1.0, {"cost": True}, 0.0),  # a boolean is not a price
        (CostModel(kind="reported"), 1.0, {"cost": "0.5"}, 0.0),
        (CostModel(kind="reported"), 1.0, None, 0.0),
    ],
)
def test_actual(model: CostModel, duration: float, output: Any, cost: float) -> None:
    assert model.actual(duration, output) == pytest.approx(cost)


def test_cost_model_refuses_unknown_kinds_and_fields() -> None:
    with pytest.raises(ValidationError):
        CostModel(kind="per_token")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CostModel(price=1)  # type: ignore[call-arg]
