"""Parsing of human-friendly durations (``30s``, ``10m``) and sizes (``256MB``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}


def parse_duration(value: Any) -> float | None:
    """Seconds from ``30``, ``"30s"``, ``"1.5m"``, ``"500ms"``, ``"2h"``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s', '10m', '500ms'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: use a number of seconds or '30s', '10m', '500ms', '2h'")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(value: Any) -> int | None:
    """Bytes from ``1024``, ``"256MB"``, ``"1GiB"``, ``"512k"``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '256MB', '1GiB'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size: use a number of bytes or '256MB', '1GiB', '512KiB'")
    unit = (match.group(2) or "").lower().removesuffix("b")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_duration(seconds: float | None) -> str:
    """A short human form of a duration, for tables and messages."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    whole = round(seconds)  # rounded first, so 3599.6 s reads 60m00s, never 59m60s
    return f"{whole // 60}m{whole % 60:02d}s"


Duration = Annotated[
    float | None,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda v: v, return_type=float | None),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
                {"type": "null"},
            ],
            "description": "seconds, or a string such as '30s', '10m', '500ms', '2h'",
        },
        mode="validation",
    ),
]
"""A duration in seconds that also accepts ``"30s"``, ``"10m"``, ``"500ms"`` when validated."""

Size = Annotated[
    int | None,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kmgtKMGT]i?[bB]?|[bB])?\s*$"},
                {"type": "null"},
            ],
            "description": "bytes, or a string such as '256MB', '1GiB', '512KiB'",
        },
        mode="validation",
    ),
]
"""A size in bytes that also accepts ``"256MB"``, ``"1GiB"`` when validated."""
