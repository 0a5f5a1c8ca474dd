"""The step compiler: each step's tool, control references, runtime and arguments, then the ordered Plan."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from toolnexus.core.spec import ISOLATION, Lifecycle, ToolSpec, runtime_supports
from toolnexus.governance.floor import RuntimeFloor
from toolnexus.governance.lifecycle import LifecycleWarning, lifecycle_problem
from toolnexus.mission.compiler.arguments import ArgumentChecker
from toolnexus.mission.compiler.order import order_steps
from toolnexus.mission.compiler.references import ToolLookup
from toolnexus.mission.expressions import ExpressionError, Template, expression
from toolnexus.mission.loader import LoadedMission
from toolnexus.mission.model import Step
from toolnexus.mission.plan import TYPE_NAMES, Plan, PlanStep, coerce_input


class StepCompiler(ArgumentChecker):
    """Compiles one loaded mission into a Plan, collecting every problem before raising them together."""

    def __init__(self, loaded: LoadedMission, lookup: ToolLookup, runtimes: Iterable[str],
                 min_runtime: Mapping[str, str] | None = None) -> None:
        super().__init__(loaded, lookup)
        # The tier → runtime floor is governance's, decided in one place for the compiler and the pipeline.
        self.floor = RuntimeFloor(min_runtime)
        self.runtimes = set(runtimes)
        self.warnings: list[Diagnostic] = []
        self.foreach_templates: dict[str, Template] = {}  # parsed once, reused by the plan
        self._runtimes: dict[tuple[int, str | None], tuple[str, ToolSpec]] = {}

    def compile_step(self, index: int, step: Step) -> PlanStep | None:
        """Check one step; its PlanStep, or None when its tool cannot be resolved."""
        path = ("steps", index)
        spec = self._resolve(step, path)
        in_foreach = step.foreach is not None
        deps = self._control_deps(step, path, in_foreach)
        if spec is None:
            self.check_template(step.with_, (*path, "with"), in_foreach=in_foreach)
            return None
        deps |= self.check_arguments(step, spec, path, in_foreach)
        if spec.lifecycle is not Lifecycle.ACTIVE:
            self._check_lifecycle(step, spec, path)
        runtime = self._choose_runtime(step, spec, path)
        return PlanStep.compiled(
            id=step.id,
            tool=spec.name,
            version=spec.version,
            runtime=runtime,
            tier=spec.tier,
            arguments=step.with_,
            needs=sorted(deps),
            if_=step.if_,
            foreach=step.foreach,
            retry=step.retry,
            timeout=step.timeout if step.timeout is not None else spec.limits.timeout,
            continue_on_error=step.continue_on_error,
            cache=step.cache if step.cache is not None else spec.deterministic,
            name=step.name,
        )

    def _resolve(self, step: Step, path: tuple[Any, ...]) -> ToolSpec | None:
        """The tool of ``uses:``, or None (reported) when there is none."""
        try:
            return self.lookup(step.uses)
        except LookupError as exc:
            self.error(
                (*path, "uses"), f"step `{step.id}`: {exc.args[0] if exc.args else exc}", getattr(exc, "hint", None)
            )
        except ValueError as exc:
            self.error((*path, "uses"), f"step `{step.id}`: {exc}")
        return None

    def _check_lifecycle(self, step: Step, spec: ToolSpec, path: tuple[Any, ...]) -> None:
        """A retired tool is an error at the step's ``uses:``; a deprecated or experimental one a warning (an
        experimental tool runs only where governance opts in, which the compiler cannot know)."""
        problem = lifecycle_problem(spec)
        if problem is None:
            return
        message = f"step `{step.id}`: {problem.message}"
        if spec.lifecycle is Lifecycle.RETIRED:
            self.error((*path, "uses"), message, problem.hint)
        else:
            diagnostic = self.pos.diagnostic((*path, "uses"), message, problem.hint)
            self.warnings.append(diagnostic.model_copy(update={"code": "warning"}))

    def _control_deps(self, step: Step, path: tuple[Any, ...], in_foreach: bool) -> set[str]:
        """Check ``foreach:``, ``if:`` and ``needs:``; the step ids they depend on."""
        deps: set[str] = set()
        if in_foreach:
            template, found = self.check_template(step.foreach, (*path, "foreach"), in_foreach=False)
            deps |= found
            if template is not None:
                self.foreach_templates[step.id] = template
        if isinstance(step.if_, str):
            text = step.if_.strip()
            inner = text[3:-2] if text.startswith("${{") and text.endswith("}}") else text
            try:
                deps |= self.check_expression(
                    expression(inner), (*path, "if"), in_foreach=in_foreach, in_condition=True
                )
            except ExpressionError as exc:
                self.error((*path, "if"), str(exc), exc.hint)
        for need in step.needs:
            if need in self.broken_ids:
                continue
            if need not in self.step_set:
                self.error(
                    (*path, "needs"), f"step `{step.id}` needs unknown step `{need}`", did_you_mean(need, self.step_ids)
                )
            deps.add(need)
        return deps

    def _choose_runtime(self, step: Step, spec: ToolSpec, path: tuple[Any, ...]) -> str:
        """The step's runtime: policy raises a runtime nobody chose to the tier's floor; a weaker choice is an error."""
        requested = step.runtime or self.loaded.runtime
        # The choice depends on the tool and the runtime asked for only: a mission of 100,000 steps asks a
        # handful of times. The spec is kept in the key's value so its id stays its own during the compile.
        known = self._runtimes.get((id(spec), requested))
        if known is not None:
            return known[0]
        runtime = self.floor.choose(spec, requested)
        # Point where the runtime was chosen: the step, the mission's default, or the tool itself.
        where = (*path, "runtime") if step.runtime else ("runtime",) if self.loaded.runtime else (*path, "uses")
        problem = self._runtime_problem(step, spec, runtime)
        if problem is not None:
            self.error(where, *problem)  # not remembered: each step with the problem is reported
        else:
            self._runtimes[(id(spec), requested)] = (runtime, spec)
        return runtime

    def _runtime_problem(self, step: Step, spec: ToolSpec, runtime: str) -> tuple[str, str] | None:
        """Why ``runtime`` cannot run ``step``'s tool (message, hint), or None when it can."""
        if runtime in self.runtimes and self.floor.below(spec, runtime):
            floor = self.floor.floor(spec)
            return (
                f"step `{step.id}`: policy runs {spec.tier.value} tools like {spec.ref} with at least `{floor}` "
                f"isolation, not `{runtime}`",
                f"use runtime: {floor}",
            )
        if runtime not in self.runtimes:
            return (
                f"step `{step.id}`: unknown runtime `{runtime}`",
                did_you_mean(runtime, self.runtimes) or f"available: {', '.join(sorted(self.runtimes))}",
            )
        if ISOLATION.get(runtime, 0) < ISOLATION.get(spec.runtime, 0):
            return (
                f"step `{step.id}`: {spec.ref} must run with at least `{spec.runtime}` isolation, not `{runtime}`",
                f"use runtime: {spec.runtime}",
            )
        if spec.entry.kind == "command" and runtime == "inprocess":
            return f"step `{step.id}`: command tool {spec.ref} cannot run in-process", "use runtime: process"
        if not runtime_supports(runtime, spec):
            return (
                f"step `{step.id}`: the `{runtime}` runtime cannot run {spec.ref} (a {spec.entry.kind} tool)",
                "wasm runs wasm modules and python.exec; docker runs images, commands and python.exec",
            )
        return None

    def run(self) -> Plan:
        """Compile every step, order them, and return the Plan (or raise every problem found)."""
        steps = self.loaded.steps
        self._index_steps()
        self._check_input_defaults()
        compiled: list[tuple[int, PlanStep]] = []
        for index, step in steps:
            plan_step = self.compile_step(index, step)
            if plan_step is not None:
                compiled.append((index, plan_step))
        self.check_template(self.loaded.outputs, ("outputs",), in_foreach=False)
        ordered = order_steps(compiled, self.error)
        self._emit_warnings()
        if self.problems or self.mission is None:
            raise DiagnosticError(sorted(self.problems, key=_position))
        # The checks are done: their indexes (a dict or set of every step id each, ~25 MB for 100,000
        # steps) are let go before the plan is made, which needs as much again at the peak of a compile.
        del compiled
        self._release_indexes()
        return self.finish(ordered)

    def _release_indexes(self) -> None:
        """Drop what only the checks read (the step ids and their specs), for the plan's memory."""
        self.step_ids, self.step_set, self.broken_ids, self.foreach_ids = [], set(), set(), set()
        self.specs = {}
        self._resolved = {}

    def _emit_warnings(self) -> None:
        """Issue the compile's warnings as Python warnings at the mission's file and line (the CLI prints them;
        a script or notebook sees them as any other warning)."""
        for diagnostic in sorted(self.warnings, key=_position):
            text = diagnostic.message + (f"; {diagnostic.hint}" if diagnostic.hint else "")
            warnings.warn_explicit(LifecycleWarning(text), LifecycleWarning, diagnostic.file or "<mission>",
                                   diagnostic.line or 0)

    def _index_steps(self) -> None:
        """Learn the step ids (reporting duplicates), the broken and foreach ones, and each step's tool."""
        steps = self.loaded.steps
        ids = [step.id for _, step in steps]
        seen: dict[str, int] = dict(zip(ids, [index for index, _ in steps], strict=True))
        if len(seen) < len(ids):  # duplicates: each reported, the first one kept
            seen = {}
            for index, step in steps:
                if step.id in seen:
                    self.error(
                        ("steps", index, "id"),
                        f"duplicate step id `{step.id}` (first at step {seen[step.id] + 1})",
                        "give each step a unique id",
                    )
                else:
                    seen[step.id] = index
        self.step_ids = list(seen)
        self.step_set = set(seen)
        self.broken_ids = set(self.loaded.declared_ids) - self.step_set
        self.foreach_ids = {s.id for _, s in steps if s.foreach is not None}
        # Each tool looked up once (a large mission names a handful), each step given its tool's spec.
        specs = {ref: self._try_lookup(ref) for ref in dict.fromkeys(step.uses for _, step in steps)}
        self.specs = {step.id: spec for _, step in steps if (spec := specs[step.uses]) is not None}

    def _try_lookup(self, ref: str) -> ToolSpec | None:
        try:
            return self.lookup(ref)
        except (LookupError, ValueError):
            return None

    def _check_input_defaults(self) -> None:
        """Report an optional input whose default does not fit its declared type."""
        for name, spec in self.loaded.inputs.items():
            if not spec.required:
                try:
                    coerce_input(spec.default, spec)
                except ValueError as exc:
                    self.error(
                        ("inputs", name, "default"),
                        f"input `{name}` default: {exc}",
                        f"make the default {TYPE_NAMES[spec.type]}, or change `type:`",
                    )

    def finish(self, steps: list[PlanStep]) -> Plan:
        """The Plan of the ordered steps, hashed, each step prepared with its parsed argument templates."""
        assert self.mission is not None
        mission = self.mission
        plan = Plan(
            mission=mission.mission,
            mission_version=mission.version,
            description=mission.description,
            inputs=mission.inputs,
            steps=steps,
            outputs=mission.outputs,
            budget=mission.budget,
            concurrency=mission.concurrency or 8,
            source_path=self.loaded.file,
        )
        plan.hash = plan_hash(plan)
        empty: dict[str, Template] = {}
        arg_templates, foreach_templates = self.arg_templates, self.foreach_templates
        for step in plan.steps:
            parts = arg_templates.get(step.id, empty)
            arguments = step.arguments
            step.prepare(Template.of_parts(arguments, parts) if len(parts) == len(arguments) else None,
                         foreach_templates.get(step.id))
        return plan


