"""Event types: the inbound event data models and the registry of every event type.

Every model is strict: unknown fields are rejected, values are not coerced across kinds
(``"42"`` is not an int, ``42`` is not a string), and every size and string length is
bounded. Review comments and employee emails are personal data and are never logged (they
are left out of ``repr``).

The registry ``EVENT_TYPES`` maps each versioned type to its data model, the settings field
naming its topic, the field of ``data`` that is its Kafka key, its direction and a description;
the contract generator (``talentloop.dev.contract``) and the bridge both read it.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic.config import JsonDict

from schemas.envelope import (
    SCHEMA_BASE_URI,
    AnyCloudEvent,
    CloudEvent,
    Direction,
    Id,
    StrictModel,
    Text,
    contract_checked,
    envelope_model,
    schema_uri,
)
from schemas.outbound import (
    ENROLLMENT_CREATED,
    ENROLLMENT_OVERDUE,
    GAP_CLOSED,
    GOAL_ALIGNED,
    GOAL_UNALIGNED,
    ROLLOUT_COMPLETED,
    TALENTLOOP_SOURCE,
    EnrollmentCreated,
    EnrollmentOverdue,
    GapClosed,
    GoalAligned,
    GoalUnaligned,
    OutboundData,
    RolloutCompleted,
    event_id_for,
)
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet

__all__ = [
    "COURSE_COMPLETED",
    "EMPLOYEE_EVENT_MODELS",
    "EMPLOYEE_UPDATED",
    "ENROLLMENT_CREATED",
    "ENROLLMENT_OVERDUE",
    "EVENT_TYPES",
    "GAP_CLOSED",
    "GOAL_ALIGNED",
    "GOAL_CHANGED",
    "GOAL_UNALIGNED",
    "OBJECTIVES_CHANGED",
    "REVIEW_COMPLETED",
    "REVIEW_SCALES",
    "ROLLOUT_COMPLETED",
    "SCHEMA_BASE_URI",
    "AnyCloudEvent",
    "CloudEvent",
    "CourseCompleted",
    "EmployeeUpdated",
    "EventSpec",
    "GoalAlignmentRef",
    "GoalChanged",
    "GoalSkill",
    "Id",
    "InboundEvent",
    "ObjectiveSkill",
    "ObjectivesApplied",
    "ObjectivesChanged",
    "ReviewCompleted",
    "SkillRating",
    "StrategicObjective",
    "schema_uri",
]

REVIEW_COMPLETED = "review.completed.v1"
COURSE_COMPLETED = "course.completed.v1"
EMPLOYEE_UPDATED = "employee.updated.v1"
OBJECTIVES_CHANGED = "objectives.changed.v1"
GOAL_CHANGED = "goal.changed.v1"

_Strict = StrictModel
"""Former name of the strict base model."""

ReviewScale = Literal["onet-lv", "1-5", "0-100"]
"""Scales a review may rate on: O*NET LV 0-7, a five-point 1-5 rating, or a 0-100 score."""

REVIEW_SCALES: dict[str, tuple[float, float]] = {
    "onet-lv": (0.0, 7.0),
    "1-5": (1.0, 5.0),
    "0-100": (0.0, 100.0),
}
"""Lowest and highest rating of each review scale (the skills engine's built-in scales)."""


def _rating_range_rules() -> JsonDict:
    """JSON Schema rules: every rating lies on the review's declared scale."""
    rules: list[JsonValue] = []
    for scale, (low, high) in REVIEW_SCALES.items():
        condition: dict[str, Any] = {"properties": {"scale": {"const": scale}}}
        if scale != "onet-lv":  # the default applies when `scale` is absent
            condition["required"] = ["scale"]
        rating: JsonDict = {"properties": {"rating": {"minimum": low, "maximum": high}}}
        rules.append({"if": condition, "then": {"properties": {"ratings": {"items": rating}}}})
    return {"allOf": rules}


class SkillRating(StrictModel):
    """One skill's rating in a review, on the review's declared scale."""

    skill_id: Id
    """The rated skill, e.g. "onet:2.B.3.e" (O*NET element id with the "onet:" prefix)."""
    rating: Annotated[float, Field(ge=0, le=100)]
    """The rating, within the range of the review's ``scale``."""


class ReviewCompleted(StrictModel):
    """`review.completed.v1`: a performance review was completed."""

    model_config = ConfigDict(json_schema_extra=_rating_range_rules())
    KEY_FIELD: ClassVar[str] = "employee_id"

    review_id: Id
    """The review, unique in the review tool."""
    employee_id: Id
    """The reviewed employee (the Kafka key)."""
    reviewer_id: Id
    """Who reviewed: the employee (self), the manager, or a peer."""
    reviewer_kind: Literal["self", "manager", "peer"]
    """The reviewer's relation to the employee."""
    cycle: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """The review cycle, e.g. "2026-H2"."""
    completed_at: AwareDatetime
    """When the review was completed (RFC 3339 with a UTC offset)."""
    scale: ReviewScale = "onet-lv"
    """Scale of every rating: "onet-lv" (0-7, the default), "1-5" or "0-100"."""
    ratings: Annotated[list[SkillRating], Field(min_length=1, max_length=200)]
    """One rating per skill (1-200, no skill twice)."""
    comments: Annotated[str, StringConstraints(max_length=10_000)] | None = Field(
        default=None, repr=False
    )
    """Free-text comments: personal data, stored but never logged."""

    @model_validator(mode="after")
    def _check(self) -> ReviewCompleted:
        low, high = REVIEW_SCALES[self.scale]
        seen: set[str] = set()
        for i, r in enumerate(self.ratings):
            if not low <= r.rating <= high:
                raise ValueError(f"ratings[{i}] is outside the {self.scale} scale ({low}-{high})")
            if r.skill_id in seen:
                raise ValueError(f"ratings[{i}] rates a skill already rated")
            seen.add(r.skill_id)
        return self


class CourseCompleted(StrictModel):
    """`course.completed.v1`: an employee completed a course in an LMS."""

    KEY_FIELD: ClassVar[str] = "employee_id"

    employee_id: Id
    """The employee (the Kafka key)."""
    course_id: Id
    """The completed course, as the talentloop catalog knows it."""
    completed_at: AwareDatetime
    """When the course was completed (RFC 3339 with a UTC offset)."""
    score: Annotated[float, Field(ge=0, le=100)] | None = None
    """Final score 0-100, when the course is graded."""
    source_lms: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """The LMS that reports the completion, e.g. "builtin" or "moodle"."""


_EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}$"
_LOCALE = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$"


