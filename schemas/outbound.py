"""Outbound events: what talentloop publishes on its outbound topic, and how envelopes are built.

Each outbound envelope gets a deterministic id derived from the event that caused it (plus the
natural identity of the occurrence, e.g. the enrollment id), so a retried activity or a replayed
workflow publishes the same id again: downstream consumers deduplicate on it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from schemas.envelope import (
    AnyCloudEvent,
    CloudEvent,
    EventId,
    Id,
    StrictModel,
    envelope_model,
    schema_uri,
)
from schemas.skills import format_level

ENROLLMENT_CREATED = "enrollment.created.v1"
ENROLLMENT_OVERDUE = "enrollment.overdue.v1"
GAP_CLOSED = "gap.closed.v1"
ROLLOUT_COMPLETED = "rollout.completed.v1"
GOAL_ALIGNED = "goal.aligned.v1"
GOAL_UNALIGNED = "goal.unaligned.v1"

TALENTLOOP_SOURCE = "urn:talentloop"
"""The default ``source`` of events talentloop publishes."""

EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://talentloop.dev/events")
"""UUIDv5 namespace of derived outbound event ids."""

Level = Annotated[float, Field(ge=0, le=7)]
"""A level on the framework scale (O*NET LV 0-7)."""

Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
"""A plain-language reason (no personal data beyond ids)."""


class EnrollmentCreated(StrictModel):
    """`enrollment.created.v1`: an employee was enrolled in a course."""

    KEY_FIELD: ClassVar[str] = "employee_id"

    enrollment_id: Id
    """The enrollment, unique per employee and course."""
    employee_id: Id
    """The enrolled employee (the Kafka key)."""
    course_id: Id
    """The course."""
    due: date | None = None
    """When the course should be completed; none when open-ended."""
    reason: Reason
    """Why, e.g. "Programming 2→4 for objective Q3-cloud, due 2027-03-31"."""
    source_event_id: EventId
    """CloudEvent id of the event that led to the enrollment (a review, an objective set)."""

    def identity(self) -> tuple[str, ...]:
        """What distinguishes this occurrence from others with the same cause."""
        return (self.enrollment_id,)


class EnrollmentOverdue(StrictModel):
    """`enrollment.overdue.v1`: an enrollment passed its due date without completion."""

    KEY_FIELD: ClassVar[str] = "employee_id"

    enrollment_id: Id
    """The enrollment."""
    employee_id: Id
    """The employee (the Kafka key)."""
    course_id: Id
    """The course."""
    due: date
    """The missed due date."""
    days_overdue: Annotated[int, Field(ge=0, le=3650)]
    """Whole days past the due date when the event was raised."""
    escalated_to: Id | None = None
    """Manager id the overdue enrollment was escalated to, if any."""

    def identity(self) -> tuple[str, ...]:
        """What distinguishes this occurrence from others with the same cause."""
        return (self.enrollment_id, self.due.isoformat(), str(self.days_overdue))


class GapClosed(StrictModel):
    """`gap.closed.v1`: an employee's skill reached the level a role or objective requires."""

    KEY_FIELD: ClassVar[str] = "employee_id"

    employee_id: Id
    """The employee (the Kafka key)."""
    skill_id: Id
    """The skill."""
    from_level: Level
    """Assessed level before (O*NET LV 0-7)."""
    to_level: Level
    """Assessed level now (O*NET LV 0-7)."""
    target_level: Level
    """Required level that is now met."""
    objective_id: Id | None = None
    """Objective that required it; none when the role baseline did."""
    objective_set_id: Id | None = None
    """Objective set of that objective."""
    objective_set_version: Annotated[int, Field(ge=1)] | None = None
    """Version of that objective set."""
    closed_by: Literal["course", "evidence"]
    """A completed course, or other evidence (a review, an import)."""
    closed_by_ref: Id
    """The course id, or the id of the evidence (review id, import batch id)."""

    @model_validator(mode="after")
    def _check(self) -> GapClosed:
        if self.to_level < self.from_level:
            raise ValueError("to_level must not be below from_level")
        if self.to_level < self.target_level:
            raise ValueError("to_level must reach target_level")
        if (self.objective_set_id is None) != (self.objective_set_version is None):
            raise ValueError("objective_set_id and objective_set_version go together")
        return self

    def identity(self) -> tuple[str, ...]:
        """What distinguishes this occurrence from others with the same cause."""
        return (
            self.employee_id,
            self.skill_id,
            self.objective_id or "",
            format_level(self.target_level),
        )


