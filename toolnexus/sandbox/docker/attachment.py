"""A container's stdin, stdout and stderr over the engine's hijacked ``attach`` connection."""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

from toolnexus.sandbox.protocol import read_exactly

STDERR_CAP = 65536


class Attachment:
    """A container's stdin, stdout and stderr over the engine's hijacked ``attach`` connection.

    Without a TTY the engine multiplexes stdout and stderr: each chunk comes after an 8-byte header
    (stream, three zero bytes, big-endian size). stdout is read as a stream (``read``), stderr kept as
    a capped tail.
    """

    _HEADER = struct.Struct(">BxxxI")

    def __init__(self, handle: Any) -> None:
        self._handle = handle  # the SDK's socket wrapper; kept so nothing closes the socket under us
        self.sock: socket.socket = getattr(handle, "_sock", handle)
        self.sock.settimeout(None)  # a call may be silent for longer than the client's request timeout
        self._out = bytearray()
        self.stderr = bytearray()
        self.eof = False

    def write(self, data: bytes) -> None:
        """Send ``data`` to the container's stdin."""
        self.sock.sendall(data)

    def flush(self) -> None:
        """Nothing to flush: :meth:`write` sends at once (a stream's method, for the framing)."""

    def close_stdin(self) -> None:
        """End the container's stdin (a direct command then sees the end of its arguments)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of stdout, fewer only at the end of the stream."""
        while len(self._out) < size and not self.eof:
            self._pump()
        chunk = bytes(self._out[:size])
        del self._out[:size]
        return chunk

    def read_to_end(self, cap: int) -> tuple[bytes, bool]:
        """All of stdout until the container closes it, or ``cap`` + 1 bytes (then ``True``: over the cap)."""
        while not self.eof and len(self._out) <= cap:
            self._pump()
        return bytes(self._out[: cap + 1]), len(self._out) > cap

    def closed_by_peer(self) -> bool:
        """Whether the engine has closed the connection (the container ended), without blocking."""
        if self.eof:
            return True
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def stderr_tail(self, lines: int = 5) -> str:
        """The last ``lines`` lines of the container's stderr, on one line."""
        return " | ".join(self.stderr.decode("utf-8", "replace").strip().splitlines()[-lines:])

    def _recv(self, size: int) -> bytes:
        try:
            return self.sock.recv(min(size, 1 << 20))
        except OSError:
            return b""

    def _pump(self) -> None:
        header = read_exactly(self._recv, self._HEADER.size)
        if header is None:
            self.eof = True
            return
        stream, size = self._HEADER.unpack(header)
        payload = read_exactly(self._recv, size) if size else b""
        if payload is None:
            self.eof = True
            return
        if stream == 2:
            self.stderr += payload
            del self.stderr[:-STDERR_CAP]
        else:
            self._out += payload

    def close(self) -> None:
        """Close the connection (and the SDK's wrapper of it)."""
        for closer in (getattr(self._handle, "close", None), self.sock.close):
            with contextlib.suppress(Exception):
                if closer is not None:
                    closer()