class EmployeeUpdated(StrictModel):
    """`employee.updated.v1`: an employee joined, moved or left.

    "joined" needs ``role_id``, ``name`` and ``email``; "moved" needs at least one of
    ``role_id``, ``department`` and ``manager_id`` (the new values); "left" needs nothing else.
    Nobody is their own manager (``manager_id`` differs from ``employee_id``).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"change": {"const": "joined"}}},
                    "then": {"required": ["role_id", "name", "email"]},
                },
                {
                    "if": {"properties": {"change": {"const": "moved"}}},
                    "then": {
                        "anyOf": [
                            {"required": ["role_id"]},
                            {"required": ["department"]},
                            {"required": ["manager_id"]},
                        ]
                    },
                },
            ]
        }
    )
    KEY_FIELD: ClassVar[str] = "employee_id"

    employee_id: Id
    """The employee (the Kafka key)."""
    change: Literal["joined", "moved", "left"]
    """What happened."""
    role_id: Id | None = None
    """The (new) role, e.g. "onet:15-1252.00"."""
    department: Text | None = None
    """The (new) department."""
    manager_id: Id | None = None
    """The (new) manager's employee id; never the employee's own. A manager the directory does
    not know yet is accepted (their own "joined" may come later)."""
    name: Text | None = Field(default=None, repr=False)
    """The (new) name the employee is greeted by: personal data, never logged."""
    email: Annotated[str, StringConstraints(max_length=320, pattern=_EMAIL)] | None = Field(
        default=None, repr=False
    )
    """Work email address: personal data, never logged."""
    locale: Annotated[str, StringConstraints(max_length=16, pattern=_LOCALE)] | None = None
    """Preferred language for emails (BCP 47), e.g. "en" or "de-CH"."""

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> EmployeeUpdated:
        if self.change == "joined" and self.role_id is None:
            raise ValueError("a joined employee needs role_id")
        if self.change == "moved" and (
            self.role_id is None and self.department is None and self.manager_id is None
        ):
            raise ValueError("a move needs role_id, department or manager_id")
        # Added after the type shipped: checked on events entering talentloop (the decoder
        # validates under CONTRACT_CONTEXT), not on events read back from Temporal histories,
        # which were accepted without them and must stay readable.
        if contract_checked(info):
            if self.change == "joined" and (self.name is None or self.email is None):
                raise ValueError("a joined employee needs name and email")
            if self.manager_id is not None and self.manager_id == self.employee_id:
                raise ValueError("manager_id: an employee cannot be their own manager")
        return self


class ObjectiveSkill(StrictModel):
    """A skill an objective raises or adds, with the level it requires."""

    skill_id: Id
    """The skill, e.g. "onet:2.B.3.e"."""
    target_level: Annotated[float, Field(ge=0, le=7)]
    """Level required once the objective applies, on the framework scale (O*NET LV 0-7)."""
    importance: Annotated[float, Field(ge=1, le=5)] | None = None
    """Weight 1-5; absent: the role's importance for the skill (else 3)."""


