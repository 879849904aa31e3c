"""The rule file as data: pydantic models of what analysts write. Expressions stay text here; the compiler
turns them into closures. `saqshy rules schema` exports these models as JSON Schema for editors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from rules.units import parse_distance, parse_duration
from schemas import UnitType

Duration = Annotated[float, BeforeValidator(parse_duration), Field(json_schema_extra={"examples": ["10m"]})]
Distance = Annotated[float, BeforeValidator(parse_distance), Field(json_schema_extra={"examples": ["300m"]})]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=100)]
Expr = Annotated[str, Field(min_length=1, max_length=2000)]
RESERVED_NAMES = frozenset({"count", "distinct", "sum", "group", "events", "rule", "first", "last", "distance"})


def _not_reserved(name: str) -> str:
    if name in RESERVED_NAMES:
        raise ValueError(f"'{name}' is reserved; name the selection differently")
    return name


# a selection's name, checked as the key it is (so an error points at that key, not at the file's start)
SelectionName = Annotated[Name, AfterValidator(_not_reserved)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Selection(Spec):
    """Which events a rule looks at: a type and an optional condition on one event."""

    type: str
    where: Expr | None = None


GroupBy = list[Expr] | dict[Name, list[Expr]]


class CorrelateBase(Spec):
    group_by: GroupBy | None = None
    within: Distance | None = None
    anchor: Name | None = None
    inside: str | None = None
    # A condition across the bound events of a match (cooccur and sequence), each selection by name.
    where: Expr | None = None


class MatchSpec(CorrelateBase):
    kind: Literal["match"]
    select: Name | None = None


class DistinctSpec(Spec):
    of: Expr
    at_least: Annotated[int, Field(ge=1)]


class SumSpec(Spec):
    of: Expr
    at_least: float


class ThresholdSpec(CorrelateBase):
    kind: Literal["threshold"]
    select: Name | None = None
    window: Duration
    count: Annotated[int, Field(ge=1)] | None = None
    distinct: DistinctSpec | None = None
    sum: SumSpec | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> ThresholdSpec:
        given = [m for m in ("count", "distinct", "sum") if getattr(self, m) is not None]
        if len(given) != 1:
            raise ValueError("a threshold needs exactly one of count, distinct, sum")
        return self


class CooccurSpec(CorrelateBase):
    kind: Literal["cooccur"]
    of: list[Name] | None = None
    min: Annotated[int, Field(ge=2)] | None = None
    window: Duration


class StepSpec(Spec):
    select: Name
    max_gap: Duration | None = None
    optional: bool = False


class SequenceSpec(CorrelateBase):
    kind: Literal["sequence"]
    steps: Annotated[list[StepSpec], Field(min_length=2)]

    @model_validator(mode="after")
    def _steps(self) -> SequenceSpec:
        if self.steps[0].optional or self.steps[-1].optional:
            raise ValueError("the first and the last step of a sequence cannot be optional")
        for step in self.steps[1:]:
            if step.max_gap is None:
                raise ValueError(f"step '{step.select}' needs max_gap (time allowed since the step before)")
        return self


class AbsenceSpec(CorrelateBase):
    kind: Literal["absence"]
    after: Name
    expect: Name
    timeout: Duration


class LookupSpec(CorrelateBase):
    kind: Literal["lookup"]
    select: Name | None = None
    table: Literal["hotlist"]
    key: Expr
    fuzzy: Annotated[int, Field(ge=0, le=2)] = 0
    as_: Name = Field("hit", alias="as")


CorrelateSpec = Annotated[
    MatchSpec | ThresholdSpec | CooccurSpec | SequenceSpec | AbsenceSpec | LookupSpec,
    Field(discriminator="kind"),
]


class TermSpec(Spec):
    name: Name
    when: Expr
    delta: Annotated[int, Field(ge=-4, le=4)]


class PrioritySpec(Spec):
    base: Annotated[int, Field(ge=1, le=5)]
    terms: list[TermSpec] = Field(default_factory=list)


def _priority_shorthand(value: Any) -> Any:
    return {"base": value} if isinstance(value, int) and not isinstance(value, bool) else value


class PlaybookStepSpec(Spec):
    action: str
    agency: str | None = None
    unit_type: UnitType | None = None
    units: Annotated[int, Field(ge=0)] | None = None


class IncidentSpec(Spec):
    title: str
    summary: str = ""
    category: str | None = None
    key: str | None = None
    merge_window: Duration = 1800.0
    merge_within: Distance | None = None
    # first: the incident stays where it began; latest: it follows the newest match (a moving vehicle)
    location: Literal["first", "latest"] = "first"
    priority: Annotated[PrioritySpec, BeforeValidator(_priority_shorthand)]
    labels: dict[Name, str] = Field(default_factory=dict)
    # a playbook's name, steps inline, or "none" (an analysis rule: no response steps, said explicitly);
    # left out, the playbook whose categories include the incident's category (lint: there must be one)
    playbook: str | list[PlaybookStepSpec] | None = None
    # Versions that only add evidence come at most this often (event time); None: the rule set's update_every.
    update_every: Duration | None = None


class LimitsSpec(Spec):
    max_partials: Annotated[int, Field(ge=1)] = 10_000
    max_keys: Annotated[int, Field(ge=1)] = 100_000
    # None: derived from the rule's own windows (the longest window, gaps or timeout, plus the accepted
    # lateness), so the default never cuts a rule; a value shorter than the longest window is a lint error
    state_ttl: Duration | None = None
    max_event_ids: Annotated[int, Field(ge=1, le=10_000)] = 100


class TimeSpec(Spec):
    allowed_lateness: Duration | None = None
    late: Literal["dead_letter", "reevaluate"] | None = None


class TestEventSpec(Spec):
    at: Duration = 0.0
    type: str
    id: str | None = None
    source: str | None = None
    location: list[float] | dict[str, float] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    deleted: bool | None = None


class ExpectSpec(Spec):
    count: Annotated[int, Field(ge=0)] = 1
    rule: str | None = None
    category: str | None = None
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    status: Literal["open", "updated", "escalated", "closed"] | None = None
    key: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    title_contains: str | None = None
    events: Annotated[int, Field(ge=1)] | None = None


class TestSpec(Spec):
    __test__ = False  # not a pytest class
    name: str
    start: str = "2026-01-05T12:00:00Z"
    events: list[TestEventSpec]
    expect: list[ExpectSpec] | Literal["none"]
    until: Duration | None = None


class RuleSpec(Spec):
    id: RuleId
    version: Annotated[int, Field(ge=1)] = 1
    title: str
    description: str = ""
    category: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    enabled: bool = True
    # false: an internal helper rule; its incidents feed the rules that chain on it and are never sent
    # (no incident output, topic or archive row)
    emit: bool = True
    tags: list[str] = Field(default_factory=list)
    select: Annotated[dict[SelectionName, Selection], Field(min_length=1)]
    correlate: CorrelateSpec
    incident: IncidentSpec
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    time: TimeSpec = Field(default_factory=TimeSpec)
    tests: list[TestSpec] = Field(default_factory=list)


class RuleSetSettings(Spec):
    """ruleset.yaml beside the rules: defaults every rule shares."""

    timezone: str = "UTC"
    max_out_of_orderness: Duration = 30.0
    allowed_lateness: Duration = 120.0
    late: Literal["dead_letter", "reevaluate"] = "dead_letter"
    idle_timeout: Duration = 60.0
    # Coalescing: a version that changes neither status nor priority comes at most this often (event time).
    update_every: Duration = 10.0
    # Time guard (docs/semantics.md, section 8): how far an event's time may be ahead of / behind its
    # reference clock, and how many other events must confirm a jump of a file's clock.
    max_future: Duration = 300.0
    max_age: Duration = 7 * 86400.0
    confirm_jump: Annotated[int, Field(ge=1, le=100)] = 3


class PlaybookSpec(Spec):
    """A response scenario by category (playbooks/*.yaml)."""

    playbook: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$")]
    categories: list[str] = Field(default_factory=list)
    title: str = ""
    steps: Annotated[list[PlaybookStepSpec], Field(min_length=1)]
