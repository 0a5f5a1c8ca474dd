"""The canonical JSON of audit records: the quick path for plain values writes exactly RFC 8785's text."""

from __future__ import annotations

import random
from typing import Any

import pytest
import rfc8785

from toolnexus.governance.audit import jcs
from toolnexus.governance.audit.jcs import canonical

# Characters that need care in JSON text: quotes, backslashes, every control character, DEL, the line and
# paragraph separators, non-ASCII in and beyond the BMP, and what HTML escapes elsewhere.
AWKWARD_CHARS = ['"', "\\", "/", "\x7f", "\u2028", "\u2029", "é", "日", "\U0001f600", "\uffff", "<", "&", "'",
                 *map(chr, range(0x20))]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(AWKWARD_CHARS) if rng.random() < 0.3 else chr(rng.randrange(0x20, 0x7f))
                   for _ in range(rng.randrange(0, 12)))


def _plain_value(rng: random.Random, depth: int = 0) -> Any:
    """A random value of the kinds the quick path takes: strings, small integers, booleans, None, containers."""
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.choice([0, -1, 1, 2**53 - 1, -(2**53 - 1), rng.randrange(-10**9, 10**9)])
    if kind == 2:
        return rng.choice([True, False])
    if kind in (3, 4):
        return None if kind == 3 else _text(rng)
    if kind == 5:
        return [_plain_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 6:
        return tuple(_plain_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return _plain_object(rng, depth + 1)


def _plain_object(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    keys = ["".join(chr(rng.randrange(0x20, 0x7f)) for _ in range(rng.randrange(0, 6))) for _ in range(6)]
    return {key: _plain_value(rng, depth) for key in keys}


@pytest.mark.parametrize("seed", range(20))
def test_plain_values_take_the_quick_path_and_give_the_reference_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        value = _plain_object(rng)
        assert jcs._plain(value)
        assert canonical(value).encode() == rfc8785.dumps(value)


def test_the_pure_python_encoder_writes_what_the_c_encoder_writes() -> None:
    rng = random.Random(7)
    for _ in range(200):
        value = _plain_object(rng)
        assert jcs._PLAIN.encode(value) == jcs._encode_plain(value)


@pytest.mark.parametrize("value", [
    {"f": 1.0}, {"nested": [{"f": 0.5}]}, {"big": 2**53}, {"é": 1}, {"\U0001f600": 1, "\uffff": 2},
    {1: "x"}, {"o": object()}, {"t": (1.5,)}, {"nan": float("nan")},
])
def test_what_the_quick_path_cannot_vouch_for_takes_the_reference_writer(value: dict[Any, Any]) -> None:
    assert not jcs._plain(value)
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical(value)
    else:
        assert canonical(value).encode() == expected


def test_subclasses_of_json_types_take_the_reference_writer() -> None:
    from enum import StrEnum

    class Colour(StrEnum):
        RED = "red"

    value = {"c": Colour.RED, "flag": True}
    assert not jcs._plain(value)
    assert canonical(value) == '{"c":"red","flag":true}'


def _floats(rng: random.Random) -> list[float]:
    """Floats around every edge of the quick writer's range (1e-4 … 1e16) and of ECMAScript's forms, and random
    ones: their text must be rfc8785's."""
    edges = [0.0, -0.0, 1e-4, 1e16, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 0.1, 0.5, 1.0, 2.5, 123.456,
             1e15 + 0.3, 9999999999999998.0, 0.00009999999999999999, 1e-6, 0.000123, 4.35, 100.0, 2.0**53,
             1.23e-5, 1e-5, 9.999999999999999e-7, 1.0000000000000002e-6, 0.0000123, 5.5e-6, 1.2345678901234567e-5]
    edges += [e * s for e in edges for s in (1, -1)]
    edges += [rng.uniform(-1e17, 1e17) for _ in range(300)]
    edges += [rng.uniform(-1, 1) * 10.0 ** rng.randrange(-12, 24) for _ in range(2000)]
    edges += [float(rng.randrange(-10**6, 10**6)) for _ in range(200)]
    edges += [rng.uniform(1e-7, 1e-3) for _ in range(2000)]
    return edges


def test_floats_are_written_as_rfc8785_writes_them() -> None:
    rng = random.Random(8785)
    for value in _floats(rng):
        assert canonical({"f": value, "l": [value]}) == rfc8785.dumps({"f": value, "l": [value]}).decode(), value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_floats_json_cannot_hold_are_refused(value: float) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical({"f": value})