_HASH_CHUNK = 1000  # steps written at a time for the hash
_encode = json.encoder.encode_basestring_ascii  # a string as json.dumps writes it (ASCII, escaped)
_BOOLS = {True: "true", False: "false"}


def plan_hash(plan: Plan) -> str:
    """A digest of everything that decides what the plan does (not where it was loaded from).

    The digest of ``json.dumps(plan body, sort_keys=True)``, the body as ``model_dump(mode="json", by_alias=True)``
    makes it, fed to the hash piece by piece: the steps a thousand at a time, so a plan of 100,000 steps is never
    held as one JSON text (and its dump) in memory. The value is kept across versions: a run is resumed only if
    its mission still compiles to the hash its record holds.
    """
    body = plan.model_dump(mode="json", by_alias=True, exclude={"hash", "source_path", "description", "steps"})
    digest = hashlib.sha256()
    digest.update(b"{")
    # json.dumps(sort_keys=True) writes a mapping's items sorted by key, separated by ", ".
    for position, key in enumerate(sorted([*body, "steps"])):
        digest.update(((", " if position else "") + json.dumps(key) + ": ").encode())
        if key == "steps":
            _hash_steps(digest, plan.steps)
        else:
            digest.update(_canonical(body[key]).encode())
    digest.update(b"}")
    return digest.hexdigest()[:16]


