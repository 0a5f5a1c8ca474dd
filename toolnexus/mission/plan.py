"""The compiled Plan: a validated, JSON-serialisable DAG of steps, drawable as DOT or Mermaid."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from toolnexus.core.spec import SafetyTier
from toolnexus.mission.expressions import Expression, Template, expression
from toolnexus.mission.model import Budget, InputSpec, RetryPolicy

if TYPE_CHECKING:
    import networkx as nx  # imported by graph(): compiling and running a plan never needs it (~0.1 s)


_new_object = object.__new__
_set_attribute = object.__setattr__  # as pydantic's model_construct sets a model's state


class _Parsed(NamedTuple):
    """A step's parsed expressions."""

    arguments: Template
    condition: Expression | None
    foreach: Template | None


class PlanStep(BaseModel):
    """A step as it will run: the tool resolved to an exact version, dependencies made explicit."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    tool: str
    version: str
    runtime: str
    tier: SafetyTier
    arguments: dict[str, Any] = Field(default_factory=dict)
    needs: list[str] = Field(default_factory=list)
    if_: str | bool | None = Field(None, alias="if")
    foreach: str | list[Any] | None = None
    retry: RetryPolicy | None = None
    timeout: float | None = None
    continue_on_error: bool = False
    cache: bool = False
    name: str | None = None

    # The parsed expressions (arguments, condition, foreach), in one private attribute: pydantic sets up
    # each private attribute of each instance, and a plan of 100,000 steps felt three.
    _parsed: _Parsed | None = PrivateAttr(default=None)

    @classmethod
    def compiled(
        cls, *, id: str, tool: str, version: str, runtime: str, tier: SafetyTier, arguments: dict[str, Any],
        needs: list[str], if_: str | bool | None, foreach: str | list[Any] | None, retry: RetryPolicy | None,
        timeout: float | None, continue_on_error: bool, cache: bool, name: str | None,
    ) -> PlanStep:
        """A step made by the compiler, which passes every field, each already of its type (the Mission model
        validated the step, the registry the tool): built as validating would build it, without validating again.

        Validating was most of a large compile's per-step cost (pydantic's validator, then its set-up of the private
        attribute, ~4 µs a step), and ``model_construct`` loops over the fields in Python. What validating would
        change is changed here: the mappings and lists are copies (so the plan does not share the mission's), an
        integer timeout a float. Every such step shares one "fields set" (the same names: all of them): a set of
        its own per step was a third of a large plan's memory (728 bytes a step).
        """
        step = _new_object(cls)
        # The new instance's own dict, filled in the fields' order: it shares its keys with every other step's (280
        # bytes, not the 464 of a dict built and set: 18 MB of a 100,000-step plan), and is the fastest to fill.
        fields = step.__dict__
        fields["id"] = id
        fields["tool"] = tool
        fields["version"] = version
        fields["runtime"] = runtime
        fields["tier"] = tier
        fields["arguments"] = dict(arguments)
        fields["needs"] = list(needs)
        fields["if_"] = if_
        fields["foreach"] = list(foreach) if isinstance(foreach, list) else foreach
        fields["retry"] = retry
        fields["timeout"] = timeout if timeout is None or type(timeout) is float else float(timeout)
        fields["continue_on_error"] = continue_on_error
        fields["cache"] = cache
        fields["name"] = name
        _set_attribute(step, "__pydantic_fields_set__", _ALL_FIELDS)
        _set_attribute(step, "__pydantic_extra__", None)
        _set_attribute(step, "__pydantic_private__", {"_parsed": None})
        return step

    def prepare(self, arguments: Template | None = None, foreach: Template | None = None) -> PlanStep:
        """Parse this step's expressions once, so running it does no parsing (``arguments``, ``foreach``: the
        templates of ``with:`` and ``foreach:`` when the compiler has already parsed them)."""
        # One function, not two: the compiler prepares every step of a plan.
        if arguments is None:
            arguments = Template(self.arguments)
        if foreach is None and self.foreach is not None:
            foreach = Template(self.foreach)
        condition = None
        if isinstance(self.if_, str):
            text = self.if_.strip()
            inner = text[3:-2] if text.startswith("${{") and text.endswith("}}") else text
            condition = expression(inner)
        self.__pydantic_private__["_parsed"] = _Parsed(arguments, condition, foreach)
        return self

    # The accessors below read pydantic's private-attribute dict directly: they run for every step of
    # every run, and attribute access through BaseModel.__getattr__ is several times slower.

    def _prepared(self) -> _Parsed:
        return self.prepare().__pydantic_private__["_parsed"]

    @property
    def argument_template(self) -> Template:
        """The parsed template of the step's arguments (``with:``)."""
        return (self.__pydantic_private__["_parsed"] or self._prepared()).arguments

    @property
    def condition(self) -> Expression | None:
        """The parsed ``if:`` expression, or None when the condition is absent or a constant."""
        return (self.__pydantic_private__["_parsed"] or self._prepared()).condition

    @property
    def foreach_template(self) -> Template | None:
        """The parsed template of ``foreach:``, or None for a step that runs once."""
        return (self.__pydantic_private__["_parsed"] or self._prepared()).foreach

    @property
    def wants_status(self) -> bool:
        """Whether ``if:`` asks about dependencies' status (``always()``, ``failure()``…)."""
        cond = self.condition
        return cond is not None and bool(cond.calls & {"always", "failure", "cancelled"})