class StrategicObjective(StrictModel):
    """One objective of an objective set.

    With neither ``roles`` nor ``departments`` it applies to everyone; otherwise to an employee
    whose role or whose department is listed.
    """

    id: Id
    """Stable id, e.g. "Q3-cloud"; unique in the set."""
    title: Text
    """What the objective is."""
    priority: Annotated[int, Field(ge=1, le=5)] = 3
    """1 (low) .. 5 (high); multiplies importance into the weight of each requirement."""
    due: date | None = None
    """When the skills must be there; absent: no deadline."""
    roles: Annotated[list[Id], Field(max_length=500)] = Field(default_factory=list)
    """Role ids it applies to."""
    departments: Annotated[list[Text], Field(max_length=500)] = Field(default_factory=list)
    """Departments it applies to."""
    active_from: date | None = None
    """First day it applies; absent: the set's ``effective_from``."""
    active_until: date | None = None
    """Last day it applies; absent: open-ended."""
    requirements: Annotated[list[ObjectiveSkill], Field(min_length=1, max_length=100)]
    """Skills it raises or adds (1-100, no skill twice)."""

    @model_validator(mode="after")
    def _check(self) -> StrategicObjective:
        if len({r.skill_id for r in self.requirements}) != len(self.requirements):
            raise ValueError("requirements name a skill twice")
        if (
            self.active_from is not None
            and self.active_until is not None
            and self.active_until < self.active_from
        ):
            raise ValueError("active_until is before active_from")
        return self

    def to_objective(self) -> Objective:
        """The skills engine's ``Objective``."""
        return Objective(
            id=self.id,
            title=self.title,
            priority=float(self.priority),
            due=self.due,
            roles=tuple(self.roles),
            departments=tuple(self.departments),
            active_from=self.active_from,
            active_until=self.active_until,
            requirements=tuple(
                ObjectiveRequirement(
                    skill_id=r.skill_id, target=r.target_level, importance=r.importance
                )
                for r in self.requirements
            ),
        )


class ObjectivesChanged(StrictModel):
    """`objectives.changed.v1`: a new version of a strategic objective set was published.

    A later version of the same set replaces earlier ones from its ``effective_from`` on.
    """

    KEY_FIELD: ClassVar[str] = "objective_set_id"

    objective_set_id: Id
    """The objective set, e.g. "strategy-2027" (the Kafka key)."""
    version: Annotated[int, Field(ge=1, le=1_000_000)]
    """Increasing version of the set."""
    effective_from: date
    """First day this version is in force."""
    objectives: Annotated[list[StrategicObjective], Field(min_length=0, max_length=500)]
    """The objectives (up to 500, ids unique); empty withdraws every objective of the set."""

    @model_validator(mode="after")
    def _check(self) -> ObjectivesChanged:
        if len({o.id for o in self.objectives}) != len(self.objectives):
            raise ValueError("objectives repeat an id")
        return self

    def to_objective_set(self) -> ObjectiveSet:
        """The skills engine's ``ObjectiveSet`` of this version."""
        return ObjectiveSet(
            id=self.objective_set_id,
            version=self.version,
            effective_from=self.effective_from,
            objectives=tuple(o.to_objective() for o in self.objectives),
        )


class GoalSkill(StrictModel):
    """A skill an employee's goal needs, with the level it needs."""

    skill_id: Id
    """The skill, e.g. "onet:2.B.3.e"; the bridge refuses one the framework does not hold."""
    target_level: Annotated[float, Field(ge=0, le=7)]
    """Level the goal needs, on the framework scale (O*NET LV 0-7)."""


class GoalAlignmentRef(StrictModel):
    """A strategic objective a goal is aligned to (cascaded from)."""

    objective_set_id: Id
    """The objective set, e.g. "strategy-2027"."""
    objective_id: Id
    """The objective in that set, e.g. "Q3-cloud"; whichever version of the set is in force."""


