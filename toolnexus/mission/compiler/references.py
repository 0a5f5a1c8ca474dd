"""The compiler's state and its reference checks: functions, ``inputs.*``, ``steps.*``, ``item``/``index``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolnexus.core.diagnostics import Diagnostic, did_you_mean
from toolnexus.core.spec import ToolSpec
from toolnexus.mission.compiler.schemas import output_path_problem, schema_types
from toolnexus.mission.expressions import GLOBAL_FUNCTIONS, STATUS_FUNCTIONS, Expression, ExpressionError, Template
from toolnexus.mission.loader import LoadedMission
from toolnexus.mission.model import Mission

ToolLookup = Callable[[str], ToolSpec]
"""Resolve ``name@version`` to a ToolSpec or raise LookupError (with an optional ``hint`` attribute)."""

STEP_FIELDS_IN_EXPRESSIONS = ("outputs", "status", "error")
_FAILED = (LookupError, ValueError)  # a lookup's failures (a tuple: `A | B` would make a union at every lookup)
ROOTS = ("inputs", "steps", "item", "index")


class ReferenceChecker:
    """What one compile knows (steps, tools, problems) and the checks of the references in expressions."""

    def __init__(self, loaded: LoadedMission, lookup: ToolLookup) -> None:
        self.loaded = loaded
        self._lookup = lookup
        # Each `uses:` resolved once per compile: a mission of 10,000 steps names a handful of tools.
        self._resolved: dict[str, ToolSpec | LookupError | ValueError] = {}
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
        if isinstance(found, _FAILED):
            raise found.with_traceback(None)  # the same exception again, without the last raise's frames
        return found

    def error(self, path: tuple[Any, ...], message: str, hint: str | None = None, *, key: bool = False) -> None:
        """Record one problem at ``path`` in the mission file."""
        self.problems.append(self.pos.diagnostic(path, message, hint, key=key))

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
        self._check_calls(expr, path, in_condition)
        deps: set[str] = set()
        for ref in expr.refs:
            root = str(ref[0])
            if root not in ROOTS:
                hint = did_you_mean(root, ROOTS) or "expressions read inputs.<name>, steps.<id>.outputs, item, index"
                self.error(path, f"unknown name `{root}` in `${{{{ {expr.source} }}}}`", hint)
            elif root == "inputs":
                self._check_input_ref(ref, path)
            elif root == "steps":
                target = self._check_step_ref(expr, ref, path)
                if target is not None:
                    deps.add(target)
            elif not (in_foreach and allow_items):
                self.error(
                    path,
                    f"`{root}` is only defined in a step with `foreach:`",
                    "add `foreach:` to the step, or read steps.<id>.outputs",
                )
        return deps

    def _check_calls(self, expr: Expression, path: tuple[Any, ...], in_condition: bool) -> None:
        """Report status functions outside ``if:`` and unknown functions."""
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

    def _check_input_ref(self, ref: tuple[Any, ...], path: tuple[Any, ...]) -> None:
        """Report ``inputs.<name>`` where the mission declares inputs but not that one."""
        input_names = self.loaded.input_names
        if len(ref) >= 2 and input_names is not None and str(ref[1]) not in input_names:
            self.error(
                path,
                f"`inputs.{ref[1]}` is not a declared input",
                did_you_mean(str(ref[1]), input_names, "inputs.") or "declare it under `inputs:`",
            )

    def _check_step_ref(self, expr: Expression, ref: tuple[Any, ...], path: tuple[Any, ...]) -> str | None:
        """Check ``steps.<id>...``; the step depended on, or None when the reference is unusable."""
        if len(ref) < 2:
            self.error(path, "`steps` needs a step id: steps.<id>.outputs")
            return None
        target = str(ref[1])
        if target in self.broken_ids:
            return None
        if target not in self.step_set:
            self.error(
                path,
                f"unknown step `{target}` in `${{{{ {expr.source} }}}}`",
                did_you_mean(target, self.step_ids, "steps.") or f"the steps are: {', '.join(self.step_ids)}",
            )
            return None
        if len(ref) >= 3 and str(ref[2]) not in STEP_FIELDS_IN_EXPRESSIONS:
            self.error(
                path,
                f"`steps.{target}.{ref[2]}` is not a step field",
                did_you_mean(str(ref[2]), STEP_FIELDS_IN_EXPRESSIONS, f"steps.{target}.")
                or f"use steps.{target}.outputs",
            )
            return None
        if len(ref) >= 4 and ref[2] == "outputs":
            self._check_output_ref(target, ref, path)
        return target

    def _check_output_ref(self, target: str, ref: tuple[Any, ...], path: tuple[Any, ...]) -> None:
        """Check ``steps.<id>.outputs.<field>`` against foreach lists and the tool's output schema."""
        if target in self.foreach_ids:
            if isinstance(ref[3], str):
                self.error(
                    path,
                    f"step `{target}` has `foreach:`, so `steps.{target}.outputs` is a list "
                    f"(one output per item) and has no `{ref[3]}`",
                    f"index it (`steps.{target}.outputs[0].{ref[3]}`) or map it "
                    f"(`steps.{target}.outputs | map(attribute='{ref[3]}') | list`)",
                )
            return
        spec = self.specs.get(target)
        problem = None if spec is None else output_path_problem(spec, target, ref[3:])
        if problem is not None:
            self.error(path, problem[0], problem[1])

    def check_template(
        self, value: Any, path: tuple[Any, ...], *, in_foreach: bool, allow_items: bool = True
    ) -> tuple[Template | None, set[str]]:
        """Parse a value's ``${{ }}`` parts and check them; the template (None if unparsable) and its deps."""
        try:
            template = Template(value)
        except ExpressionError as exc:
            self.error(path, str(exc), exc.hint)
            return None, set()
        deps: set[str] = set()
        for sub, expr in template.expressions:
            deps |= self.check_expression(expr, (*path, *sub), in_foreach=in_foreach, allow_items=allow_items)
        return template, deps

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
            tool = self.specs.get(step_id)
            if tool is None:
                return None
            if step_id in self.foreach_ids:
                return {"array"} if len(expr.path) == 3 else None
            return schema_types(tool.output_schema, expr.path[3:])
        return None
