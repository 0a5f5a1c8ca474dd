"""The checks of a step's ``with:`` arguments against the tool's input schema."""

from __future__ import annotations

from typing import Any

from toolnexus.core.diagnostics import did_you_mean
from toolnexus.core.spec import ToolSpec
from toolnexus.mission.compiler.references import ReferenceChecker
from toolnexus.mission.compiler.schemas import argument_errors, compatible, describe, schema_types
from toolnexus.mission.expressions import Template
from toolnexus.mission.model import Step


class ArgumentChecker(ReferenceChecker):
    """Adds the argument checks: required, unknown, constant values and the static type of whole expressions."""

    def check_arguments(self, step: Step, spec: ToolSpec, path: tuple[Any, ...], in_foreach: bool) -> set[str]:
        """Check ``step``'s arguments for ``spec``; return the step ids they depend on."""
        schema = spec.input_schema or {}
        for name in schema.get("required", []) or []:
            if name not in step.with_:
                self.error(
                    (*path, "with") if step.with_ else (*path, "uses"),
                    f"step `{step.id}`: missing required argument `{name}` for {spec.ref}",
                    f"add `{name}:` under `with:`",
                )
        deps: set[str] = set()
        for name, value in step.with_.items():
            deps |= self._check_argument(step, spec, (*path, "with", name), name, value, in_foreach)
        return deps

    def _check_argument(
        self, step: Step, spec: ToolSpec, arg_path: tuple[Any, ...], name: str, value: Any, in_foreach: bool
    ) -> set[str]:
        """Check one argument; the step ids it depends on."""
        schema = spec.input_schema or {}
        properties: dict[str, Any] = schema.get("properties", {}) or {}
        if name not in properties and schema.get("additionalProperties") is False:
            self.error(
                arg_path,
                f"step `{step.id}`: {spec.ref} takes no argument `{name}`",
                did_you_mean(name, properties) or f"it takes: {', '.join(properties) or 'nothing'}",
                key=True,
            )
            return set()
        template, deps = self.check_template(value, arg_path, in_foreach=in_foreach)
        if template is not None:
            self.arg_templates.setdefault(step.id, {})[name] = template
        if template is None or name not in properties:
            return deps
        if template.constant:
            for message in argument_errors(spec, name, value):
                self.error(arg_path, f"step `{step.id}`: argument `{name}`: {message}", describe(properties[name]))
        elif _whole_expression(template, value):
            self._check_argument_type(step, template, arg_path, name, properties[name], schema.get("$defs"))
        return deps

    def _check_argument_type(
        self,
        step: Step,
        template: Template,
        arg_path: tuple[Any, ...],
        name: str,
        prop: dict[str, Any],
        defs: dict[str, Any] | None,
    ) -> None:
        """Report an argument that is one plain reference whose declared type the slot does not take."""
        expr = template.expressions[0][1]
        have = self.type_of(expr)
        want = schema_types(prop, (), defs=defs)
        if have and want and not compatible(have, want):
            self.error(
                arg_path,
                f"step `{step.id}`: argument `{name}` expects {' or '.join(sorted(want))}"
                f" but `{expr.source}` is {' or '.join(sorted(have))}",
                "convert it in the expression, e.g. `| string` or `| int`",
            )


def _whole_expression(template: Template, value: Any) -> bool:
    """Whether the argument is exactly one ``${{ }}`` (so its value keeps the expression's type)."""
    return (
        len(template.expressions) == 1
        and template.expressions[0][0] == ()
        and isinstance(value, str)
        and value.strip().startswith("${{")
        and value.strip().endswith("}}")
    )
