"""Inbound events: the CloudEvents 1.0 envelope and the `data` models of each event type.

Every model is strict: unknown fields are rejected and values are not coerced across kinds.
Comments in reviews are personal data and are never logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/-]+$")
]
"""An identifier: employee, review, course, skill ids."""

REVIEW_COMPLETED = "review.completed.v1"
COURSE_COMPLETED = "course.completed.v1"
EMPLOYEE_UPDATED = "employee.updated.v1"
OBJECTIVES_CHANGED = "objectives.changed.v1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


DataT = TypeVar("DataT")


class CloudEvent(_Strict, Generic[DataT]):
    """A CloudEvents 1.0 envelope in structured JSON mode, `data` typed by the event type."""

    specversion: Literal["1.0"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    subject: Annotated[str, StringConstraints(max_length=256)] | None = None
    time: AwareDatetime | None = None
    datacontenttype: Literal["application/json"] | None = None
    dataschema: Annotated[str, StringConstraints(max_length=512)] | None = None
    data: DataT


class SkillRating(_Strict):
    """One skill's rating in a review, on the review's declared scale."""

    skill_id: Id
    rating: Annotated[float, Field(ge=0, le=100)]


class ReviewCompleted(_Strict):
    """`review.completed.v1`: a performance review was completed."""

    review_id: Id
    employee_id: Id
    reviewer_id: Id
    reviewer_kind: Literal["self", "manager", "peer"]
    cycle: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    completed_at: AwareDatetime
    scale: Literal["onet-lv", "1-5"] = "onet-lv"
    ratings: Annotated[list[SkillRating], Field(min_length=1, max_length=200)]
    comments: Annotated[str, StringConstraints(max_length=10_000)] | None = Field(
        default=None, repr=False
    )


class CourseCompleted(_Strict):
    """`course.completed.v1`: an employee completed a course in an LMS."""

    employee_id: Id
    course_id: Id
    completed_at: AwareDatetime
    score: Annotated[float, Field(ge=0, le=100)] | None = None
    source_lms: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class EmployeeUpdated(_Strict):
    """`employee.updated.v1`: an employee joined, moved or left."""

    employee_id: Id
    change: Literal["joined", "moved", "left"]
    role_id: Id | None = None
    department: Annotated[str, StringConstraints(max_length=128)] | None = None
    manager_id: Id | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    locale: Annotated[str, StringConstraints(max_length=16)] | None = None


AnyCloudEvent = CloudEvent[dict[str, Any]]
"""An envelope whose data is not yet typed."""

EMPLOYEE_EVENT_MODELS: dict[str, type[_Strict]] = {
    REVIEW_COMPLETED: ReviewCompleted,
    COURSE_COMPLETED: CourseCompleted,
    EMPLOYEE_UPDATED: EmployeeUpdated,
}
"""Event types routed to the employee's workflow, with the model that validates `data`."""


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

    @property
    def employee_id(self) -> str:
        """The employee the event is about."""
        body = self.review or self.completion or self.employee_update
        assert body is not None
        return body.employee_id
