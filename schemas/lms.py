"""Inputs and outputs of the LMS port: catalog, enrollment changes, completions, bulk calls."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.learning import Enrollment, EnrollRequest


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CourseSessionInfo(_Model):
    """A scheduled run of a course; ``capacity`` None means unlimited seats."""

    session_id: str
    course_id: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    capacity: int | None = None
    enrolled: int = 0
    waitlisted: int = 0
    location: str = ""

    @property
    def seats_free(self) -> int | None:
        """Seats still free (None when unlimited)."""
        return None if self.capacity is None else max(0, self.capacity - self.enrolled)


class CatalogCourse(_Model):
    """A course of an LMS's catalog, with the skills it teaches and its sessions."""

    course_id: str
    """The course as the talentloop catalog knows it."""
    title: str
    source_lms: str
    skills: list[str] = Field(default_factory=list)
    """Skill ids the course teaches (talentloop ids, e.g. "onet:2.B.3.e")."""
    hours: float | None = None
    external_id: str | None = None
    """The LMS's own id of the course (Moodle's numeric course id)."""
    sessions: list[CourseSessionInfo] = Field(default_factory=list)
    """Empty: self-paced, unlimited seats."""


class EnrollmentKey(_Model):
    """One employee's enrollment in one course."""

    employee_id: str
    course_id: str


class Completion(_Model):
    """A completed enrollment, as the LMS reports it."""

    enrollment_id: str
    employee_id: str
    course_id: str
    completed_at: datetime
    score: float | None = None
    source_lms: str


class CompletionsRequest(_Model):
    """Completions recorded at or after ``since`` (at most ``limit``, oldest first)."""

    since: datetime
    limit: int = Field(1000, ge=1, le=10_000)
    employee_ids: list[str] | None = None
    """Only these employees (an LMS without a "since" query needs them, e.g. Moodle)."""
    course_ids: list[str] | None = None
    """Only these courses."""


class LmsFailure(_Model):
    """Why one item of a bulk call failed; ``retryable`` errors are worth another try."""

    code: str
    message: str
    retryable: bool


class EnrollOutcome(_Model):
    """One item of a bulk enrollment: the enrollment, or why it failed."""

    employee_id: str
    course_id: str
    enrollment: Enrollment | None = None
    error: LmsFailure | None = None


class BulkEnrollRequest(_Model):
    """Enroll many (a rollout wave); each item is idempotent on employee and course."""

    requests: list[EnrollRequest] = Field(max_length=1000)


class BulkEnrollResult(_Model):
    """Outcome of each item of a bulk enrollment, in request order."""

    outcomes: list[EnrollOutcome]


class PolledCompletions(_Model):
    """What the completion poller found: completions not yet delivered, and the next cursor."""

    source_lms: str
    completions: list[Completion]
    next_since: datetime
