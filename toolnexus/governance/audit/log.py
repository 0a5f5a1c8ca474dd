"""The audit log: decisions and governance changes appended as hash-chained records, checkpointed and signed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from toolnexus.governance.audit.chain import at_text, checkpoint_message, record_hash
from toolnexus.governance.audit.jcs import Canonical, canonical
from toolnexus.governance.audit.keys import key_id, load_private_key
from toolnexus.governance.audit.verify import Verification, verify
from toolnexus.store.audit import AuditRow, AuditStore, CheckpointRow, RecordFilter
from toolnexus.store.sqlite import StateStore

if TYPE_CHECKING:  # (cryptography is imported where a key is read: see keys.py)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger("toolnexus.audit")

Entry = tuple[str, Mapping[str, Any] | Canonical, datetime | None]
"""What is appended: a kind, a body (JSON-able, or already written as canonical JSON) and when (None: now)."""


class AuditSettings(Protocol):
    """The ``[governance]`` settings the audit log reads."""

    audit_key: str | None
    checkpoint_every: int


class AuditLog:
    """The tamper-evident audit log in ``store``'s database (see :mod:`toolnexus.governance.audit.chain`).

    Every ``checkpoint_every`` records a checkpoint (the count and the head hash) is written in the same
    transaction, signed with ``key`` when one is given, and handed to ``on_checkpoint`` once committed
    (e.g. to copy it to MLflow, outside the store an intruder could rewrite).
    """

    def __init__(self, store: StateStore, *, checkpoint_every: int = 1000, key: Ed25519PrivateKey | None = None,
                 on_checkpoint: Callable[[CheckpointRow], None] | None = None) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.store = store
        self.rows = AuditStore(store)
        self.checkpoint_every = checkpoint_every
        self.key = key
        self.key_id = key_id(key.public_key()) if key is not None else None
        self.on_checkpoint = on_checkpoint

    @classmethod
    def from_settings(cls, settings: AuditSettings, store: StateStore, workspace: str | Path,
                      on_checkpoint: Callable[[CheckpointRow], None] | None = None) -> AuditLog:
        """The audit log ``[governance]`` describes: its checkpoint interval and signing key (relative to
        ``workspace``); a key that cannot be read is a :class:`DiagnosticError` naming the file."""
        key = None
        if settings.audit_key:
            path = Path(settings.audit_key)
            key = load_private_key(path if path.is_absolute() else Path(workspace) / path)
        return cls(store, checkpoint_every=settings.checkpoint_every, key=key, on_checkpoint=on_checkpoint)

    @property
    def public_key(self) -> Ed25519PublicKey | None:
        """The public key of the signing key, if there is one."""
        return self.key.public_key() if self.key is not None else None

    # -- appending ------------------------------------------------------------------------------

    def append(self, kind: str, body: Mapping[str, Any] | Canonical, at: datetime | None = None) -> AuditRow:
        """Append one record (its own transaction, or the caller's open one); returns it as stored."""
        return self.append_many([(kind, body, at)])[0]

    def append_many(self, entries: Iterable[Entry]) -> list[AuditRow]:
        """Append ``entries`` in order, in one transaction; returns them as stored."""
        # Canonicalised before the write lock is taken: the lock is held only to link and insert.
        prepared = [(kind, body.text if type(body) is Canonical else canonical(body), at_text(at))
                    for kind, body, at in entries]
        payload = sum(len(body) + 200 for _, body, _ in prepared)
        with self.store.write(payload) as conn:
            seq, prev = AuditStore.head(conn)
            rows: list[AuditRow] = []
            for kind, body, at in prepared:
                seq += 1
                row = AuditRow(seq, at, kind, body, prev, record_hash(seq, at, kind, prev, body))
                rows.append(row)
                prev = row.hash
            checkpoints = [self._checkpoint(row) for row in rows if row.seq % self.checkpoint_every == 0]
            AuditStore.insert(conn, rows)
            if checkpoints:  # one in checkpoint_every appends: no statement for none
                AuditStore.insert_checkpoints(conn, checkpoints)
        self._announce(checkpoints)
        return rows

    def checkpoint(self) -> CheckpointRow | None:
        """A checkpoint of the current head now (None for an empty log; the existing one if it is checkpointed)."""
        with self.store.write() as conn:
            seq, head = AuditStore.head(conn)
            if seq == 0:
                return None
            row = conn.execute("SELECT seq, head, at, signature, key_id FROM audit_checkpoints WHERE seq = ?",
                               (seq,)).fetchone()
            if row is not None:
                return CheckpointRow(*row)
            checkpoint = self._sign(seq, head, at_text())
            AuditStore.insert_checkpoints(conn, [checkpoint])
        self._announce([checkpoint])
        return checkpoint

    def _checkpoint(self, row: AuditRow) -> CheckpointRow:
        return self._sign(row.seq, row.hash, row.at)

    def _sign(self, count: int, head: str, at: str) -> CheckpointRow:
        if self.key is None:
            return CheckpointRow(count, head, at)
        signature = self.key.sign(checkpoint_message(count, head, at)).hex()
        return CheckpointRow(count, head, at, signature, self.key_id)

    def _announce(self, checkpoints: list[CheckpointRow]) -> None:
        if self.on_checkpoint is None:
            return
        for checkpoint in checkpoints:
            try:
                self.on_checkpoint(checkpoint)
            except Exception as exc:  # a copy elsewhere failing leaves the log itself intact
                log.warning("audit checkpoint %d could not be copied: %s", checkpoint.seq, exc)

    # -- reading ----------------------------------------------------------------------------------

    def verify(self, public_key: Ed25519PublicKey | None = None) -> Verification:
        """Walk the whole chain and its checkpoints; signatures are checked with ``public_key`` (default:
        this log's own signing key's), and the first bad record is named."""
        key = public_key if public_key is not None else self.public_key
        checkpoints = self.rows.checkpoints()
        return verify(self.rows.records(), checkpoints, key)

    def report(self, tool: str | None = None, since: datetime | str | None = None, kind: str | None = None,
               principal: str | None = None, limit: int | None = None) -> list[AuditRow]:
        """The records matching every filter given, oldest first: ``tool`` a glob on the tool (or a change's
        target), ``since`` a time, ``kind`` a kind or family (``decision``, ``governance.kill``), ``principal``
        the caller (or who made a change)."""
        when = at_text(since) if isinstance(since, datetime) else since
        return self.rows.query(RecordFilter(tool=tool, since=when, kind=kind, principal=principal), limit)

    def tail(self, n: int = 20) -> list[AuditRow]:
        """The last ``n`` records, oldest first."""
        return self.rows.query(RecordFilter(), limit=n, newest=True)