class GoalChanged(StrictModel):
    """`goal.changed.v1`: an employee's own goal was set, updated, completed or cancelled.

    As a goal-management system (SuccessFactors, Workday Goals, Lattice, 15Five) exports it.
    Each event carries the goal's whole current state. A goal's required skills are its own
    ``skills``, or else the requirements of the objectives it is aligned to that apply to the
    employee; a ``completed`` or ``cancelled`` goal requires nothing any more.
    """

    KEY_FIELD: ClassVar[str] = "employee_id"

    goal_id: Id
    """The goal, unique in the goal system."""
    employee_id: Id
    """The goal's owner (the Kafka key)."""
    title: Text = Field(repr=False)
    """What the goal is: personal data, never logged."""
    description: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        default=None, repr=False
    )
    """Free text: personal data, stored but never logged."""
    change: Literal["set", "updated", "completed", "cancelled"]
    """What happened to the goal."""
    due: date | None = None
    """When the goal is due; training for it is due by then. Absent: no deadline."""
    weight: Annotated[float, Field(ge=0, le=100)] | None = None
    """The goal's weight in percent of the employee's goals (0-100), if the system weighs."""
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    """1 (low) .. 5 (high), if the system ranks instead of weighing; ``weight`` wins."""
    aligned_to: Annotated[list[GoalAlignmentRef], Field(max_length=20)] = Field(
        default_factory=list
    )
    """The strategic objectives the goal is aligned to (0-20, none twice)."""
    skills: Annotated[list[GoalSkill], Field(max_length=50)] = Field(default_factory=list)
    """Skills the goal needs (0-50, none twice); absent: those of the aligned objectives."""

    @model_validator(mode="after")
    def _check(self) -> GoalChanged:
        if len({s.skill_id for s in self.skills}) != len(self.skills):
            raise ValueError("skills name a skill twice")
        refs = {(a.objective_set_id, a.objective_id) for a in self.aligned_to}
        if len(refs) != len(self.aligned_to):
            raise ValueError("aligned_to names an objective twice")
        return self

    @property
    def planning_priority(self) -> float:
        """The goal's priority 1-5 for weighing its requirements.

        ``weight`` (0-100 %) maps linearly onto 1-5 (0 % -> 1, 50 % -> 3, 100 % -> 5); else
        ``priority``; else 3.
        """
        if self.weight is not None:
            return 1.0 + 4.0 * self.weight / 100.0
        return float(self.priority if self.priority is not None else 3)


EMPLOYEE_EVENT_MODELS: dict[str, type[StrictModel]] = {
    REVIEW_COMPLETED: ReviewCompleted,
    COURSE_COMPLETED: CourseCompleted,
    EMPLOYEE_UPDATED: EmployeeUpdated,
    GOAL_CHANGED: GoalChanged,
}
"""Event types routed to the employee's workflow, with the model that validates `data`."""


@dataclass(frozen=True)
class EventSpec:
    """One event type of the contract.

    Attributes:
        type: The versioned type, e.g. "review.completed.v1".
        model: The model of ``data``.
        topic_setting: Name of the ``talentloop.service.config.Settings`` field holding its topic.
        key_field: Field of ``data`` whose value is the Kafka record key.
        direction: "inbound" (other systems produce, talentloop consumes) or "outbound".
        description: What the event means, for the published contract.
        producer: Who produces it.
        example: Example ``data``, valid against ``model``.

    """

    type: str
    model: builtins.type[StrictModel]
    topic_setting: str
    key_field: str
    direction: Direction
    description: str
    producer: str
    example: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The type without its version, e.g. "review.completed"."""
        return self.type.rsplit(".", 1)[0]

    @property
    def version(self) -> int:
        """The type's major version, e.g. 1 for "review.completed.v1"."""
        return int(self.type.rsplit(".v", 1)[1])

    @property
    def schema_uri(self) -> str:
        """The ``dataschema`` URI of the type."""
        return schema_uri(self.type)

    @property
    def envelope(self) -> builtins.type[CloudEvent[Any]]:
        """The envelope model of the type: ``type`` fixed, ``data`` typed by ``model``."""
        return envelope_model(self.type, self.model, self.direction)

    def topic(self, settings: Any) -> str:
        """The topic name in ``settings`` (a ``talentloop.service.config.Settings``)."""
        return str(getattr(settings, self.topic_setting))

    def key(self, data: BaseModel | Mapping[str, Any]) -> str:
        """The Kafka key of an event of this type, from its ``data``."""
        if isinstance(data, BaseModel):
            return str(getattr(data, self.key_field))
        return str(data[self.key_field])

    def example_event(self) -> dict[str, Any]:
        """A complete example envelope (JSON-ready), valid against the type's schema."""
        source = TALENTLOOP_SOURCE if self.direction == "outbound" else self.producer_source
        doc: dict[str, Any] = {
            "specversion": "1.0",
            "id": f"example-{self.name.replace('.', '-')}-1",
            "source": source,
            "type": self.type,
            "subject": self.key(self.example),
            "time": "2026-11-02T09:30:00Z",
            "datacontenttype": "application/json",
            "dataschema": self.schema_uri,
            "data": dict(self.example),
        }
        if self.direction == "outbound":
            data = cast("OutboundData", self.model.model_validate_json(json.dumps(doc["data"])))
            doc["id"] = event_id_for(self.type, "example-review-completed-1", data.identity())
        return doc

    @property
    def producer_source(self) -> str:
        """An example ``source`` URI of the producing system."""
        return "urn:" + self.producer.lower().replace(" ", "-")


