"""Durations (``30s``) and sizes (``256MB``) as people write them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from toolnexus.core.units import Duration, Size, format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        (0, 0.0),
        ("30", 30.0),
        ("30s", 30.0),
        ("500ms", 0.5),
        ("1.5m", 90.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        (" 45 s ", 45.0),
        (None, None),
    ],
)
def test_parse_duration(text: Any, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "'soon' is not a duration: use a number of seconds or '30s'"),
        ("10 minutes", "is not a duration"),
        ("-5s", "is not a duration"),
        (-1, "cannot be negative"),
        (True, "a duration is a number of seconds"),
        ("", "is not a duration"),
    ],
)
def test_bad_durations_say_what_to_write(text: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("256MB", 256_000_000),
        ("256mb", 256_000_000),
        ("1GiB", 2**30),
        ("512k", 512_000),
        ("512KiB", 512 * 1024),
        ("2Mi", 2 * 2**20),
        ("1.5GB", 1_500_000_000),
        ("10B", 10),
        ("1T", 10**12),
        (None, None),
        (2.7, 2),
    ],
)
def test_parse_size(text: Any, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lots", "'lots' is not a size"),
        ("12 parsecs", "is not a size"),
        ("1PB", "is not a size"),
        (-1, "cannot be negative"),
        (False, "a size is a number of bytes"),
    ],
)
def test_bad_sizes_say_what_to_write(text: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(text)


class Limited(BaseModel):
    timeout: Duration = None
    memory: Size = None


def test_models_accept_human_units_and_store_numbers() -> None:
    model = Limited(timeout="2m", memory="1GiB")

    assert (model.timeout, model.memory) == (120.0, 2**30)
    assert model.model_dump() == {"timeout": 120.0, "memory": 2**30}
    assert Limited.model_validate_json(model.model_dump_json()) == model


def test_models_report_bad_units_as_validation_errors() -> None:
    with pytest.raises(ValidationError, match="'soon' is not a duration"):
        Limited(timeout="soon")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.25, "250ms"), (1.5, "1.50s"), (59.994, "59.99s"), (61, "1m01s"), (3600, "60m00s"),
     (3599.6, "60m00s"), (119.7, "2m00s")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
