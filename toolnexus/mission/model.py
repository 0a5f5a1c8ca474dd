"""The Mission model: what a mission YAML file may say, validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from toolnexus.core.units import Duration

InputType = Literal["string", "integer", "number", "boolean", "array", "object"]
_NO_DEFAULT: Any = ...


class InputSpec(BaseModel):
    """A typed mission input; without a ``default`` it is required."""

    model_config = ConfigDict(extra="forbid")

    type: InputType = "string"
    description: str | None = None
    default: Any = None
    enum: list[Any] | None = None

    @property
    def required(self) -> bool:
        """Whether a run must give this input (it has no ``default:``)."""
        return "default" not in self.model_fields_set


class RetryPolicy(BaseModel):
    """How often to try a step whose error is retryable, and how long to wait in between."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(3, ge=1, le=100, description="total attempts, the first included")
    backoff: Literal["exponential", "fixed"] = "exponential"
    delay: Duration = Field(1.0, description="wait before the second attempt")
    max_delay: Duration = 60.0
    jitter: float = Field(0.1, ge=0, le=1, description="random spread as a fraction of the delay")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 is the first retry), without jitter."""
        base = self.delay or 0.0
        wait = base * (2 ** (attempt - 2)) if self.backoff == "exponential" else base
        return min(wait, self.max_delay if self.max_delay is not None else wait)


class Budget(BaseModel):
    """Limits on a whole run; calls that would exceed them are refused before they start."""

    model_config = ConfigDict(extra="forbid")

    max_cost: float | None = Field(None, ge=0)
    max_duration: Duration = None
    currency: str = "USD"


class Step(BaseModel):
    """One call of one tool in a mission."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="letters, digits and '_'")
    uses: str = Field(description="tool name, optionally pinned: files.read@1")
    name: str | None = None
    description: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    needs: Annotated[
        list[str], WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
    ] = Field(default_factory=list)
    if_: str | bool | None = Field(None, alias="if")
    foreach: str | list[Any] | None = None
    retry: RetryPolicy | None = None
    timeout: Duration = None
    continue_on_error: bool = False
    runtime: str | None = None
    cache: bool | None = None

    @field_validator("needs", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def __setattr__(self, name: str, value: Any) -> None:
        # The steps of a loaded mission share their "fields set" (see share_fields_sets): a step given a
        # field gets a set of its own before pydantic adds the name to it, so no other step sees it set.
        object.__setattr__(self, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        super().__setattr__(name, value)


def share_fields_sets(steps: list[Step]) -> None:
    """Give steps that were written with the same keys one "fields set" (pydantic's ``model_fields_set``).

    A set of its own per step was a fifth of a loaded mission's memory (216 bytes a step, 21 MB for
    100,000 steps), and a mission's steps mostly repeat a few sets of keys. The sets are equal to what
    they were; a step that is assigned a field first gets a copy of its own (``Step.__setattr__``).
    """
    shared: dict[frozenset[str], set[str]] = {}
    for step in steps:
        names = step.__pydantic_fields_set__
        object.__setattr__(step, "__pydantic_fields_set__", shared.setdefault(frozenset(names), names))


class Mission(BaseModel):
    """A declarative DAG of tool calls."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"title": "toolnexus mission"})

    mission: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", description="the mission's name")
    version: str | None = None
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    outputs: dict[str, Any] = Field(default_factory=dict)
    budget: Budget | None = None
    concurrency: int | None = Field(None, ge=1, le=1024)
    runtime: str | None = Field(None, description="default runtime for steps that name none")


STEP_FIELDS = [f.alias or n for n, f in Step.model_fields.items()]
MISSION_FIELDS = [f.alias or n for n, f in Mission.model_fields.items()]
