"""RFC 8785 (JCS) canonical JSON, fast: the text the ``rfc8785`` package writes, several times sooner.

An audit record's body is canonicalised on every gate decision, so this is on the path of every governed
call. The reference serialiser (``rfc8785``) writes each string escape by escape in Python; here strings go
through the ``json`` module's C encoder, whose escapes are exactly JCS's. A float from 1e-6 to 1e16 (a cost, a
duration) is written as ``rfc8785`` writes it, from its ``str()``; other floats (in ECMAScript's number form) and
what JSON cannot hold are still ``rfc8785``'s. The tests check the two agree on awkward input (key order by UTF-16
code units, control characters, floats, big integers).

A writer that knows its record's shape (a decision's, a call's outcome) puts the text together itself from
:func:`canonical_value` of each field, in key order, and hands it over as :class:`Canonical`.

Most records hold nothing awkward: strings, small integers, booleans, None, and dicts and lists of them with
ASCII keys. For those :func:`_plain` says so in one quick walk, and the ``json`` module's C encoder writes the
whole text at once (keys sorted, no spaces, non-ASCII kept): on such values its output *is* JCS — its string
escapes are the ones written above, sorting ASCII keys by code point is sorting them by UTF-16 code units,
and an integer up to 2**53 is its decimal digits in both. Anything else (a float, a big integer, a non-ASCII
key, a subclass of a JSON type, another type) takes the writer below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import rfc8785


def canonical(value: Mapping[str, Any]) -> str:
    """``value`` as RFC 8785 canonical JSON text: the bytes ``rfc8785.dumps(value)`` gives, decoded.

    One extension: a string that is not valid Unicode (a lone surrogate, as an undecodable file name
    holds) is written as ECMAScript's ``JSON.stringify`` writes it, ``\\udxxx``, where ``rfc8785`` would
    refuse the whole record. What JSON cannot hold (NaN, integers beyond 2**53, non-string keys, other
    types) raises :class:`rfc8785.CanonicalizationError`.
    """
    if type(value) is dict and _plain(value):
        text = _encode_plain(value)
    else:
        parts: list[str] = []
        _write(value, parts)
        text = "".join(parts)
    return unicode_safe(text)


def canonical_value(value: Any) -> str:
    """Any JSON value (not only an object) as canonical JSON text, before :func:`unicode_safe`: a part of a
    record that its own writer puts together (see :class:`Canonical`)."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if value is None or value is True or value is False:
        return _LITERALS[value]
    if kind is dict:
        return canonical(value)
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def unicode_safe(text: str) -> str:
    """``text`` with each lone surrogate written ``\\udxxx`` (see :func:`canonical`): valid UTF-8 to store."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


@dataclass(frozen=True, slots=True)
class Canonical:
    """A record's body already written as canonical JSON ``text`` (by a writer that knows the record's shape,
    e.g. a decision's: quicker than building the object and canonicalising it); appended as it is."""

    text: str


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_INT = 2**53 - 1  # I-JSON: larger integers are written by rfc8785 (which refuses them)


# (check_circular off: _plain has walked the value first, and a cycle fails there, as in the writer below.)
_PLAIN = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"),
                          check_circular=False)


def _refuse(value: Any) -> Any:  # never called on a value _plain accepted
    raise TypeError(f"{type(value).__name__} is not plain JSON")


# JSONEncoder.encode makes a C encoder per call; the C encoder made once writes a small record in half the time.
# (Where the C accelerator is missing, JSONEncoder's pure-Python encoder writes the same text.)
_C_PLAIN = (c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", True, False, False)
            if c_make_encoder is not None else None)


def _encode_plain(value: dict[str, Any]) -> str:
    """``value`` (which :func:`_plain` accepted) as the C encoder writes it: its JCS text."""
    if _C_PLAIN is None:
        return _PLAIN.encode(value)
    return "".join(_C_PLAIN(value, 0))


def _plain(value: dict[Any, Any]) -> bool:
    """Whether the C encoder writes ``value`` exactly as JCS does (see the module doc): ASCII string keys,
    and values that are strings, small integers, booleans, None, or dicts, lists and tuples of them."""
    for key, item in value.items():  # (a loop, not all() of a generator: half the time on a record's 20 values)
        if type(key) is not str or not key.isascii():
            return False
        kind = type(item)
        if kind is str or item is None or kind is bool:  # most values: no call
            continue
        if not _plain_item(item):
            return False
    return True


def _plain_item(item: Any) -> bool:
    kind = type(item)
    if kind is str or item is None or kind is bool:
        return True
    if kind is int:
        return -_MAX_INT <= item <= _MAX_INT
    if kind is dict:
        return _plain(item)
    if kind is list or kind is tuple:
        return all(_plain_item(element) for element in item)
    return False


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


_LITERALS = {None: "null", True: "true", False: "false"}


def _write(value: Any, parts: list[str]) -> None:
    kind = type(value)
    if kind is str:
        parts.append(encode_basestring(value))
    elif kind is dict:
        _write_object(value, parts)
    elif kind is list or kind is tuple:
        _write_array(value, parts)
    else:
        parts.append(_scalar(value))


def _scalar(value: Any) -> str:
    if value is None or value is True or value is False:
        return _LITERALS[value]
    kind = type(value)
    if kind is int and -_MAX_INT <= value <= _MAX_INT:
        return str(value)
    if kind is float and (value == 0 or 1e-6 <= abs(value) < 1e16):
        # The floats of costs and durations, written as rfc8785 writes them without its byte-by-byte writer (a
        # fifth of the time): 0 for either zero; str() less a trailing ".0" where Python writes no exponent; and
        # from 1e-6 to 1e-4 (a quick call's duration), str()'s "d.ddde-0K" as "0." + K-1 zeros + "dddd".
        if value == 0:
            return "0"
        text = repr(value)
        return _without_point_zero(text) if "e" not in text else _small(text)
    # Other floats (in ECMAScript's number form), and what JSON cannot hold (refused with the reason).
    return rfc8785.dumps(value).decode()


def _without_point_zero(text: str) -> str:
    return text[:-2] if text.endswith(".0") else text


def _small(text: str) -> str:
    sign, text = ("-", text[1:]) if text[0] == "-" else ("", text)
    mantissa, exponent = text.split("e")
    return f"{sign}0.{'0' * (-int(exponent) - 1)}{mantissa.replace('.', '')}"


def _write_array(value: list[Any] | tuple[Any, ...], parts: list[str]) -> None:
    parts.append("[")
    for i, item in enumerate(value):
        if i:
            parts.append(",")
        _write(item, parts)
    parts.append("]")


def _write_object(value: dict[Any, Any], parts: list[str]) -> None:
    odd = next((k for k in value if type(k) is not str), None)
    if odd is not None:
        raise rfc8785.CanonicalizationError(f"an object key is not a string: {odd!r}")
    keys = sorted(value)
    if not "".join(keys).isascii():  # JCS orders keys by UTF-16 code units, not code points
        keys.sort(key=_utf16)
    parts.append("{")
    for i, key in enumerate(keys):
        if i:
            parts.append(",")
        parts.append(encode_basestring(key))
        parts.append(":")
        _write(value[key], parts)
    parts.append("}")
