"""Audit overhead: microseconds per audit record, in one process, on a real state.db (WAL).

Figures (median of the repetitions, each ``--records`` records, after a warm-up):

- ``append, one per commit``: ``AuditLog.append`` — canonical JSON, SHA-256, ``BEGIN IMMEDIATE``, read
  the head, insert, commit: what each gate decision costs when the audit is on;
- ``append, batched``: ``AuditLog.append_many`` of ``--batch`` records per commit;
- ``sink, one per decision``: the :class:`AuditSink` given a ``GateDecided`` event of a call with a few
  arguments (body built, scrubbed, appended in its own commit) — the audit's share of a governed call;
- ``sink, deferred``: ``AuditSink(deferred=True)`` outside an event loop is the same; on a loop the events
  are written a moment later, many to a commit: measured as the events of ``--batch`` calls and one flush;
- ``verify``: walking the chain, per record.

With ``--key`` a checkpoint every ``--every`` records is signed (Ed25519), as with ``governance.audit_key``.

Usage: python benchmarks/audit_overhead.py [--records 5000] [--batch 100] [--repeat 5] [--every 1000] [--key]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, Surface
from toolnexus.core.decision import Decision
from toolnexus.core.events import GateDecided
from toolnexus.governance.audit import AuditLog, AuditSink
from toolnexus.store import StateStore


def body(i: int) -> dict[str, object]:
    return {"tool": "files.read", "version": "1.0.0", "principal": "alice", "surface": "python",
            "call_id": f"call-{i:012d}", "arguments": {"path": f"in/{i}.txt", "limit": 100},
            "decision": {"verdict": "allow", "decider": "gate", "policy": "default", "mode": "observe"}}


def event(i: int) -> GateDecided:
    call = ToolCall(tool="files.read", version="1.0.0", arguments={"path": f"in/{i}.txt", "limit": 100},
                    caller=Caller(principal="alice", surface=Surface.PYTHON))
    return GateDecided(call=call, decision=Decision(policy="default", mode="observe"), runtime="inprocess")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--key", action="store_true", help="sign checkpoints with an Ed25519 key")
    args = parser.parse_args()
    n, batch = args.records, args.batch
    key = Ed25519PrivateKey.generate() if args.key else None
    events = [event(i) for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="tn-audit-bench-") as folder:
        store = StateStore(Path(folder) / "state.db")

        def log_of() -> AuditLog:
            return AuditLog(store, checkpoint_every=args.every, key=key)

        print(f"{n} records a repetition, {args.repeat} repetitions, checkpoint every {args.every}"
              f"{', signed' if key else ''}; {store.path}")
        timed("append, one per commit", n, args.repeat,
              lambda log: lambda: [log.append("decision.allow", body(i)) for i in range(n)], log_of)
        timed(f"append, batched ({batch}/commit)", n, args.repeat,
              lambda log: lambda: [log.append_many(("decision.allow", body(j), None) for j in range(i, i + batch))
                                   for i in range(0, n, batch)], log_of)
        timed("sink, one per decision", n, args.repeat,
              lambda log: lambda: [sink(e) for sink in (AuditSink(log),) for e in events], log_of)
        timed(f"sink, deferred ({batch}/commit)", n, args.repeat,
              lambda log: lambda: deferred(AuditSink(log, deferred=True), events, batch), log_of)
        total = log_of().rows.count()
        timed(f"verify ({total} records)", total, args.repeat, lambda log: log.verify, log_of)
        store.close()


if __name__ == "__main__":
    main()