# Shared by every compiled step as its "fields set". A set, not a frozenset: pydantic adds a field's name to it
# when the field is assigned, which for a name already in it changes nothing.
_ALL_FIELDS: set[str] = set(PlanStep.model_fields)


class Plan(BaseModel):
    """A compiled mission. Steps are in a deterministic topological order."""

    mission: str
    mission_version: str | None = None
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[PlanStep]
    outputs: dict[str, Any] = Field(default_factory=dict)
    budget: Budget | None = None
    concurrency: int = 8
    hash: str = ""
    source_path: str | None = None

    _by_id: dict[str, PlanStep] = PrivateAttr(default_factory=dict)
    _outputs: Template | None = PrivateAttr(default=None)

    def model_post_init(self, __context: Any) -> None:
        """Index the steps by id, for :meth:`step`."""
        self._by_id = {s.id: s for s in self.steps}

    def step(self, step_id: str) -> PlanStep:
        """The step with id ``step_id``; raises KeyError when the plan has none."""
        return self.__pydantic_private__["_by_id"][step_id]

    def __repr__(self) -> str:
        # Short on purpose: asyncio and anyio format a coroutine's arguments (a whole plan) when they
        # name tasks, and pydantic's full repr of 1,000 steps costs a tenth of a second.
        return f"Plan(mission={self.mission!r}, steps={len(self.steps)}, hash={self.hash!r})"

    @property
    def output_template(self) -> Template:
        """The parsed template of the mission's ``outputs:``, rendered once the steps are done."""
        if self._outputs is None:
            self._outputs = Template(self.outputs)
        return self._outputs

    def graph(self) -> nx.DiGraph:
        """The DAG: an edge ``a → b`` means ``b`` needs ``a``."""
        import networkx as nx

        g = nx.DiGraph()
        for s in self.steps:
            g.add_node(s.id, tool=f"{s.tool}@{s.version}", runtime=s.runtime)
            g.add_edges_from((dep, s.id) for dep in s.needs)
        return g

    def to_json(self) -> str:
        """The plan as indented JSON, with fields under their mission names (``if``, not ``if_``)."""
        return self.model_dump_json(by_alias=True, indent=2)

    def to_dot(self) -> str:
        """Graphviz DOT text of the DAG."""
        lines = [f"digraph {json.dumps(self.mission)} {{", "  rankdir=LR;", "  node [shape=box];"]
        for s in self.steps:
            label = f"{s.id}\\n{s.tool}@{s.version}\\n[{s.runtime}]"
            lines.append(f'  {json.dumps(s.id)} [label="{label}"];')
        for s in self.steps:
            lines.extend(f"  {json.dumps(dep)} -> {json.dumps(s.id)};" for dep in s.needs)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        """Mermaid flowchart text of the DAG (renders in JupyterLab, GitHub and MLflow markdown)."""
        lines = ["flowchart LR"]
        for s in self.steps:
            lines.append(f'  {_mermaid_id(s.id)}["{s.id}<br/>{s.tool}@{s.version}"]')
        for s in self.steps:
            lines.extend(f"  {_mermaid_id(dep)} --> {_mermaid_id(s.id)}" for dep in s.needs)
        return "\n".join(lines) + "\n"

    def bind_inputs(self, given: dict[str, Any], *, from_text: bool = False) -> dict[str, Any]:
        """Validate run inputs against the declared types, applying defaults.

        ``from_text`` coerces strings (as typed on a command line) to the declared type.
        Problems raise a DiagnosticError naming every one.
        """
        problems: list[Diagnostic] = []
        bound: dict[str, Any] = {}
        for key in given:
            if key not in self.inputs:
                problems.append(
                    Diagnostic(
                        message=f"unknown input {key!r}; this mission takes: {', '.join(self.inputs) or 'no inputs'}",
                        hint=did_you_mean(key, self.inputs),
                    )
                )
        for key, spec in self.inputs.items():
            if key in given:
                try:
                    bound[key] = coerce_input(given[key], spec, from_text=from_text)
                except ValueError as exc:
                    problems.append(Diagnostic(message=f"input {key!r}: {exc}"))
            elif spec.required:
                problems.append(
                    Diagnostic(
                        message=f"missing required input {key!r} ({spec.type})",
                        hint=f"pass it: `-i {key}=…` on the command line, inputs={{{key!r}: …}} from Python",
                    )
                )
            else:
                bound[key] = spec.default
        if problems:
            raise DiagnosticError(problems)
        return bound


