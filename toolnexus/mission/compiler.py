"""Compile a Mission into a Plan: resolve tools, check arguments and references, build the DAG.

Every problem is collected and reported in one pass, each with its file:line:column and a fix.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import networkx as nx
from jsonschema import Draft202012Validator

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from toolnexus.core.spec import DEFAULT_MIN_RUNTIME, ISOLATION, ToolSpec, runtime_supports, stronger_runtime
from toolnexus.mission.expressions import (
    GLOBAL_FUNCTIONS,
    STATUS_FUNCTIONS,
    Expression,
    ExpressionError,
    Template,
    expression,
)
from toolnexus.mission.gcpause import paused_gc
from toolnexus.mission.loader import LoadedMission, parse_mission
from toolnexus.mission.model import Mission, Step
from toolnexus.mission.plan import TYPE_NAMES, Plan, PlanStep, coerce_input

ToolLookup = Callable[[str], ToolSpec]
"""Resolve ``name@version`` to a ToolSpec or raise LookupError (with an optional ``hint`` attribute)."""

# Isolation strength: a tool's declared runtime is a minimum a mission may raise but not lower.
DEFAULT_RUNTIMES = ("inprocess", "process")
STEP_FIELDS_IN_EXPRESSIONS = ("outputs", "status", "error")
ROOTS = ("inputs", "steps", "item", "index")


class _Compiler:
    def __init__(self, loaded: LoadedMission, lookup: ToolLookup, runtimes: Iterable[str],
                 min_runtime: Mapping[str, str] | None = None) -> None:
        self.min_runtime = dict(min_runtime if min_runtime is not None else DEFAULT_MIN_RUNTIME)
        self.loaded = loaded
        self._lookup = lookup
        # Each `uses:` resolved once per compile: a mission of 10,000 steps names a handful of tools.
        self._resolved: dict[str, ToolSpec | LookupError | ValueError] = {}
        self.runtimes = set(runtimes)
        self.pos = loaded.positions
        self.problems: list[Diagnostic] = list(loaded.diagnostics)
        self.mission: Mission | None = loaded.mission
        self.step_ids: list[str] = []
        self.step_set: set[str] = set()
        self.arg_templates: dict[str, dict[str, Template]] = {}  # parsed once, reused by the plan
        # Ids of steps written but invalid (already reported): referring to them is no new error.
        self.broken_ids: set[str] = set()
        self.specs: dict[str, ToolSpec] = {}
        self.foreach_ids: set[str] = set()

    def lookup(self, ref: str) -> ToolSpec:
        """The tool ``ref`` names (the registry's LookupError or ValueError if none)."""
        found = self._resolved.get(ref)
        if found is None:
            try:
                found = self._lookup(ref)
            except (LookupError, ValueError) as exc:
                found = exc
            self._resolved[ref] = found
        if isinstance(found, LookupError | ValueError):
            raise found.with_traceback(None)  # the same exception again, without the last raise's frames
        return found

    def error(self, path: tuple[Any, ...], message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.problems.append(self.pos.diagnostic(path, message, hint, key=key))

    # -- references --------------------------------------------------------------------------

    def check_expression(
        self,
        expr: Expression,
        path: tuple[Any, ...],
        *,
        in_foreach: bool,
        allow_items: bool = True,
        in_condition: bool = False,
    ) -> set[str]:
        """Check an expression's references; return the step ids it depends on."""
        deps: set[str] = set()
        input_names = self.loaded.input_names
        for call in sorted(expr.calls):
            if call in STATUS_FUNCTIONS and not in_condition:
                self.error(
                    path,
                    f"`{call}()` is only meaningful in a step's `if:`",
                    "use it as `if: ${{ always() }}` or `if: ${{ failure() }}`",
                )
            elif call not in STATUS_FUNCTIONS and call not in GLOBAL_FUNCTIONS:
                known = (*STATUS_FUNCTIONS, *sorted(GLOBAL_FUNCTIONS))
                self.error(
                    path,
                    f"unknown function `{call}()` in `${{{{ {expr.source} }}}}`",
                    did_you_mean(call, known)
                    or f"functions: {', '.join(f'{k}()' for k in known)}; filters such as `| length` transform values",
                )
        for ref in expr.refs:
            root = str(ref[0])
            if root not in ROOTS:
                hint = did_you_mean(root, ROOTS) or "expressions read inputs.<name>, steps.<id>.outputs, item, index"
                self.error(path, f"unknown name `{root}` in `${{{{ {expr.source} }}}}`", hint)
                continue
            if root == "inputs" and len(ref) >= 2 and input_names is not None and str(ref[1]) not in input_names:
                self.error(
                    path,
                    f"`inputs.{ref[1]}` is not a declared input",
                    did_you_mean(str(ref[1]), input_names, "inputs.") or "declare it under `inputs:`",
                )
            elif root == "steps":
                if len(ref) < 2:
                    self.error(path, "`steps` needs a step id: steps.<id>.outputs")
                    continue
                target = str(ref[1])
                if target in self.broken_ids:
                    continue
                if target not in self.step_set:
                    self.error(
                        path,
                        f"unknown step `{target}` in `${{{{ {expr.source} }}}}`",
                        did_you_mean(target, self.step_ids, "steps.") or f"the steps are: {', '.join(self.step_ids)}",
                    )
                    continue
                if len(ref) >= 3 and str(ref[2]) not in STEP_FIELDS_IN_EXPRESSIONS:
                    self.error(
                        path,
                        f"`steps.{target}.{ref[2]}` is not a step field",
                        did_you_mean(str(ref[2]), STEP_FIELDS_IN_EXPRESSIONS, f"steps.{target}.")
                        or f"use steps.{target}.outputs",
                    )
                    continue
                if target in self.foreach_ids and len(ref) >= 4 and ref[2] == "outputs" and isinstance(ref[3], str):
                    self.error(
                        path,
                        f"step `{target}` has `foreach:`, so `steps.{target}.outputs` is a list "
                        f"(one output per item) and has no `{ref[3]}`",
                        f"index it (`steps.{target}.outputs[0].{ref[3]}`) or map it "
                        f"(`steps.{target}.outputs | map(attribute='{ref[3]}') | list`)",
                    )
                elif target not in self.foreach_ids and len(ref) >= 4 and ref[2] == "outputs":
                    problem = self.output_path_problem(target, ref[3:])
                    if problem is not None:
                        self.error(path, problem[0], problem[1])
                deps.add(target)
            elif root in ("item", "index") and not (in_foreach and allow_items):
                self.error(
                    path,
                    f"`{root}` is only defined in a step with `foreach:`",
                    "add `foreach:` to the step, or read steps.<id>.outputs",
                )
        return deps

    def check_template(
        self, value: Any, path: tuple[Any, ...], *, in_foreach: bool, allow_items: bool = True
    ) -> tuple[Template | None, set[str]]:
        try:
            template = Template(value)
        except ExpressionError as exc:
            self.error(path, str(exc), exc.hint)
            return None, set()
        deps: set[str] = set()
        for sub, expr in template.expressions:
            deps |= self.check_expression(expr, (*path, *sub), in_foreach=in_foreach, allow_items=allow_items)
        return template, deps

    # -- static types -------------------------------------------------------------------------

    def type_of(self, expr: Expression) -> set[str] | None:
        """The JSON types a plain reference can have, where the mission and tools declare them."""
        if expr.path is None or len(expr.path) < 2:
            return None
        root = expr.path[0]
        if root == "inputs" and len(expr.path) == 2:
            spec = self.loaded.inputs.get(str(expr.path[1]))
            return {spec.type} if spec else None
        if root == "steps" and len(expr.path) >= 3 and expr.path[2] == "outputs":
            step_id = str(expr.path[1])
            spec = self.specs.get(step_id)
            if spec is None:
                return None
            if step_id in self.foreach_ids:
                return {"array"} if len(expr.path) == 3 else None
            return schema_types(spec.output_schema, expr.path[3:])
        return None

    def output_path_problem(self, step_id: str, parts: tuple[Any, ...]) -> tuple[str, str | None] | None:
        """Why ``steps.<id>.outputs.<parts>`` cannot exist, by the tool's output schema (None if it may)."""
        spec = self.specs.get(step_id)
        if spec is None or not spec.output_schema:
            return None
        schema = spec.output_schema
        defs = schema.get("$defs", {})
        # A Python tool's typed return value is dumped by pydantic: it has exactly the declared fields.
        closed = spec.entry.kind == "python"
        node: dict[str, Any] | None = _deref(schema, defs)
        walked = f"steps.{step_id}.outputs"
        for part in parts:
            if node is None or "anyOf" in node or "oneOf" in node or "allOf" in node:
                return None
            kind = node.get("type")
            if kind in ("string", "integer", "number", "boolean", "null"):
                step = f"[{part}]" if isinstance(part, int) else f".{part}"
                return (
                    f"`{walked}` is {TYPE_NAMES.get(kind, kind)}, so it has no `{step.lstrip('.')}`",
                    f"drop `{step}`: `{walked}` is already the value",
                )
            if isinstance(part, int):
                node = _deref(node.get("items"), defs) if isinstance(node.get("items"), dict) else None
                walked += f"[{part}]"
                continue
            properties = node.get("properties")
            if not isinstance(properties, dict):
                return None
            if part not in properties:
                extra = node.get("additionalProperties")
                if extra is False or (closed and extra is None and not node.get("patternProperties")):
                    return (
                        f"`{walked}` has no field `{part}` ({spec.ref} returns: {', '.join(properties)})",
                        did_you_mean(str(part), properties, f"{walked}."),
                    )
                return None
            node = _deref(properties[part], defs)
            walked += f".{part}"
        return None

    # -- steps -------------------------------------------------------------------------------

    def check_arguments(self, step: Step, spec: ToolSpec, path: tuple[Any, ...], in_foreach: bool) -> set[str]:
        schema = spec.input_schema or {}
        properties: dict[str, Any] = schema.get("properties", {}) or {}
        deps: set[str] = set()
        for name in schema.get("required", []) or []:
            if name not in step.with_:
                self.error(
                    (*path, "with") if step.with_ else (*path, "uses"),
                    f"step `{step.id}`: missing required argument `{name}` for {spec.ref}",
                    f"add `{name}:` under `with:`",
                )
        for name, value in step.with_.items():
            arg_path = (*path, "with", name)
            if name not in properties and schema.get("additionalProperties") is False:
                self.error(
                    arg_path,
                    f"step `{step.id}`: {spec.ref} takes no argument `{name}`",
                    did_you_mean(name, properties) or f"it takes: {', '.join(properties) or 'nothing'}",
                    key=True,
                )
                continue
            template, found = self.check_template(value, arg_path, in_foreach=in_foreach)
            if template is not None:
                self.arg_templates.setdefault(step.id, {})[name] = template
            deps |= found
            if template is None or name not in properties:
                continue
            if template.constant:
                for message in argument_errors(
                    spec.ref,
                    name,
                    json.dumps(properties[name], sort_keys=True),
                    json.dumps(schema.get("$defs", {}), sort_keys=True),
                    value,
                ):
                    self.error(arg_path, f"step `{step.id}`: argument `{name}`: {message}", _describe(properties[name]))
            elif (
                len(template.expressions) == 1
                and template.expressions[0][0] == ()
                and isinstance(value, str)
                and value.strip().startswith("${{")
                and value.strip().endswith("}}")
            ):
                expr = template.expressions[0][1]
                have = self.type_of(expr)
                want = schema_types(properties[name], (), defs=schema.get("$defs"))
                if have and want and not compatible(have, want):
                    self.error(
                        arg_path,
                        f"step `{step.id}`: argument `{name}` expects {' or '.join(sorted(want))}"
                        f" but `{expr.source}` is {' or '.join(sorted(have))}",
                        "convert it in the expression, e.g. `| string` or `| int`",
                    )
        return deps

    def compile_step(self, index: int, step: Step) -> PlanStep | None:
        path = ("steps", index)
        try:
            spec = self.lookup(step.uses)
        except LookupError as exc:
            self.error(
                (*path, "uses"), f"step `{step.id}`: {exc.args[0] if exc.args else exc}", getattr(exc, "hint", None)
            )
            spec = None
        except ValueError as exc:
            self.error((*path, "uses"), f"step `{step.id}`: {exc}")
            spec = None
        in_foreach = step.foreach is not None
        deps: set[str] = set()
        if in_foreach:
            _, found = self.check_template(step.foreach, (*path, "foreach"), in_foreach=False)
            deps |= found
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
        if spec is None:
            self.check_template(step.with_, (*path, "with"), in_foreach=in_foreach)
            return None
        deps |= self.check_arguments(step, spec, path, in_foreach)
        chosen = step.runtime or self.loaded.runtime
        floor = self.min_runtime.get(spec.tier.value, "inprocess")
        # Policy raises a runtime nobody chose to the tier's minimum; an explicit weaker choice is an error.
        runtime = chosen or stronger_runtime(spec.runtime, floor)
        # Point where the runtime was chosen: the step, the mission's default, or the tool itself.
        where = (*path, "runtime") if step.runtime else ("runtime",) if self.loaded.runtime else (*path, "uses")
        if runtime in self.runtimes and ISOLATION.get(runtime, 0) < ISOLATION.get(floor, 0):
            self.error(
                where,
                f"step `{step.id}`: policy runs {spec.tier.value} tools like {spec.ref} with at least `{floor}` "
                f"isolation, not `{runtime}`",
                f"use runtime: {floor}",
            )
        elif runtime not in self.runtimes:
            self.error(
                where,
                f"step `{step.id}`: unknown runtime `{runtime}`",
                did_you_mean(runtime, self.runtimes) or f"available: {', '.join(sorted(self.runtimes))}",
            )
        elif ISOLATION.get(runtime, 0) < ISOLATION.get(spec.runtime, 0):
            self.error(
                where,
                f"step `{step.id}`: {spec.ref} must run with at least `{spec.runtime}` isolation, not `{runtime}`",
                f"use runtime: {spec.runtime}",
            )
        elif spec.entry.kind == "command" and runtime == "inprocess":
            self.error(
                where, f"step `{step.id}`: command tool {spec.ref} cannot run in-process", "use runtime: process"
            )
        elif not runtime_supports(runtime, spec):
            self.error(
                where,
                f"step `{step.id}`: the `{runtime}` runtime cannot run {spec.ref} (a {spec.entry.kind} tool)",
                "wasm runs wasm modules and python.exec; docker runs images, commands and python.exec",
            )
        return PlanStep(
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

    def run(self) -> Plan:
        steps = self.loaded.steps
        seen: dict[str, int] = {}
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
        self.broken_ids = set(self.loaded.declared_ids) - set(seen)
        self.foreach_ids = {s.id for _, s in steps if s.foreach is not None}
        for _, step in steps:
            spec = _try(self.lookup, step.uses)
            if spec is not None:
                self.specs[step.id] = spec
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
        compiled: list[tuple[int, PlanStep]] = []
        for index, step in steps:
            plan_step = self.compile_step(index, step)
            if plan_step is not None:
                compiled.append((index, plan_step))
        self.check_template(self.loaded.outputs, ("outputs",), in_foreach=False)
        ordered = self.order(compiled)
        if self.problems or self.mission is None:
            raise DiagnosticError(sorted(self.problems, key=_position))
        return self.finish(ordered)

    def order(self, compiled: list[tuple[int, PlanStep]]) -> list[PlanStep]:
        index_of: dict[str, int] = {}
        for i, s in compiled:
            index_of.setdefault(s.id, i)  # a duplicate id (reported) keeps its first position
        ordered = _sorted_in_file_order(compiled, index_of)
        if ordered is not None:
            return ordered
        # The sort got stuck: there are cycles. networkx finds and names each one.
        graph = nx.DiGraph()
        graph.add_nodes_from(s.id for _, s in compiled)
        graph.add_edges_from((d, s.id) for _, s in compiled for d in s.needs if d in index_of or d == s.id)
        cyclic = [c for c in nx.strongly_connected_components(graph) if len(c) > 1 or graph.has_edge(*(list(c) * 2))]
        for component in sorted(cyclic, key=lambda c: min(index_of.get(n, 0) for n in c)):
            start = min(component, key=lambda n: index_of.get(n, 0))
            cycle = [u for u, _ in nx.find_cycle(graph.subgraph(component), source=start)]
            names = " → ".join([*cycle, cycle[0]])
            if len(component) == 1:
                self.error(
                    ("steps", index_of.get(start, 0), "id"),
                    f"step `{start}` depends on itself (dependency cycle: {names})",
                    "remove it from its own `needs:` and expressions",
                )
            else:
                self.error(
                    ("steps", index_of.get(start, 0), "id"),
                    f"dependency cycle: {names}",
                    "a step cannot depend, directly or through others, on itself; remove one of these dependencies",
                )
        return []

    def finish(self, steps: list[PlanStep]) -> Plan:
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
        for step in plan.steps:
            parts = self.arg_templates.get(step.id, {})
            reuse = len(parts) == len(step.arguments)
            step.prepare(Template.of_parts(step.arguments, parts) if reuse and parts else None)
        return plan


def _sorted_in_file_order(compiled: list[tuple[int, PlanStep]], index_of: dict[str, int]) -> list[PlanStep] | None:
    """A topological order that keeps the file's order wherever dependencies allow (Kahn's algorithm
    with the ready steps in a heap by position); None when a cycle stops it."""
    by_id = {s.id: s for _, s in compiled}
    waiting = {s.id: 0 for _, s in compiled}
    dependents: dict[str, list[str]] = {s.id: [] for _, s in compiled}
    for _, step in compiled:
        for dep in set(step.needs):
            if dep in by_id:
                waiting[step.id] += 1
                dependents[dep].append(step.id)
    ready = [(index_of[sid], sid) for sid, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    out: list[PlanStep] = []
    while ready:
        _, sid = heapq.heappop(ready)
        out.append(by_id[sid])
        for dependent in dependents[sid]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (index_of[dependent], dependent))
    return out if len(out) == len(by_id) else None


def plan_hash(plan: Plan) -> str:
    """A digest of everything that decides what the plan does (not where it was loaded from)."""
    body = plan.model_dump(mode="json", by_alias=True, exclude={"hash", "source_path", "description"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _describe(schema: dict[str, Any]) -> str | None:
    """What an argument's schema asks for, as a hint."""
    description = schema.get("description")
    kinds = schema_types(schema, ())
    wants = " or ".join(TYPE_NAMES.get(k, k) for k in sorted(kinds)) if kinds else None
    if wants and description:
        return f"it takes {wants}: {description}"
    return f"it takes {wants}" if wants else description


def _position(d: Diagnostic) -> tuple[str, int, int]:
    return d.file or "", d.line or 0, d.column or 0


def _try(lookup: ToolLookup, ref: str) -> ToolSpec | None:
    try:
        return lookup(ref)
    except (LookupError, ValueError):
        return None


def compile_mission(
    loaded: LoadedMission | Mission, lookup: ToolLookup, runtimes: Iterable[str] = DEFAULT_RUNTIMES,
    min_runtime: Mapping[str, str] | None = None,
) -> Plan:
    """Compile a parsed mission into a Plan, or raise DiagnosticError with every problem found.

    ``min_runtime`` maps a safety tier to the least isolating runtime policy allows for it.
    """
    with paused_gc():
        if isinstance(loaded, Mission):
            text = json.dumps(loaded.model_dump(mode="json", by_alias=True, exclude_unset=True))
            loaded = parse_mission(text, None)
        return _Compiler(loaded, lookup, runtimes, min_runtime).run()


def compile_source(text: str, file: str | None, lookup: ToolLookup, runtimes: Iterable[str] = DEFAULT_RUNTIMES) -> Plan:
    """Parse and compile mission text in one pass of diagnostics."""
    return compile_mission(parse_mission(text, file), lookup, runtimes)


# -- JSON Schema helpers -------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _validator(schema_json: str, defs_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    defs = json.loads(defs_json)
    if defs:
        schema = {**schema, "$defs": defs}
    return Draft202012Validator(schema)


def argument_errors(ref: str, name: str, schema_json: str, defs_json: str, value: Any) -> list[str]:
    """Why ``value`` does not fit the argument's schema (empty when it does)."""
    validator = _validator(schema_json, defs_json)
    out = []
    for err in validator.iter_errors(value):
        where = "".join(f"[{p!r}]" for p in err.absolute_path)
        message = _shortened(err.message)
        out.append(f"{where}: {message}" if where else message)
    return out


def _shortened(message: str, limit: int = 240) -> str:
    # JSON Schema's messages quote the whole value: a list of a million items made a 12 MB line
    # (and 700 MB to print it). The start and the end say what is wrong.
    return message if len(message) <= limit else f"{message[: limit - 80]} … {message[-70:]}"


def schema_types(
    schema: dict[str, Any] | None, path: Iterable[Any], defs: dict[str, Any] | None = None
) -> set[str] | None:
    """The JSON types at ``path`` inside ``schema``, or None where the schema does not say."""
    if not schema:
        return None
    defs = defs or schema.get("$defs", {})
    node: dict[str, Any] | None = schema
    for part in path:
        node = _deref(node, defs)
        if node is None:
            return None
        if isinstance(part, int):
            node = node.get("items") if isinstance(node.get("items"), dict) else None
        else:
            props = node.get("properties")
            node = props.get(part) if isinstance(props, dict) else None
    node = _deref(node, defs)
    if node is None:
        return None
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        kinds: set[str] = set()
        for option in options:
            sub = schema_types(option, (), defs)
            if sub is None:
                return None
            kinds |= sub
        return kinds
    return None


def _deref(node: dict[str, Any] | None, defs: dict[str, Any]) -> dict[str, Any] | None:
    while isinstance(node, dict) and "$ref" in node:
        name = str(node["$ref"]).rpartition("/")[2]
        node = defs.get(name)
    return node if isinstance(node, dict) else None


def compatible(have: set[str], want: set[str]) -> bool:
    """Whether a value of one of ``have``'s types may fill a slot of one of ``want``'s types."""
    widened = set(want) | ({"integer"} if "number" in want else set())
    return bool(have & widened)


__all__ = ["STATUS_FUNCTIONS", "ToolLookup", "compile_mission", "compile_source", "plan_hash"]
