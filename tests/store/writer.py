"""A process writing runs, steps and cache entries to a state store: ``python -m tests.store.writer DB NAME N GO``.

Waits for the file GO to exist, so that two writers started together really write at the same time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from toolnexus.core.events import RunFinished, RunStarted, StepFinished
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus
from toolnexus.store import StateStore


def write(db: str, name: str, count: int, go: str) -> None:
    store = StateStore(db)
    deadline = time.monotonic() + 30
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go")
        time.sleep(0.005)
    for i in range(count):
        run_id = f"run-{name}-{i:04d}"
        store(RunStarted(run_id=run_id, mission=f"mission-{name}", plan_hash="h", step_ids=["a", "b"]))
        for step in ("a", "b"):
            store(StepFinished(run_id=run_id, record=StepRecord(step_id=step, tool="t", version="1",
                                                                status=StepStatus.SUCCEEDED, output=i)))
        store.cache_put(f"{name}-{i}", "t", "1", {"i": i}, 0.0)
        store(RunFinished(run_id=run_id, result=RunResult(run_id=run_id, mission=f"mission-{name}",
                                                          status=RunStatus.SUCCEEDED, outputs={"i": i})))
    store.close()


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