def _spec(
    event_type: str,
    model: type[StrictModel],
    topic_setting: str,
    direction: Direction,
    producer: str,
    example: Mapping[str, Any],
) -> EventSpec:
    key_field = getattr(model, "KEY_FIELD", "employee_id")
    first = (model.__doc__ or "").strip().split("\n\n", 1)[0]
    if first.startswith("`"):
        first = first.split(":", 1)[1].strip()
    description = " ".join(first.split())
    description = description[:1].upper() + description[1:]
    return EventSpec(
        type=event_type,
        model=model,
        topic_setting=topic_setting,
        key_field=key_field,
        direction=direction,
        description=description,
        producer=producer,
        example=example,
    )


EVENT_TYPES: dict[str, EventSpec] = {
    s.type: s
    for s in (
        _spec(
            REVIEW_COMPLETED,
            ReviewCompleted,
            "topic_reviews",
            "inbound",
            "review tool",
            {
                "review_id": "r-2026-h2-00017",
                "employee_id": "E00017",
                "reviewer_id": "E00003",
                "reviewer_kind": "manager",
                "cycle": "2026-H2",
                "completed_at": "2026-11-02T09:30:00Z",
                "scale": "1-5",
                "ratings": [
                    {"skill_id": "onet:2.B.3.e", "rating": 2},
                    {"skill_id": "onet:2.A.2.a", "rating": 4},
                ],
                "comments": "Free text; never logged.",
            },
        ),
        _spec(
            OBJECTIVES_CHANGED,
            ObjectivesChanged,
            "topic_objectives",
            "inbound",
            "strategy office",
            {
                "objective_set_id": "strategy-2027",
                "version": 2,
                "effective_from": "2027-01-01",
                "objectives": [
                    {
                        "id": "Q1-cloud",
                        "title": "Move the product line to the cloud",
                        "priority": 5,
                        "due": "2027-03-31",
                        "roles": ["onet:15-1252.00"],
                        "departments": ["Platform"],
                        "requirements": [
                            {"skill_id": "onet:2.B.3.e", "target_level": 4.5, "importance": 4},
                            {"skill_id": "onet:2.B.4.g", "target_level": 4},
                        ],
                    }
                ],
            },
        ),
        _spec(
            COURSE_COMPLETED,
            CourseCompleted,
            "topic_completions",
            "inbound",
            "LMS",
            {
                "employee_id": "E00017",
                "course_id": "C-0042",
                "completed_at": "2026-12-01T16:05:00+01:00",
                "score": 87.5,
                "source_lms": "moodle",
            },
        ),
        _spec(
            EMPLOYEE_UPDATED,
            EmployeeUpdated,
            "topic_employees",
            "inbound",
            "HRIS",
            {
                "employee_id": "E00017",
                "change": "moved",
                "role_id": "onet:15-1252.00",
                "department": "Platform",
                "manager_id": "E00003",
                "name": "Alex Example",
                "email": "e00017@example.com",
                "locale": "de-CH",
            },
        ),
        _spec(
            GOAL_CHANGED,
            GoalChanged,
            "topic_goals",
            "inbound",
            "goal system",
            {
                "goal_id": "g-2027-E00017-1",
                "employee_id": "E00017",
                "title": "Security architecture certification",
                "description": "Free text; never logged.",
                "change": "set",
                "due": "2027-09-30",
                "weight": 40,
                "aligned_to": [{"objective_set_id": "strategy-2027", "objective_id": "Q1-cloud"}],
                "skills": [{"skill_id": "onet:2.B.3.e", "target_level": 4.5}],
            },
        ),
        _spec(
            ENROLLMENT_CREATED,
            EnrollmentCreated,
            "topic_outbound",
            "outbound",
            "talentloop",
            {
                "enrollment_id": "enr-E00017-C-0042",
                "employee_id": "E00017",
                "course_id": "C-0042",
                "due": "2026-12-02",
                "reason": "Programming 2→4 for role Software Developers",
                "source_event_id": "example-review-completed-1",
            },
        ),
        _spec(
            ENROLLMENT_OVERDUE,
            EnrollmentOverdue,
            "topic_outbound",
            "outbound",
            "talentloop",
            {
                "enrollment_id": "enr-E00017-C-0042",
                "employee_id": "E00017",
                "course_id": "C-0042",
                "due": "2026-12-02",
                "days_overdue": 7,
                "escalated_to": "E00003",
            },
        ),
        _spec(
            GAP_CLOSED,
            GapClosed,
            "topic_outbound",
            "outbound",
            "talentloop",
            {
                "employee_id": "E00017",
                "skill_id": "onet:2.B.3.e",
                "from_level": 2.0,
                "to_level": 4.5,
                "target_level": 4.5,
                "objective_id": "Q1-cloud",
                "objective_set_id": "strategy-2027",
                "objective_set_version": 2,
                "closed_by": "course",
                "closed_by_ref": "C-0042",
            },
        ),
        _spec(
            ROLLOUT_COMPLETED,
            RolloutCompleted,
            "topic_outbound",
            "outbound",
            "talentloop",
            {
                "objective_set_id": "strategy-2027",
                "version": 2,
                "outcome": "completed",
                "employees_affected": 1240,
                "enrollments": 2875,
                "started_at": "2027-01-04T08:00:00Z",
                "finished_at": "2027-01-04T11:42:10Z",
            },
        ),
        _spec(
            GOAL_ALIGNED,
            GoalAligned,
            "topic_outbound",
            "outbound",
            "talentloop",
            {
                "employee_id": "E00017",
                "goal_id": "g-2027-E00017-1",
                "objectives": [
                    {
                        "objective_set_id": "strategy-2027",
                        "objective_set_version": 2,
                        "objective_id": "Q1-cloud",
                    }
                ],
                "skills": ["onet:2.B.3.e"],
                "source_event_id": "example-goal-changed-1",
            },
        ),
        _spec(
            GOAL_UNALIGNED,
            GoalUnaligned,
            "topic_outbound",
            "outbound",
            "talentloop",
            {
                "employee_id": "E00017",
                "goal_id": "g-2027-E00017-2",
                "reason": "objective strategy-2027/Q9-gone is not in force",
                "skills": [],
                "source_event_id": "example-goal-changed-2",
            },
        ),
    )
}
"""Every event type of the contract, inbound and outbound, by versioned type."""


