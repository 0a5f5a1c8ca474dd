"""Audit checkpoints copied to MLflow: outside the state store, where an intruder rewriting the log cannot reach.

Each checkpoint (records so far, head hash, when, signature and key id) becomes tags of one MLflow run per
workspace in the ``toolnexus-audit`` experiment — not of a mission's run: a checkpoint covers the whole audit
log (every run, direct call and governance change of every process sharing the store), so its history is kept
in one place. The run holds:

- ``toolnexus.audit.checkpoint.<count>``: the checkpoint as JSON, one tag each (the history to check a log
  against: ``audit verify`` catches a truncated tail against the last checkpoint it knows);
- ``toolnexus.audit.count``/``head``/``at``/``signature``/``key_id``: the newest one;
- the metric ``audit.records`` (the count, stepped by it): the log's growth over time.

A checkpoint is spooled (a file per checkpoint) before it is sent and deleted once MLflow has it, so one
MLflow could not take is sent by the next sync.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from toolnexus.store.audit import CheckpointRow
from toolnexus.tracking.mlflow_sync import experiment_id

AUDIT_EXPERIMENT = "toolnexus-audit"
"""The MLflow experiment holding each workspace's audit checkpoints."""


class CheckpointSpool:
    """Spools audit checkpoints in ``folder`` and tags them onto ``workspace``'s run in :data:`AUDIT_EXPERIMENT`."""

    def __init__(self, folder: Path, workspace: str, artifact_root: str | None = None) -> None:
        self.folder = folder
        self.workspace = workspace
        self.artifact_root = artifact_root
        # A tag value to find the workspace's run by: a path may hold quotes a filter string would choke on.
        self.key = hashlib.sha256(workspace.encode()).hexdigest()[:16]
        self._run: str | None = None

    def pending(self) -> list[Path]:
        """Spooled checkpoints not yet in MLflow, oldest first."""
        return sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []

    def spool(self, checkpoint: CheckpointRow) -> None:
        """Write ``checkpoint`` to the spool (a file of a few hundred bytes), for :meth:`sync` to send."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{checkpoint.seq:015d}.json"
        partial = self.folder / f".{checkpoint.seq}.{os.getpid()}.{threading.get_ident()}.partial"
        partial.write_text(json.dumps(asdict(checkpoint)), encoding="utf-8")
        os.replace(partial, path)  # atomic: a sync sees a whole checkpoint or none

    def sync(self, client: Any, experiments: dict[str, str]) -> int:
        """Send every spooled checkpoint in one batch; returns how many. Raises on an MLflow error (they stay)."""
        spooled = {path: found for path in self.pending() if (found := _read(path)) is not None}
        if not spooled:
            return 0
        from mlflow.entities import Metric

        checkpoints = list(spooled.values())
        run = self._audit_run(client, experiments)
        metrics = [Metric("audit.records", float(c.seq), _ms(c.at), c.seq) for c in checkpoints]
        client.log_batch(run, metrics=metrics, tags=self._tags(client, run, checkpoints), synchronous=True)
        for path in spooled:
            path.unlink(missing_ok=True)
        return len(checkpoints)

    @staticmethod
    def _tags(client: Any, run: str, checkpoints: list[CheckpointRow]) -> list[Any]:
        """A tag per checkpoint, and the newest one's, unless the run has a newer one (from another process)."""
        from mlflow.entities import RunTag

        tags = [RunTag(f"toolnexus.audit.checkpoint.{c.seq}", json.dumps(asdict(c), sort_keys=True))
                for c in checkpoints]
        newest = max(checkpoints, key=lambda c: c.seq)
        known = client.get_run(run).data.tags.get("toolnexus.audit.count")
        if known is None or int(known) < newest.seq:
            tags += [RunTag(f"toolnexus.audit.{name}", value) for name, value in _newest_tags(newest).items()]
        return tags

    def _audit_run(self, client: Any, experiments: dict[str, str]) -> str:
        """The workspace's run in the audit experiment, found by its tag or created."""
        if self._run is None:
            exp = experiment_id(client, AUDIT_EXPERIMENT, experiments, self.artifact_root)
            found = client.search_runs([exp], filter_string=f"tags.`toolnexus.audit_of` = '{self.key}'",
                                       max_results=1)
            self._run = str(found[0].info.run_id) if found else str(client.create_run(
                exp, run_name="audit", tags={"toolnexus.audit_of": self.key, "toolnexus.workspace": self.workspace},
            ).info.run_id)
        return self._run


def _read(path: Path) -> CheckpointRow | None:
    """The checkpoint spooled in ``path``, or None if another process sent it meanwhile."""
    try:
        return CheckpointRow(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def _newest_tags(checkpoint: CheckpointRow) -> dict[str, str]:
    """The ``toolnexus.audit.*`` tags (less the prefix) saying which checkpoint is the newest."""
    return {"count": str(checkpoint.seq), "head": checkpoint.head, "at": checkpoint.at,
            "signature": checkpoint.signature or "", "key_id": checkpoint.key_id or ""}


def _ms(at: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000)