class RolloutCompleted(StrictModel):
    """`rollout.completed.v1`: a strategy rollout of one objective-set version finished."""

    KEY_FIELD: ClassVar[str] = "objective_set_id"

    objective_set_id: Id
    """The objective set (the Kafka key)."""
    version: Annotated[int, Field(ge=1)]
    """Its version that was rolled out."""
    outcome: Literal["completed", "cancelled"] = "completed"
    """Whether every wave ran, or the rollout was cancelled part-way."""
    employees_affected: Annotated[int, Field(ge=0, le=10_000_000)]
    """Employees whose requirements the new version changed."""
    enrollments: Annotated[int, Field(ge=0, le=100_000_000)]
    """Enrollments the rollout created."""
    started_at: AwareDatetime
    """When the rollout started (after approval)."""
    finished_at: AwareDatetime
    """When its last wave finished."""

    @model_validator(mode="after")
    def _check(self) -> RolloutCompleted:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at must not be before started_at")
        return self

    def identity(self) -> tuple[str, ...]:
        """What distinguishes this occurrence from others with the same cause."""
        return (self.objective_set_id, str(self.version))


class AlignedObjective(StrictModel):
    """An objective in force that a goal is aligned to, with the set version in force."""

    objective_set_id: Id
    """The objective set."""
    objective_set_version: Annotated[int, Field(ge=1)]
    """The version of the set in force when the alignment was computed."""
    objective_id: Id
    """The objective."""


class GoalAligned(StrictModel):
    """`goal.aligned.v1`: an employee's goal is aligned to at least one objective in force."""

    KEY_FIELD: ClassVar[str] = "employee_id"

    employee_id: Id
    """The goal's owner (the Kafka key)."""
    goal_id: Id
    """The goal."""
    objectives: Annotated[list[AlignedObjective], Field(min_length=1, max_length=20)]
    """The objectives in force it is aligned to."""
    skills: Annotated[list[Id], Field(max_length=200)] = Field(default_factory=list)
    """Skills the goal requires of the employee (its own, or derived from the objectives)."""
    source_event_id: EventId
    """CloudEvent id of the ``goal.changed`` event the alignment was computed for."""

    def identity(self) -> tuple[str, ...]:
        """What distinguishes this occurrence from others with the same cause."""
        return (self.employee_id, self.goal_id)


class GoalUnaligned(StrictModel):
    """`goal.unaligned.v1`: an employee's goal is aligned to no objective in force."""

    KEY_FIELD: ClassVar[str] = "employee_id"

    employee_id: Id
    """The goal's owner (the Kafka key)."""
    goal_id: Id
    """The goal."""
    reason: Reason
    """Why, e.g. "aligned to no objective" or "objective strategy-2027/Q9 is not in force"."""
    skills: Annotated[list[Id], Field(max_length=200)] = Field(default_factory=list)
    """Skills the goal still requires of the employee (only those it names itself)."""
    source_event_id: EventId
    """CloudEvent id of the ``goal.changed`` event the alignment was computed for."""

    def identity(self) -> tuple[str, ...]:
        """What distinguishes this occurrence from others with the same cause."""
        return (self.employee_id, self.goal_id)


OutboundData = (
    EnrollmentCreated
    | EnrollmentOverdue
    | GapClosed
    | RolloutCompleted
    | GoalAligned
    | GoalUnaligned
)
"""The data of any outbound event."""

