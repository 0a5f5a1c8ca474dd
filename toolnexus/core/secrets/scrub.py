"""The scrubber: any JSON shape, text or error with its secrets redacted, copying only what changed."""

from __future__ import annotations

import threading
from typing import Any

from toolnexus.core.content import MARKER
from toolnexus.core.errors import ToolError
from toolnexus.core.secrets.known import KNOWN, declare_named_secrets
from toolnexus.core.secrets.names import REDACTED, object_id_key, secret_key
from toolnexus.core.secrets.patterns import redact_patterns


def scrub_text(text: str, *, object_ids: bool = False) -> str:
    """``text`` with secrets replaced by ``***``: known secrets in part or encoded, credential formats,
    secret-named pairs, bare 40-hex keys (kept when ``object_ids``: the text is a git object id) and
    high-entropy tokens."""
    return redact_patterns(KNOWN.redact(text), object_ids=object_ids)


def _expression(value: str) -> bool:
    # A mission's `${{ inputs.api_token }}` names where a secret comes from; it is not one.
    return value.startswith("${{") and value.endswith("}}")


def scrub(value: Any, *, key: str | None = None, keep_shape: bool = False) -> Any:
    """``value`` (any JSON shape) with secrets redacted: a copy where something was, ``value`` itself
    (every part of it) where nothing was — so a clean value costs no copy, and ``is`` tells whether it changed.

    Strings under secret-named keys become ``***`` and are remembered as known secrets (so an echo of
    them elsewhere goes too); every other string goes through :func:`scrub_text`. A list or mapping under
    a secret-named key becomes ``***`` as a whole — unless ``keep_shape``: a structure of ours (a plan,
    whose ``inputs.api_token`` declares an input) keeps its shape, and only its strings are redacted.
    """
    if isinstance(value, str):
        return _scrub_string(value, key)
    if isinstance(value, dict):
        return _scrub_mapping(value, keep_shape)
    if isinstance(value, list | tuple):
        if key is not None and value and not keep_shape and secret_key(key):
            KNOWN.declare(*(v for v in value if isinstance(v, str)))
            return REDACTED
        return _scrub_sequence(value, keep_shape)
    return value


def _scrub_string(value: str, key: str | None) -> str:
    if key is not None and value and secret_key(key) and not _expression(value):
        KNOWN.declare(value)
        return REDACTED
    clean = scrub_text(value, object_ids=key is not None and object_id_key(key))
    return value if clean == value else clean


def _scrub_sequence(value: list[Any] | tuple[Any, ...], keep_shape: bool) -> list[Any] | tuple[Any, ...]:
    changed: list[Any] | None = None
    for i, v in enumerate(value):
        if isinstance(v, _SCALARS):
            continue
        new = scrub(v, keep_shape=keep_shape)
        if new is not v:
            if changed is None:
                changed = list(value)
            changed[i] = new
    return value if changed is None else changed


def _scrub_mapping(value: dict[Any, Any], keep_shape: bool) -> dict[Any, Any]:
    binary = value.get(MARKER) in _BINARY  # a binary content block: its base64 payload is data, whatever its entropy
    changed: dict[Any, Any] | None = None
    for k, v in value.items():
        if isinstance(v, _SCALARS):
            continue  # the common case, without a call
        payload = binary and k in _PAYLOAD and isinstance(v, str)
        new = KNOWN.redact(v) if payload else _scrub_item(k, v, keep_shape)
        if new is not v:
            if changed is None:
                changed = dict(value)
            changed[k] = new
    return value if changed is None else changed


_SCALARS = (type(None), bool, int, float)


def _scrub_item(key: Any, value: Any, keep_shape: bool) -> Any:
    if isinstance(value, dict) and value and not keep_shape and secret_key(str(key)):
        declare_named_secrets({str(k): v for k, v in value.items()})
        return REDACTED
    return scrub(value, key=str(key), keep_shape=keep_shape)


# Content blocks that carry bytes, and their base64 fields (see toolnexus.core.content).
_BINARY = frozenset({"image", "audio", "resource"})
_PAYLOAD = frozenset({"data", "blob"})


def scrub_error(error: ToolError) -> ToolError:
    """``error`` with its message and details scrubbed (the same object when there was nothing to remove)."""
    message, details = scrub_text(error.message), scrub(error.details) if error.details else error.details
    if message == error.message and details == error.details:
        return error
    return error.model_copy(update={"message": message, "details": details})


_clean_lock = threading.Lock()
_clean: set[tuple[Any, int]] = set()


def scrub_recorded(key: Any, value: Any) -> Any:
    """:func:`scrub` (keeping the shape: a plan must still load) or :func:`scrub_text` for a value recorded
    again and again — a mission's plan and source, run after run: ``value`` itself once it was found clean
    under ``key`` with the same known secrets, so a big plan costs one scrub per distinct plan, not one per run."""
    memo = (key, KNOWN.generation)
    if memo in _clean:
        return value
    clean = scrub_text(value) if isinstance(value, str) else scrub(value, keep_shape=True)
    if clean is value or clean == value:
        with _clean_lock:
            if len(_clean) >= 256:
                _clean.clear()
            _clean.add(memo)
        return value
    return clean