# Words Mermaid reads as syntax where a node id stands (a step called `end` would close the chart).
_MERMAID_KEYWORDS = frozenset(
    {
        "end",
        "graph",
        "flowchart",
        "subgraph",
        "direction",
        "style",
        "class",
        "classDef",
        "click",
        "linkStyle",
        "call",
        "href",
    }
)


def _mermaid_id(step_id: str) -> str:
    return f"step_{step_id}" if step_id in _MERMAID_KEYWORDS else step_id


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def coerce_input(value: Any, spec: InputSpec, *, from_text: bool = False) -> Any:
    """``value`` as the declared type, or ValueError saying what was expected."""
    if from_text and isinstance(value, str) and spec.type != "string":
        value = _parse_text(value, spec.type)
    expected = _JSON_TYPES[spec.type]
    ok = isinstance(value, expected) and not (isinstance(value, bool) and spec.type in ("integer", "number"))
    if not ok:
        raise ValueError(f"expected {TYPE_NAMES[spec.type]}, got {_a_type_of(value)} {value!r}")
    if spec.enum is not None and value not in spec.enum:
        raise ValueError(f"{value!r} is not one of {spec.enum}")
    return value


TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array (list)",
    "object": "an object (mapping)",
}


def _a_type_of(value: Any) -> str:
    for kind, types in (
        ("boolean", (bool,)),
        ("integer", (int,)),
        ("number", (float,)),
        ("string", (str,)),
        ("array", (list, tuple)),
        ("object", (dict,)),
    ):
        if isinstance(value, types):
            return TYPE_NAMES[kind]
    return "null" if value is None else type(value).__name__


def _parse_text(text: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError
        return json.loads(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {kind}") from None
