"""A sync call's deferred records are written when its short-lived event loop ends, not at the next record."""

from __future__ import annotations

from pathlib import Path

import toolnexus as tn


def test_a_sync_call_is_in_the_store_and_the_audit_as_soon_as_it_returns(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        result = nexus.call("json.query", data={"a": 1}, query="a")
        assert result.ok
        assert nexus.store is not None and nexus.governed.audit is not None
        # Read through a second connection, as another process would: nothing waits in this process's memory.
        reader = tn.Nexus(workspace)
        try:
            assert reader.store is not None
            calls = reader.store.connection().execute("SELECT call_id FROM calls").fetchall()
            assert [row[0] for row in calls] == [result.call_id]
            kinds = [row.kind for row in reader.governed.audit.tail(10)]
            assert "decision.allow" in kinds and "call.finished" in kinds
        finally:
            reader.close()