class ObjectivesApplied(BaseModel):
    """The objective-set version a rollout sends to an employee's workflow to re-plan by.

    The employee workflow handles it today; the rollout workflow (issue 21) sends it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    employee_id: str
    objective_set_id: str
    version: int


class InboundEvent(BaseModel):
    """A validated event as handed to a workflow: envelope facts plus typed data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    type: str
    source: str
    time: datetime | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    review: ReviewCompleted | None = None
    completion: CourseCompleted | None = None
    employee_update: EmployeeUpdated | None = None
    objectives: ObjectivesApplied | None = None
    """For `objectives.changed.v1`: the objective-set version a rollout asks to apply."""
    goal: GoalChanged | None = Field(default=None, exclude_if=lambda v: v is None)
    """For `goal.changed.v1`: the goal's new state. Optional and left out of the payload when
    None, so histories recorded before goals existed decode, and serialize, as before."""
    traceparent: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """The W3C ``traceparent`` the event came with (a CloudEvents extension attribute), kept
    for tracing; None when absent or malformed. Optional with a default, so events recorded in
    histories before it existed still decode; left out of the payload when None, so an event
    without one serializes as before (a worker of the previous release reads it)."""

    @property
    def employee_id(self) -> str:
        """The employee the event is about."""
        body = (
            self.review or self.completion or self.employee_update or self.objectives or self.goal
        )
        assert body is not None
        return body.employee_id
