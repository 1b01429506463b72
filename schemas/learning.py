"""Workflow and activity inputs and outputs of the employee learning path."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import InboundEvent, ReviewCompleted
from schemas.skills import Gap, Plan


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Employee(_Model):
    """An employee as the directory knows them, with their manager."""

    id: str
    name: str
    email: str
    role_id: str
    role_title: str
    department: str = ""
    manager_id: str | None = None
    manager_name: str | None = None
    manager_email: str | None = None
    locale: str = "en"


class PlanRequest(_Model):
    """Ask the skills engine for the plan that follows a review."""

    employee: Employee
    event_id: str
    review: ReviewCompleted


class LearningPlan(_Model):
    """The gaps a review revealed and the courses chosen to close them."""

    employee_id: str
    event_id: str
    policy: str
    gaps: list[Gap]
    plan: Plan


class EnrollRequest(_Model):
    """Enroll one employee in one course (idempotent on employee and course)."""

    employee_id: str
    course_id: str
    due: date | None
    reason: str
    source_event: str


class Enrollment(_Model):
    """An enrollment as the LMS holds it."""

    enrollment_id: str
    employee_id: str
    course_id: str
    status: str
    due: date | None
    reason: str
    source_event: str
    created_at: datetime


class EnrolledCourse(_Model):
    """A course line of a notification email."""

    course_id: str
    title: str
    hours: float
    due: date | None
    reason: str


class NoticeRequest(_Model):
    """Send one notification email, at most once per dedupe key."""

    dedupe_key: str
    template: str
    employee: Employee
    courses: list[EnrolledCourse] = Field(default_factory=list)
    uncoverable: list[str] = Field(default_factory=list)


class MailResult(_Model):
    """What the mail activity did: sent now, or already sent earlier under the same key."""

    dedupe_key: str
    message_id: str
    sent_now: bool


class EmployeeWorkflowInput(_Model):
    """Start (or continue-as-new) input of `EmployeeLearningWorkflow`."""

    employee_id: str
    due_days: int = 30
    seen_event_ids: list[str] = Field(default_factory=list)
    pending: list[InboundEvent] = Field(default_factory=list)
    state: EmployeeLearningState | None = None


class ProcessedEvent(_Model):
    """The audit line of one handled event: what it caused, and why."""

    event_id: str
    type: str
    outcome: str
    gaps: list[Gap] = Field(default_factory=list)
    enrolled: list[EnrolledCourse] = Field(default_factory=list)
    uncoverable: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    error: str | None = None


class EmployeeLearningState(_Model):
    """What the `state` query answers: the employee's learning plan and its history."""

    employee_id: str
    events_received: int = 0
    duplicates_ignored: int = 0
    enrollments: list[EnrolledCourse] = Field(default_factory=list)
    history: list[ProcessedEvent] = Field(default_factory=list)
