"""The calls the state store recorded, as a policy replay reads them: standalone calls and mission steps.

Standalone calls (``calls`` table) keep their arguments. A mission step keeps its tool and the arguments its
plan wrote literally; an argument computed by a ``${{ … }}`` expression is not recorded, so it is left out
(a condition on it does not hold in a replay). The store does not record callers: a replayed call is the
OS user's, through the surface it came in (a step's is ``mission``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from toolnexus.core.caller import Surface
from toolnexus.core.run import StepRecord, StepStatus
from toolnexus.store.sqlite import StateStore

TEMPLATE_MARK = "${{"
RAN = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RUNNING, StepStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One call as recorded: its tool, what is known of its arguments, where it came from and when."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    surface: Surface = Surface.PYTHON
    at: str = ""
    run_id: str | None = None
    step_id: str | None = None
    mission: str | None = None
    partial: bool = False  # some arguments were computed at run time and are unknown here


def since_text(since: datetime | None) -> str:
    """``since`` as the store writes times (ISO 8601, UTC), for comparing with its text columns."""
    return (since or datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC).isoformat()


def recorded_calls(store: StateStore, since: datetime | None = None) -> Iterator[RecordedCall]:
    """Every call recorded since ``since`` (all when None): standalone calls, then the steps of runs."""
    store.flush()
    yield from _standalone(store, since_text(since))
    yield from _steps(store, since_text(since))


def _surface(origin: str | None) -> Surface:
    try:
        return Surface(origin or "python")
    except ValueError:
        return Surface.PYTHON


def _standalone(store: StateStore, since: str) -> Iterator[RecordedCall]:
    rows = store.connection().execute(
        "SELECT tool, origin, arguments, at FROM calls WHERE at >= ? ORDER BY at", (since,)).fetchall()
    for row in rows:
        arguments = json.loads(row["arguments"] or "{}")
        yield RecordedCall(tool=row["tool"], arguments=arguments if isinstance(arguments, dict) else {},
                           surface=_surface(row["origin"]), at=row["at"])


def _plan_arguments(plan: bytes | str | None) -> dict[str, dict[str, Any]]:
    """Each step's arguments as its run's plan holds them, by step id."""
    if plan is None:
        return {}
    # Plans are stored compressed (older ones as text); see StateStore._run_started.
    text = zlib.decompress(plan).decode() if isinstance(plan, bytes) else plan
    steps = json.loads(text).get("steps", [])
    return {s["id"]: s.get("arguments") or {} for s in steps if isinstance(s, dict) and "id" in s}


def _literal(arguments: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The arguments written literally (no ``${{ … }}`` in them), and whether any were left out."""
    kept = {k: v for k, v in arguments.items() if TEMPLATE_MARK not in json.dumps(v, default=str)}
    return kept, len(kept) < len(arguments)


def _steps(store: StateStore, since: str) -> Iterator[RecordedCall]:
    conn = store.connection()
    runs = conn.execute("SELECT run_id, mission, plan, started_at FROM runs WHERE started_at >= ? ORDER BY started_at",
                        (since,)).fetchall()
    for run in runs:
        arguments = _plan_arguments(run["plan"])
        for row in conn.execute("SELECT record FROM steps WHERE run_id = ?", (run["run_id"],)).fetchall():
            record = StepRecord.model_validate_json(row["record"])
            if record.status not in RAN:
                continue
            kept, partial = _literal(arguments.get(record.step_id, {}))
            at = record.started_at.isoformat() if record.started_at else run["started_at"]
            yield RecordedCall(tool=record.tool, arguments=kept, surface=Surface.MISSION, at=at,
                               run_id=run["run_id"], step_id=record.step_id, mission=run["mission"], partial=partial)
