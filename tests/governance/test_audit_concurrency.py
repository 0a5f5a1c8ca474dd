"""Processes appending to one audit log at once still make one unbroken chain (real second processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toolnexus.governance.audit import AuditLog
from toolnexus.store import StateStore

# Appends N records one transaction each, once told to go (a line on stdin): the writers start together.
WRITER = """
import sys
from toolnexus.governance.audit import AuditLog
from toolnexus.store import StateStore
db, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = StateStore(db)
log = AuditLog(store, checkpoint_every=50)
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    log.append("decision.allow", {"tool": "eng.noop", "principal": name, "arguments": {"i": i}})
store.close()
"""

PER_WRITER = 1000  # enough for the writers to overlap (they interleave tens of times)


def test_two_processes_and_this_one_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = StateStore(db)
    log = AuditLog(store, checkpoint_every=50)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), name, str(PER_WRITER)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for name in ("first", "second")]
    try:
        for writer in writers:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for i in range(PER_WRITER):
            log.append("decision.allow", {"tool": "eng.noop", "principal": "parent", "arguments": {"i": i}})
        for writer in writers:
            assert writer.wait(timeout=60) == 0
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    result = log.verify()
    assert result.ok, result.summary()
    assert result.records == 3 * PER_WRITER
    assert [c.seq for c in log.rows.checkpoints()] == list(range(50, 3 * PER_WRITER + 1, 50))
    for name in ("first", "second", "parent"):
        mine = log.report(principal=name)
        assert [r.seq for r in mine] == sorted(r.seq for r in mine) and len(mine) == PER_WRITER
    store.close()
