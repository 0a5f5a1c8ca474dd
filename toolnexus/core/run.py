"""Records of a mission run and of its steps, shared by the engine, the store and every surface."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from toolnexus.core.errors import ToolError


class StepStatus(StrEnum):
    """Where a step stands in its run: pending until it runs, then one of the four ways it can end."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    """How a run stands or ended; only ``succeeded`` means every output was produced."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died (SIGKILL, power loss) before recording how it ended


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the one clock every record and event is stamped with."""
    return datetime.now(UTC)


class StepRecord(BaseModel):
    """What happened to one step of a run."""

    step_id: str
    tool: str
    version: str
    status: StepStatus = StepStatus.PENDING
    output: Any = None
    error: ToolError | None = None
    attempts: int = 0
    duration: float = 0.0
    cost: float = 0.0
    cached: bool = False
    resumed: bool = False
    skip_reason: str | None = None
    items: int | None = None  # fan-out width of a foreach step
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        """Completed in a way a resumed run may keep (succeeded or deliberately skipped)."""
        return self.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)


class RunResult(BaseModel):
    """The outcome of a mission run: status, outputs, each step's record and the totals."""

    run_id: str
    mission: str
    status: RunStatus
    outputs: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    cost: float = 0.0
    currency: str = "USD"
    duration: float = 0.0
    error: ToolError | None = None
    resumed_from: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """Whether the run succeeded (a failed, cancelled or interrupted run is not ok)."""
        return self.status == RunStatus.SUCCEEDED

    def __repr__(self) -> str:
        # Short on purpose: asyncio formats a finished task's result in some error paths, and a full
        # pydantic repr of a 1,000-step result costs a tenth of a second.
        return f"RunResult(run_id={self.run_id!r}, mission={self.mission!r}, status={self.status.value!r})"

    def failed_steps(self) -> list[StepRecord]:
        """The records of the steps that failed, in plan order: where to look when a run did not succeed."""
        return [s for s in self.steps.values() if s.status == StepStatus.FAILED]

    def summary(self) -> str:
        """One paragraph a person can act on: status and, on failure, which step failed and why."""
        counts: dict[str, int] = {}
        for record in self.steps.values():
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        text = f"run {self.run_id} of {self.mission}: {self.status.value}"
        text += " (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")" if counts else ""
        for record in self.failed_steps():
            text += f"\n  step {record.step_id!r} ({record.tool}) failed: {record.error}"
        if self.error is not None and not self.failed_steps():
            text += f"\n  {self.error}"
        return text
