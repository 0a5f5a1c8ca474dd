"""Governance overhead: microseconds per gate decision, with no policy and with 1,000 enforced rules.

Figures (median of the repetitions, each ``--decisions`` decisions of a ``files.write`` call, after a warm-up):

- ``no policy``: the pass-through gate (``AllowAll``), through ``Governance.decide`` (the runtime floor
  included, no event listener);
- ``1,000 enforce rules, indexed``: a policy of 1,000 enforced rules on 1,000 different tools, namespaces
  and globs, ten of them on ``files.write`` with argument conditions (``under``, ``host_in``, ``lt``…): what a
  realistic large policy costs per call (the index finds the few candidate rules by tool name);
- ``1,000 enforce rules, all candidates``: the worst case, 1,000 rules that all name ``files.write``, each
  with a condition to evaluate.

Target (issue 16): ≤ 20 µs added per decision with 1,000 enforce rules.

Then the engine benchmark's 1,000-step no-op DAG (10 layers, ``needs:``; benchmarks/engine_overhead.py) run by a
Nexus three ways, in one run: governance off (no policy, no audit), 1,000 enforce rules, and 1,000 enforce rules
with the audit log on (every decision recorded). The difference per step is what governance adds to each call.
Target: ≤ 20 µs per call for the policy decision, ≤ 50 µs with the audit record.

Usage: python benchmarks/governance_overhead.py [--decisions 20000] [--repeat 5] [--steps 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, Surface
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.governance import CallPlan
from toolnexus.governance.decide import Governance
from toolnexus.governance.gate import AllowAll, Gate
from toolnexus.governance.policy import PolicyGate, compile_policy

SPEC = ToolSpec(name="files.write", tier=SafetyTier.SIDE_EFFECTING, tags=["files"], input_schema={
    "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}})
PLAN = CallPlan(call=ToolCall(tool="files.write", arguments={"path": "out/report.md", "content": "x" * 100},
                              caller=Caller(principal="alice", tenant="acme", surface=Surface.PYTHON)),
                spec=SPEC, runtime="inprocess")


def _rule(i: int, tools: str, when: str) -> str:
    return f"  - {{id: r{i}, effect: {('deny', 'approve', 'allow')[i % 3]}, tools: {tools}, when: {when}}}\n"


def indexed_policy() -> str:
    """1,000 rules on other tools (exact names, namespaces, globs), ten on files.write."""
    rules = []
    for i in range(1000):
        if i % 100 == 0:
            rules.append(_rule(i, "files.write", f"{{path: {{under: out/{i}}}, content: {{ne: secret}}}}"))
        elif i % 10 == 0:
            rules.append(f"  - {{id: r{i}, effect: deny, namespaces: [team{i}], principals: [bob]}}\n")
        elif i % 7 == 0:
            rules.append(_rule(i, f'"svc{i}.*"', "{url: {host_in: [api.example.com]}}"))
        else:
            rules.append(_rule(i, f"tool{i}.run", f"{{amount: {{lt: {i}}}}}"))
    return "mode: enforce\nrules:\n" + "".join(rules)


def crowded_policy() -> str:
    """1,000 rules that all name files.write (the index cannot help)."""
    return "mode: enforce\nrules:\n" + "".join(
        _rule(i, "files.write", f"{{path: {{under: out/{i}}}}}") for i in range(1000))


def gate_of(text: str, name: str = "bench.yaml") -> PolicyGate:
    return PolicyGate(compile_policy([(name, text)]))


def cedar_policy(policies: int) -> str:
    """A Cedar file (``toolnexus[cedar]``) of ``policies`` policies, one permitting files.write under out/."""
    others = "".join(f'@id("c{i}")\nforbid(principal, action == Toolnexus::Action::"tool{i}.run", resource)'
                     f" when {{ context.input has amount && context.input.amount > {i} }};\n"
                     for i in range(policies - 1))
    return ('// mode: enforce\n@id("writes-under-out")\npermit(principal, action == Toolnexus::Action::"files.write",'
            ' resource) when { context.input has path && context.input.path like "out/*" };\n' + others)


def cedar_gates() -> list[tuple[str, Gate]]:
    """Cedar gates of 1 and 100 policies, when cedarpy is installed (none otherwise)."""
    try:
        import cedarpy  # noqa: F401
    except ImportError:
        return []
    return [(f"Cedar file, {n} policies", gate_of(cedar_policy(n), "bench.cedar")) for n in (1, 100)]


async def per_decision(gate: Gate, decisions: int, repeat: int) -> float:
    """The median microseconds of one ``Governance.decide`` with ``gate``."""
    governance = Governance(gate)
    for _ in range(1000):  # warm-up: the index remembers the tool's candidate rules
        await governance.decide(PLAN)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(decisions):
            await governance.decide(PLAN)
        samples.append((time.perf_counter() - start) / decisions * 1e6)
    return statistics.median(samples)


def dag_policy() -> str:
    """1,000 enforced rules on other tools, and two on the benchmark's ``bench.noop`` (an allow that matches every
    principal, a deny for one that never calls): as a tool of a large policy meets it."""
    return indexed_policy() + (
        "  - {id: noop-allowed, effect: allow, tools: bench.noop, principals: ['*']}\n"
        "  - {id: noop-not-for-mallory, effect: deny, tools: bench.noop, principals: [mallory]}\n")


def per_step(configs: list[tuple[str, dict[str, object], Gate | None]], steps: int, repeat: int) -> list[float]:
    """Median microseconds per step of the layered DAG of ``steps`` no-op steps, for each Nexus configuration."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_tools, engine_overhead
    import bench_tools
    from engine_overhead import layers, mission_yaml

    import toolnexus as tn
    from toolnexus.registry import spec_of

    text = mission_yaml("bench-governance", layers(steps))
    medians = []
    for _, overrides, gate in configs:
        with tempfile.TemporaryDirectory(prefix="toolnexus-gov-") as tmp, \
                tn.Nexus(tmp, gate=gate, overrides={"tracking.enabled": False, **overrides}) as nexus:
            nexus.registry.register(spec_of(bench_tools.noop))
            plan = nexus.compile(text)
            nexus.run(plan)  # warm-up
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                result = nexus.run(plan)
                samples.append((time.perf_counter() - start) / steps * 1e6)
                assert result.ok, result.error
            medians.append(statistics.median(samples))
    return medians


