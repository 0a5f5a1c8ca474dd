"""Audit overhead: what an audit record costs, per record, in one process, on a real state.db (WAL).

**What a step's decision costs its commit** (issue 19: a mission step commits alone with its decision record). Three
ways of recording the same finished step, interleaved (ours, floor, bare, ours, floor, bare…):

- ``step + decision``: a Nexus's wiring — the deferred :class:`AuditSink` takes the step's ``GateDecided`` event,
  and the state store records the ``StepFinished`` with the decision's record in the same transaction
  (:class:`~toolnexus.governance.audit.outcomes.Outcomes`): build the record, canonical JSON, read the chain
  head, hash, insert, commit;
- floor ``step alone``: the same store without the audit (the step's row, committed alone);
- bare ``sqlite3 step + row``: plain ``sqlite3`` writing the same two rows in one transaction — the step's record
  and a hash-chained row (a dict of the same fields as ``json.dumps`` with sorted keys, SHA-256, the head read)
  on a database with the same tables: what any hash-chained log in SQLite pays, without toolnexus.

The table gives µs per step, min and median over the repetitions, wall and CPU time (``thread_time``: other work on
the machine moves it less), and the ratios ``step + decision`` ÷ ``step alone`` and ÷ ``bare``.

**The log's own operations** (median µs per record): ``append`` one per commit, ``append_many`` batched, the
:class:`AuditSink` one per decision and deferred (many to a commit), and ``verify`` per record. With ``--key`` a
checkpoint every ``--every`` records is signed (Ed25519), as with ``governance.audit_key``.

    PYTHONPATH=. python benchmarks/audit_overhead.py [--records 5000] [--batch 100] [--repeat 5] [--every 1000] [--key]
    PYTHONPATH=. python benchmarks/audit_overhead.py --quick     # a smoke run: 500 records, one repetition
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, Surface
from toolnexus.core.decision import Decision
from toolnexus.core.events import GateDecided, StepFinished
from toolnexus.core.run import StepRecord, StepStatus
from toolnexus.governance.audit import AuditLog, AuditSink
from toolnexus.governance.audit.outcomes import Outcomes
from toolnexus.store import StateStore


def body(i: int) -> dict[str, object]:
    return {"tool": "files.read", "version": "1.0.0", "principal": "alice", "surface": "python",
            "call_id": f"call-{i:012d}", "arguments": {"path": f"in/{i}.txt", "limit": 100},
            "decision": {"verdict": "allow", "decider": "gate", "policy": "default", "mode": "observe"}}


# One decision per rule, as a policy hands them out.
DECISION = Decision(policy="noop-allowed", mode="enforce", decider="policy",
                    reason="allowed by policy rule noop-allowed")


def event(i: int, run_id: str | None = None) -> GateDecided:
    call = ToolCall(tool="files.read", version="1.0.0", arguments={"path": f"in/{i}.txt", "limit": 100},
                    caller=Caller(principal="alice", surface=Surface.PYTHON), run_id=run_id,
                    step_id=f"s{i}" if run_id else None, origin="mission" if run_id else "python")
    return GateDecided(run_id=run_id, call=call, decision=DECISION, runtime="inprocess")


def deferred(sink: AuditSink, events: list[GateDecided], batch: int) -> None:
    """Hand the sink ``batch`` events at a time on an event loop, then write them (as its timer would)."""

    async def go() -> None:
        for i in range(0, len(events), batch):
            for e in events[i:i + batch]:
                sink(e)
            sink.flush()

    asyncio.run(go())


def timed(label: str, n: int, repeat: int, make: Callable[[AuditLog], Callable[[], object]],
          log_of: Callable[[], AuditLog]) -> float:
    samples = []
    for attempt in range(repeat + 1):
        log = log_of()
        run = make(log)
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
        if attempt:  # the first is the warm-up
            samples.append(elapsed / n * 1e6)
    median = statistics.median(samples)
    print(f"{label:<28} {median:8.1f} µs/record   (min {min(samples):.1f}, max {max(samples):.1f})")
    return median


# -- a step's commit with its decision ------------------------------------------------------------------------


class StepCommits:
    """The three ways of recording ``n`` finished steps (see the module doc), each timed per step."""

    def __init__(self, folder: Path, n: int) -> None:
        self.n = n
        self.alone = StateStore(folder / "alone.db")
        self.audited = StateStore(folder / "audited.db")
        log = AuditLog(self.audited)
        self.sink = AuditSink(log, deferred=True)
        self.audited.join(Outcomes(log, self.sink))
        self.bare = sqlite3.connect(folder / "alone.db", isolation_level=None)  # (the same tables, made by the store)
        self.bare.execute("PRAGMA synchronous=NORMAL")
        self.records = [StepRecord(step_id=f"s{i}", tool="files.read", version="1.0.0", status=StepStatus.SUCCEEDED,
                                   output={"ok": True}, attempts=1) for i in range(n)]
        self.steps = [StepFinished(run_id="run-bench", record=r) for r in self.records]
        self.decisions = [event(i, "run-bench") for i in range(n)]
        self.bodies = [{**body(i), "run_id": "run-bench", "step_id": f"s{i}"} for i in range(n)]  # (bare: its own)

    def step_and_decision(self) -> None:
        sink, store = self.sink, self.audited
        for decided, finished in zip(self.decisions, self.steps, strict=True):
            sink(decided)  # (the engine's order: the decision, then the step's record with it)
            store(finished)

    def step_alone(self) -> None:
        store = self.alone
        for finished in self.steps:
            store(finished)

    def bare_rows(self) -> None:
        conn = self.bare
        for record, decided, fields in zip(self.records, self.decisions, self.bodies, strict=True):
            text = record.model_dump_json()
            row = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO steps (run_id, step_id, record, status) VALUES (?, ?, ?, ?) ON CONFLICT "
                         "(run_id, step_id) DO UPDATE SET record = excluded.record, status = excluded.status",
                         ("run-bare", record.step_id, text, record.status.value))
            head = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = head if head is not None else (0, "0" * 64)
            digest = hashlib.sha256(f"{seq + 1}{prev}{row}".encode()).hexdigest()
            conn.execute("INSERT INTO audit_records (seq, at, kind, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?)",
                         (seq + 1, decided.at.isoformat(), "decision.allow", row, prev, digest))
            conn.execute("COMMIT")

    async def run(self, repeat: int) -> dict[str, list[tuple[float, float]]]:
        """Time each way ``repeat`` times (after a warm-up), interleaved: µs per step, (wall, CPU)."""
        ways = {"step + decision": self.step_and_decision, "step alone": self.step_alone,
                "sqlite3 step + row": self.bare_rows}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for attempt in range(repeat + 1):
            for name, way in ways.items():
                started, cpu = time.perf_counter(), time.thread_time()
                way()
                wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
                if attempt:
                    samples[name].append((wall / self.n * 1e6, cpu / self.n * 1e6))
                await asyncio.sleep(0)  # (on a loop, as the engine runs: the sink's writes are timed on it)
        return samples

    def close(self) -> None:
        self.sink.flush()
        self.bare.close()
        self.alone.close()
        self.audited.close()


def print_step_table(samples: dict[str, list[tuple[float, float]]]) -> None:
    def figures(name: str, index: int) -> tuple[float, float]:
        values = [s[index] for s in samples[name]]
        return min(values), statistics.median(values)

    print(f"{'per step, µs':<22} {'wall min':>9} {'wall med':>9} {'cpu min':>8} {'cpu med':>8}")
    for name in samples:
        (wmin, wmed), (cmin, cmed) = figures(name, 0), figures(name, 1)
        print(f"{name:<22} {wmin:9.1f} {wmed:9.1f} {cmin:8.1f} {cmed:8.1f}")
    ours = [s[1] for s in samples["step + decision"]]
    for floor in ("step alone", "sqlite3 step + row"):
        ratios = [o / f[1] for o, f in zip(ours, samples[floor], strict=True)]
        added = [o - f[1] for o, f in zip(ours, samples[floor], strict=True)]
        print(f"step + decision ÷ {floor}: cpu min {min(ratios):.2f}×, median {statistics.median(ratios):.2f}× "
              f"(+{statistics.median(added):.1f} µs CPU a step)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=None, help="records (and steps) a repetition (default 5000)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 5)")
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--key", action="store_true", help="sign checkpoints with an Ed25519 key")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 500 records, one repetition")
    args = parser.parse_args()
    n = args.records or (500 if args.quick else 5000)
    repeat = args.repeat or (1 if args.quick else 5)
    batch = args.batch
    key = Ed25519PrivateKey.generate() if args.key else None
    events = [event(i) for i in range(n)]
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="tn-audit-bench-") as folder:
        commits = StepCommits(Path(folder), n)
        try:
            print(f"\nA step's commit with its decision record: {n} steps a repetition, {repeat} repetitions, "
                  "interleaved")
            print_step_table(asyncio.run(commits.run(repeat)))
        finally:
            commits.close()

        store = StateStore(Path(folder) / "state.db")

        def log_of() -> AuditLog:
            return AuditLog(store, checkpoint_every=args.every, key=key)

        print(f"\nThe log: {n} records a repetition, {repeat} repetitions, checkpoint every {args.every}"
              f"{', signed' if key else ''}; {store.path}")
        timed("append, one per commit", n, repeat,
              lambda log: lambda: [log.append("decision.allow", body(i)) for i in range(n)], log_of)
        timed(f"append, batched ({batch}/commit)", n, repeat,
              lambda log: lambda: [log.append_many(("decision.allow", body(j), None) for j in range(i, i + batch))
                                   for i in range(0, n, batch)], log_of)
        timed("sink, one per decision", n, repeat,
              lambda log: lambda: [sink(e) for sink in (AuditSink(log),) for e in events], log_of)
        timed(f"sink, deferred ({batch}/commit)", n, repeat,
              lambda log: lambda: deferred(AuditSink(log, deferred=True), events, batch), log_of)
        total = log_of().rows.count()
        timed(f"verify ({total} records)", total, repeat, lambda log: log.verify, log_of)
        store.close()
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