def _hash_steps(digest: Any, steps: list[PlanStep]) -> None:
    """Feed ``steps`` to ``digest`` as ``json.dumps`` writes their list, a chunk of steps at a time."""
    digest.update(b"[")
    tails: dict[tuple[Any, ...], str] = {}
    for start in range(0, len(steps), _HASH_CHUNK):
        texts = [_step_json(step, tails) for step in steps[start:start + _HASH_CHUNK]]
        digest.update(((", " if start else "") + ", ".join(texts)).encode())
    digest.update(b"]")


def _step_json(step: PlanStep, tails: dict[tuple[Any, ...], str]) -> str:
    """``json.dumps(step.model_dump(mode="json", by_alias=True), sort_keys=True)``.

    Dumping every step through pydantic and then encoding its dict was most of hashing a large plan (0.3 s for
    100,000 steps). A step whose values are plain JSON (strings, finite numbers, booleans, None, and lists and
    mappings of them with string keys: all a mission's YAML holds but its timestamps, binaries and ``.inf``) dumps
    to those very values, so its text is written here, the part most steps share (tool, version, runtime, tier,
    timeout) once; another step (a retry policy, a value pydantic would convert) is dumped as before.
    """
    d = step.__dict__
    arguments, foreach, if_, name, timeout = d["arguments"], d["foreach"], d["if_"], d["name"], d["timeout"]
    if not _dumps_as_is(d, arguments, foreach, if_, name, timeout):
        return _canonical(step.model_dump(mode="json", by_alias=True))
    key = (d["runtime"], d["tier"], timeout, d["tool"], d["version"])
    tail = tails.get(key)
    if tail is None:
        tail = tails[key] = (
            f'"retry": null, "runtime": {_encode(d["runtime"])}, "tier": {_canonical(d["tier"].value)}, '
            f'"timeout": {_canonical(timeout)}, "tool": {_encode(d["tool"])}, "version": {_encode(d["version"])}}}'
        )
    return (
        f'{{"arguments": {_canonical(arguments) if arguments else "{}"}, "cache": {_BOOLS[d["cache"]]}, '
        f'"continue_on_error": {_BOOLS[d["continue_on_error"]]}, '
        f'"foreach": {"null" if foreach is None else _canonical(foreach)}, '
        f'"id": {_encode(d["id"])}, "if": {"null" if if_ is None else _canonical(if_)}, '
        f'"name": {"null" if name is None else _encode(name)}, "needs": [{", ".join(map(_encode, d["needs"]))}], '
        + tail
    )


def _dumps_as_is(d: dict[str, Any], arguments: Any, foreach: Any, if_: Any, name: Any, timeout: Any) -> bool:
    """Whether a step's fields (its ``__dict__`` ``d``, the named ones given as read) are plain JSON that a JSON-mode
    dump leaves as they are, with no retry policy (a model, dumped by pydantic). The common None and empty values
    are tested inline: this runs for every step."""
    return (
        d["retry"] is None and type(d["cache"]) is bool and type(d["continue_on_error"]) is bool
        and type(arguments) is dict and (not arguments or _plain(arguments)) and (foreach is None or _plain(foreach))
        and (if_ is None or _plain(if_)) and (name is None or type(name) is str)
        and (timeout is None or _plain(timeout))
    )


def _plain(value: Any) -> bool:
    """Whether ``value`` is plain JSON, which a JSON-mode dump leaves as it is: None, a string, a boolean, an
    integer, a finite float, or a list or string-keyed mapping of such (exact types: a subclass may dump otherwise)."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return True
    if kind is float:
        return math.isfinite(value)  # pydantic dumps inf and nan as None
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _position(d: Diagnostic) -> tuple[str, int, int]:
    return d.file or "", d.line or 0, d.column or 0
