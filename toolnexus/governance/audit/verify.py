"""Verifying the audit log: the chain walked from the first record, the checkpoints and their signatures.

What is caught, and where it is named (the first bad record: the lowest seq with a problem):

- an **edited** record (body, kind, at or hash changed): its hash no longer matches its contents;
- a **deleted** record: its seq is missing (or, renumbered, the next record does not follow its predecessor);
- an **inserted** or **moved** record (reordered): it, or the record after it, does not follow the one before;
- a **truncated** tail: the last checkpoint covers more records than the log holds;
- a **rewritten** chain (every hash recomputed): a checkpoint's head differs from the record it covers, or
  — if the checkpoints were rewritten too — a checkpoint signature does not verify with the public key.

Records appended after the last checkpoint and then cut off cannot be told from records never written:
checkpoints (and their copies outside the store) bound what can go unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolnexus.governance.audit.chain import checkpoint_message, record_hash
from toolnexus.governance.audit.keys import key_id, signature_valid
from toolnexus.store.audit import GENESIS, AuditRow, CheckpointRow

if TYPE_CHECKING:  # (cryptography is imported where a key is read: see keys.py)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class Problem:
    """The first bad record: its ``seq`` and what is wrong with it."""

    seq: int
    what: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.what}"


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of a verification: how many records, the head hash, the last checkpoint, the first problem."""

    records: int
    head: str
    checkpoint: CheckpointRow | None
    problem: Problem | None
    signatures: str  # "verified" (with key id), "not checked" or "unsigned"

    @property
    def ok(self) -> bool:
        """Whether the log is intact."""
        return self.problem is None

    def summary(self) -> str:
        """One line: ``ok: N records, head …, last checkpoint …`` or the first problem."""
        if self.problem is not None:
            return f"tampered: {self.problem}"
        if self.checkpoint is None:
            last = "no checkpoint yet"
        else:
            last = f"last checkpoint at record {self.checkpoint.seq} ({self.checkpoint.at}), {self.signatures}"
        return f"ok: {self.records} records, head {self.head}, {last}"


class ChainWalk:
    """Follows the chain record by record; :meth:`step` names what is wrong with the next one."""

    def __init__(self) -> None:
        self.seq = 0
        self.head = GENESIS

    def step(self, row: AuditRow) -> Problem | None:
        """Check ``row`` follows the records walked so far; None (and advance) when it does."""
        expected = self.seq + 1
        if row.seq != expected:
            return Problem(expected, f"is missing (deleted): the log goes from record {self.seq} to {row.seq}")
        if row.prev != self.head:
            return Problem(row.seq, f"does not follow record {self.seq}: its prev hash {row.prev[:16]}… is not "
                                    f"that record's hash {self.head[:16]}… (a record inserted, deleted or moved)")
        if record_hash(row.seq, row.at, row.kind, row.prev, row.body) != row.hash:
            return Problem(row.seq, "its hash does not match its contents (the record was edited)")
        self.seq, self.head = row.seq, row.hash
        return None


def walk(rows: Iterable[AuditRow], checkpoints: list[CheckpointRow]) -> tuple[ChainWalk, Problem | None]:
    """Walk ``rows`` in seq order, comparing each checkpointed record's hash to its checkpoint's head."""
    heads = {c.seq: c.head for c in checkpoints}
    chain = ChainWalk()
    for row in rows:
        problem = chain.step(row)
        if problem is None and heads.get(row.seq, row.hash) != row.hash:
            problem = Problem(row.seq, f"its hash {row.hash[:16]}… is not the head {heads[row.seq][:16]}… its "
                                       "checkpoint recorded (the chain was rewritten up to here)")
        if problem is not None:
            return chain, problem
    return chain, None


def truncation(chain: ChainWalk, checkpoints: list[CheckpointRow]) -> Problem | None:
    """The first missing record when the last checkpoint covers more records than the walk found."""
    if not checkpoints or checkpoints[-1].seq <= chain.seq:
        return None
    last = checkpoints[-1]
    return Problem(chain.seq + 1, f"is missing: the log ends at record {chain.seq} but its checkpoint of "
                                  f"{last.at} covers {last.seq} records (the tail was cut off)")


def signature_problem(checkpoints: list[CheckpointRow], key: Ed25519PublicKey) -> Problem | None:
    """The first checkpoint whose signature is missing (after a signed one), by another key, or forged."""
    expected = key_id(key)
    signed = False
    for c in checkpoints:
        if c.signature is None:
            if signed:
                return Problem(c.seq, "its checkpoint is not signed, though earlier ones are (signature removed)")
            continue
        signed = True
        if c.key_id != expected:
            return Problem(c.seq, f"its checkpoint is signed by key {c.key_id}, not by the given key {expected}")
        if not signature_valid(key, c.signature, checkpoint_message(c.seq, c.head, c.at)):
            return Problem(c.seq, "its checkpoint signature does not verify (the checkpoint was forged or altered)")
    if checkpoints and not signed:
        return Problem(checkpoints[0].seq, f"no checkpoint is signed, but a key ({expected}) was given to "
                                           "verify them with (signatures removed?)")
    return None


def verify(rows: Iterable[AuditRow], checkpoints: list[CheckpointRow],
           key: Ed25519PublicKey | None = None) -> Verification:
    """Verify the records ``rows`` (all of them, in seq order) against ``checkpoints``, signed by ``key``."""
    chain, problem = walk(rows, checkpoints)
    # A broken chain hides what follows it; an intact one may still be short of its last checkpoint.
    candidates = [problem if problem is not None else truncation(chain, checkpoints)]
    if key is not None:
        candidates.append(signature_problem(checkpoints, key))
    found = [p for p in candidates if p is not None]
    first = min(found, key=lambda p: p.seq) if found else None
    return Verification(records=chain.seq, head=chain.head, checkpoint=checkpoints[-1] if checkpoints else None,
                        problem=first, signatures=_signatures(checkpoints, key))


def _signatures(checkpoints: list[CheckpointRow], key: Ed25519PublicKey | None) -> str:
    if not any(c.signature for c in checkpoints):
        return "unsigned"
    if key is None:
        return "signature not checked (no public key given)"
    return f"signature verified (key {key_id(key)})"
