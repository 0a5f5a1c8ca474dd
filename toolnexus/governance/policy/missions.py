"""The mission a call belongs to, for rules that match ``missions:``.

A :class:`~toolnexus.governance.plan.CallPlan` carries the call's run id, not its mission's name; the state
store knows it (a run is recorded when it starts, before its first step is decided).
"""

from __future__ import annotations

from collections.abc import Callable

from toolnexus.store.sqlite import StateStore


def missions_in(store: StateStore) -> Callable[[str], str | None]:
    """A ``mission_of(run_id)`` for :class:`~toolnexus.governance.policy.PolicyGate` reading ``store``'s runs
    (the gate remembers each run's answer)."""

    def mission_of(run_id: str) -> str | None:
        row = store.connection().execute("SELECT mission FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row[0] if row is not None else None

    return mission_of
