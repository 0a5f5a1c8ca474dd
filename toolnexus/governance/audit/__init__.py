"""The tamper-evident audit log: every decision and governance change, hash-chained, checkpointed, signed.

- :mod:`.chain`: the exact record hash and checkpoint message (SHA-256 over RFC 8785 canonical JSON);
- :mod:`.jcs`: RFC 8785 canonical JSON, fast;
- :mod:`.keys`: the Ed25519 keys that sign checkpoints;
- :mod:`.log`: :class:`AuditLog` — append, checkpoint, verify, report, tail;
- :mod:`.verify`: walking the chain and naming the first bad record;
- :mod:`.sink`: :class:`AuditSink`, the event sink that records decisions and changes.
"""

from toolnexus.governance.audit.chain import LOG_ID, checkpoint_message, record_hash
from toolnexus.governance.audit.jcs import Canonical, canonical
from toolnexus.governance.audit.keys import key_id, load_private_key, load_public_key
from toolnexus.governance.audit.log import AuditLog
from toolnexus.governance.audit.sink import AuditSink
from toolnexus.governance.audit.verify import Problem, Verification

__all__ = ["LOG_ID", "AuditLog", "AuditSink", "Canonical", "Problem", "Verification", "canonical",
           "checkpoint_message", "key_id", "load_private_key", "load_public_key", "record_hash"]
