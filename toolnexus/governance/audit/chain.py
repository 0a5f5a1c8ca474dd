"""The hash chain: how a record's hash and a checkpoint's signed message are made, exactly.

A record's body is canonical JSON (RFC 8785, JCS). Its hash is the lowercase hex SHA-256 of the UTF-8
bytes of the canonical JSON of the envelope::

    {"at": AT, "body": BODY, "kind": KIND, "prev": PREV, "seq": SEQ}

where ``SEQ`` is its number (1, 2, …), ``AT`` when it was made (UTC, ``2026-12-06T20:09:35.123456Z``),
``KIND`` its kind (``decision.allow``, ``governance.kill`` …), ``PREV`` the hash of record ``SEQ - 1``
(64 zeros for the first) and ``BODY`` the record. The keys are in JCS order, so the envelope is the text
``{"at":…,"body":…,"kind":…,"prev":…,"seq":…}``: any JCS library recomputes it.

A checkpoint after record ``N`` signs (Ed25519) the canonical JSON of
``{"at": AT, "count": N, "head": HASH_OF_RECORD_N, "log": "toolnexus-audit-v1"}``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from json.encoder import encode_basestring

import rfc8785

LOG_ID = "toolnexus-audit-v1"
"""Names what a checkpoint signature is for, so it cannot be taken for a signature of anything else."""


def at_text(when: datetime | None = None) -> str:
    """``when`` (now when None) as a record's ``at``: UTC, microseconds, a ``Z`` suffix (sorts as text)."""
    when = datetime.now(UTC) if when is None else when
    if when.tzinfo is UTC:  # (every event's time): its isoformat ends "+00:00", cut off rather than a copy made
        return when.isoformat(timespec="microseconds")[:-6] + "Z"
    if when.tzinfo is not None and when.utcoffset():
        when = when.astimezone(UTC)
    # isoformat, not strftime: a tenth of the time, on the path of every decision.
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _text(value: str) -> str:
    return encode_basestring(value)


def envelope(seq: int, at: str, kind: str, prev: str, body: str) -> str:
    """The canonical JSON of a record's envelope, given its canonical ``body`` text (see the module doc)."""
    return f'{{"at":{_text(at)},"body":{body},"kind":{_text(kind)},"prev":{_text(prev)},"seq":{seq}}}'


def record_hash(seq: int, at: str, kind: str, prev: str, body: str) -> str:
    """The hash of a record (hex SHA-256 of its :func:`envelope`)."""
    return hashlib.sha256(envelope(seq, at, kind, prev, body).encode()).hexdigest()


def checkpoint_message(count: int, head: str, at: str) -> bytes:
    """What a checkpoint's signature signs: the count of records, the head hash, when, and :data:`LOG_ID`."""
    return rfc8785.dumps({"at": at, "count": count, "head": head, "log": LOG_ID})
