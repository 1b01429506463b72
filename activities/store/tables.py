"""The application database's tables (SQLAlchemy 2 declarative).

The directory (employees), the skills framework and roles, the course catalog, review
evidence, HR's gap waivers, the built-in LMS (course sessions with seats, enrollments and
their waitlist, the completion-poll ledger) and the mail outbox live here. Every change of
these tables comes with an Alembic revision in ``activities/store/migrations/versions``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schemas.skills import Course, CourseSkill


class Base(DeclarativeBase):
    """Declarative base of every talentloop table."""


class SkillRow(Base):
    """A skill of the framework (O*NET element ids by default)."""

    __tablename__ = "skills"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    anchors: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class RoleRow(Base):
    """A role (an O*NET occupation by default).

    ``retired_at`` is set when an O*NET import no longer carries a role that employees hold:
    the role is kept (never deleted under them) and reported.
    """

    __tablename__ = "roles"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RoleRequirementRow(Base):
    """The level a role requires of a skill, and how important it is."""

    __tablename__ = "role_requirements"
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"), primary_key=True)
    skill_id: Mapped[str] = mapped_column(ForeignKey("skills.id"), primary_key=True)
    level: Mapped[float] = mapped_column(Float)
    importance: Mapped[float] = mapped_column(Float)
    suppressed: Mapped[bool] = mapped_column(default=False)


class CourseRow(Base):
    """A course of the catalog; what it teaches is JSON (skill, from level, to level)."""

    __tablename__ = "courses"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    hours: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    modality: Mapped[str] = mapped_column(String(32), default="online")
    teaches: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    prerequisites: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_lms: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    """The LMS the course was synced from (`talentloop lms sync`); None: seeded or imported."""
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    offered: Mapped[bool] = mapped_column(default=True, server_default=true())
    """False once a sync no longer finds the course in the LMS: planning leaves it out."""
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def to_course(self) -> Course:
        """The course as the skills engine sees it."""
        return Course(
            id=self.id,
            title=self.title,
            hours=self.hours,
            cost=self.cost,
            modality=self.modality,
            teaches=tuple(CourseSkill.model_validate(t) for t in self.teaches),
            prerequisites=tuple(self.prerequisites),
        )


class EmployeeRow(Base):
    """An employee of the directory (generated in dev; the HRIS in production)."""

    __tablename__ = "employees"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    email: Mapped[str] = mapped_column(String(320))
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"))
    department: Mapped[str] = mapped_column(String(128), default="")
    manager_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    active: Mapped[bool] = mapped_column(default=True)


class EvidenceRow(Base):
    """One dated piece of evidence of an employee's level in a skill.

    ``source_event`` and ``event_time`` name the event that recorded a review's rating and
    its CloudEvents ``time``: a later event for the same review (a correction) replaces the
    review's rows (docs/decisions.md, "corrected review").
    """

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("employee_id", "ref", "skill_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(String(128), index=True)
    skill_id: Mapped[str] = mapped_column(String(128))
    level: Mapped[float] = mapped_column(Float)
    scale_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    observed_at: Mapped[date] = mapped_column(Date)
    ref: Mapped[str] = mapped_column(String(256))
    rater_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    source_event: Mapped[str | None] = mapped_column(String(256), nullable=True)
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class GapWaiverRow(Base):
    """HR's waiver of one employee's gap in one skill (e.g. recognised prior learning).

    Rows are never deleted: a restore sets ``restored_at`` / ``restored_by`` /
    ``restore_reason``, so the table is the audit of every override (who, when, why). At most
    one waiver per employee and skill is active (``restored_at`` is NULL).
    """

    __tablename__ = "gap_waivers"
    __table_args__ = (Index("ix_gap_waivers_employee_skill", "employee_id", "skill_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(String(128))
    skill_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    waived_by: Mapped[str] = mapped_column(String(128))
    waived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    restored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    restored_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    restore_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class LmsCourseSessionRow(Base):
    """A scheduled run of a course with a seat capacity (a course without any is self-paced)."""

    __tablename__ = "lms_course_sessions"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.id"), index=True)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    capacity: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(256), default="")


class LmsEnrollmentRow(Base):
    """An enrollment in the built-in LMS: one per employee and course.

    ``status`` is "enrolled", "waitlisted" (with ``waitlist_position``, 1 is next), "withdrawn"
    or "completed"; ``session_id`` is the session holding (or queued for) the seat.
    """

    __tablename__ = "lms_enrollments"
    __table_args__ = (
        UniqueConstraint("employee_id", "course_id"),
        Index("ix_lms_enrollments_session_status", "session_id", "status"),
        Index("ix_lms_enrollments_completed_at", "completed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(String(128), index=True)
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.id"))
    status: Mapped[str] = mapped_column(String(16), default="enrolled")
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    source_event: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    waitlist_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LmsCompletionDeliveryRow(Base):
    """A completion the poller has handed to the employee's workflow (one per enrollment)."""

    __tablename__ = "lms_completion_deliveries"
    source_lms: Mapped[str] = mapped_column(String(64), primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(128))
    course_id: Mapped[str] = mapped_column(String(128))
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LmsTrackedEnrollmentRow(Base):
    """An enrolment talentloop made in a remote LMS (Moodle), polled until it is closed.

    ``state`` is "open" (polled for completion), "completed" (delivered) or "withdrawn".
    The poll checks open ones least recently checked first (``checked_at``), so a poll that
    stops part-way resumes where it stopped.
    """

    __tablename__ = "lms_tracked_enrollments"
    __table_args__ = (
        Index("ix_lms_tracked_enrollments_poll", "source_lms", "state", "checked_at"),
    )
    source_lms: Mapped[str] = mapped_column(String(64), primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(128))
    course_id: Mapped[str] = mapped_column(String(128))
    external_course: Mapped[str] = mapped_column(String(64))
    external_user: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="open")
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LmsPollCursorRow(Base):
    """How far the completion poller has read an LMS's completions."""

    __tablename__ = "lms_poll_cursors"
    source_lms: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MailOutboxRow(Base):
    """A notification email, keyed by its dedupe key so that it is sent once."""

    __tablename__ = "mail_outbox"
    dedupe_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ObjectiveSetRow(Base):
    """One version of a set of strategic objectives, as received (the body is JSON)."""

    __tablename__ = "objective_sets"
    set_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date)
    body: Mapped[dict[str, object]] = mapped_column(JSON)
    source_event: Mapped[str] = mapped_column(String(256))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ObjectiveApplicationRow(Base):
    """The newest version of an objective set an employee's plan was re-assessed under.

    Written by the planner when a rollout (or the reconciliation) asks an employee to apply a
    version; the reconciliation finds employees behind the version in force from it.
    """

    __tablename__ = "objective_applications"
    employee_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    set_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column()
    event_id: Mapped[str] = mapped_column(String(256))
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
