"""RFC 8785 (JCS) canonical JSON, fast: the text the ``rfc8785`` package writes, several times sooner.

An audit record's body is canonicalised on every gate decision, so this is on the path of every governed
call. The reference serialiser (``rfc8785``) writes each string escape by escape in Python; here strings go
through the ``json`` module's C encoder, whose escapes are exactly JCS's, and numbers other than small
integers (floats, in ECMAScript's number form) are still written by ``rfc8785``. The tests check the two
agree on awkward input (key order by UTF-16 code units, control characters, floats, big integers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

import rfc8785


def canonical(value: Mapping[str, Any]) -> str:
    """``value`` as RFC 8785 canonical JSON text: the bytes ``rfc8785.dumps(value)`` gives, decoded.

    One extension: a string that is not valid Unicode (a lone surrogate, as an undecodable file name
    holds) is written as ECMAScript's ``JSON.stringify`` writes it, ``\\udxxx``, where ``rfc8785`` would
    refuse the whole record. What JSON cannot hold (NaN, integers beyond 2**53, non-string keys, other
    types) raises :class:`rfc8785.CanonicalizationError`.
    """
    parts: list[str] = []
    _write(value, parts)
    text = "".join(parts)
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_INT = 2**53 - 1  # I-JSON: larger integers are written by rfc8785 (which refuses them)


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
    if type(value) is int and -_MAX_INT <= value <= _MAX_INT:
        return str(value)
    # Floats (in ECMAScript's number form), and what JSON cannot hold (refused with the reason).
    return rfc8785.dumps(value).decode()


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