def print_dags(steps: int, repeat: int) -> None:
    """The DAG figures: µs per step for each configuration and what it adds to governance off."""
    configs: list[tuple[str, dict[str, object], Gate | None]] = [
        ("governance off (no policy, no audit)", {"governance.audit": False}, None),
        ("1,000 enforce rules", {"governance.audit": False}, gate_of(dag_policy())),
        ("1,000 enforce rules + audit log", {"governance.audit": True}, gate_of(dag_policy())),
    ]
    medians = per_step(configs, steps, repeat)
    print(f"\n{steps}-step no-op DAG (10 layers), median of {repeat} runs")
    print(f"{'configuration':<40} {'µs/step':>9} {'added µs':>9}")
    for (label, _, _), micros in zip(configs, medians, strict=True):
        print(f"{label:<40} {micros:>9.1f} {micros - medians[0]:>9.1f}")
    print("targets: ≤ 20 µs added per call for the policy decision, ≤ 50 µs with the audit record")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000, help="steps of the DAG (0: skip the DAG figures)")
    args = parser.parse_args()
    indexed, crowded = gate_of(indexed_policy()), gate_of(crowded_policy())
    assert len(indexed.policy) == len(crowded.policy) == 1000
    base: float | None = None
    print(f"load average: {os.getloadavg()[0]:.2f} (the figures are only as quiet as the machine)")
    print(f"{'gate':<36} {'µs/decision':>12} {'decisions/s':>12} {'added µs':>9}")
    for label, gate in [("no policy", AllowAll()), ("1,000 enforce rules, indexed", indexed),
                        ("1,000 enforce rules, all candidates", crowded), *cedar_gates()]:
        micros = await per_decision(gate, args.decisions, args.repeat)
        base = micros if base is None else base
        print(f"{label:<36} {micros:>12.2f} {1e6 / micros:>12,.0f} {micros - base:>9.2f}")
    print("target: ≤ 20 µs added per decision with 1,000 enforce rules (indexed)")
    if args.steps:
        await asyncio.to_thread(print_dags, args.steps, args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