OUTBOUND_EVENT_MODELS: dict[str, type[OutboundData]] = {
    ENROLLMENT_CREATED: EnrollmentCreated,
    ENROLLMENT_OVERDUE: EnrollmentOverdue,
    GAP_CLOSED: GapClosed,
    ROLLOUT_COMPLETED: RolloutCompleted,
    GOAL_ALIGNED: GoalAligned,
    GOAL_UNALIGNED: GoalUnaligned,
}
"""Outbound event types with the model of their data."""


def event_id_for(event_type: str, cause_id: str, identity: tuple[str, ...]) -> str:
    """The deterministic CloudEvent id of an outbound event.

    Args:
        event_type: The outbound type.
        cause_id: CloudEvent id (or other stable id) of what caused it.
        identity: What distinguishes it among the events of that type with that cause.

    Returns:
        A UUIDv5 string: the same inputs always give the same id.
    """
    name = "\x1f".join((event_type, cause_id, *identity))
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def outbound_event(
    event_type: str,
    data: OutboundData,
    source: str = TALENTLOOP_SOURCE,
    *,
    cause_id: str,
    time: datetime,
) -> CloudEvent[Any]:
    """Build the structured-mode envelope of an outbound event with a deterministic id.

    Args:
        event_type: One of ``OUTBOUND_EVENT_MODELS``, e.g. ``enrollment.created.v1``.
        data: The event's data, an instance of the type's model.
        source: The ``source`` attribute.
        cause_id: The id of the causing event (e.g. the review's CloudEvent id, or
            ``"<set id>@v<version>"`` for a rollout); a retry with the same cause gives the
            same envelope id.
        time: When the occurrence happened (timezone-aware; in a workflow, ``workflow.now()``).

    Returns:
        The validated envelope; ``subject`` is the Kafka key (employee or objective set id).

    Raises:
        ValueError: When the type is not outbound or ``data`` is not of its model.
    """
    model = OUTBOUND_EVENT_MODELS.get(event_type)
    if model is None:
        raise ValueError(f"{event_type!r} is not an outbound event type")
    if type(data) is not model:
        raise ValueError(f"{event_type} needs {model.__name__} data, not {type(data).__name__}")
    envelope = envelope_model(event_type, model, "outbound")
    return envelope(
        specversion="1.0",
        id=event_id_for(event_type, cause_id, data.identity()),
        source=source,
        type=event_type,
        subject=getattr(data, data.KEY_FIELD),
        time=time,
        datacontenttype="application/json",
        dataschema=schema_uri(event_type),
        data=data,
    )


class PublishRequest(StrictModel):
    """Input of the ``events.publish`` activity: one outbound envelope."""

    event: AnyCloudEvent
    """The envelope, as built by ``outbound_event``."""

    @classmethod
    def of(cls, event: CloudEvent[Any]) -> PublishRequest:
        """Wrap a typed envelope (e.g. from ``outbound_event``) for the activity."""
        return cls(event=AnyCloudEvent.model_validate_json(event.model_dump_json()))


class PublishBatch(StrictModel):
    """Input of the ``events.publish_many`` activity: outbound envelopes, sent in order."""

    events: list[AnyCloudEvent]
    """The envelopes, each as built by ``outbound_event``."""

    @classmethod
    def of(cls, events: list[CloudEvent[Any]]) -> PublishBatch:
        """Wrap typed envelopes (e.g. from ``outbound_event``) for the activity."""
        return cls(events=[PublishRequest.of(e).event for e in events])


class PublishResult(StrictModel):
    """Where the broker stored a published event."""

    event_id: EventId
    """The CloudEvent id."""
    type: str
    """The event type."""
    key: str
    """The Kafka key (employee or objective set id)."""
    topic: str
    """The topic."""
    partition: int
    """The partition."""
    offset: int
    """The record's offset."""
