"""Framing between the process runtime and its workers: a 4-byte length, then UTF-8 JSON."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import IO, Any

_HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30


def write_frame(stream: IO[bytes], message: Any) -> None:
    """Send ``message`` as one frame and flush (values JSON cannot hold are sent as their ``str``)."""
    body = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any | None:
    """The next message, or ``None`` at end of stream (the peer closed or died)."""
    header = read_exactly(stream.read, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the limit")
    body = read_exactly(stream.read, size)
    if body is None:
        return None
    return json.loads(body)


def read_exactly(read: Callable[[int], bytes], size: int) -> bytes | None:
    """``size`` bytes from ``read`` (asked for what is still missing, until it has them all), or ``None``
    when it ends first (answers ``b""``)."""
    chunks = []
    while size:
        chunk = read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
