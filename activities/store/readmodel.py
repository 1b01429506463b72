"""The HR ops read model and the console's own tables (SQLAlchemy 2 declarative).

The ``rm_*`` tables are a projection (`activities.store.projector`) of the facts the system
emits: the outbound events on ``talentloop.events``, the dead letters on ``talentloop.dlq``
and snapshots of employees' plans (the workflow's ``state`` query). They can be dropped and
rebuilt at any time (``talentloop projections rebuild``). Aggregates that events do not carry
(assessed levels for the coverage heatmap, the directory) are read from the app database's own
tables at query time.

The ``console_*`` tables are not a projection: the console's users and the audit of every
action taken through it. A rebuild never touches them.

The tables share ``activities.store.tables.Base``; revision 0006 creates them and imports this
module so that ``Base.metadata`` always lists them where the migrations are known.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from activities.store.tables import Base, EmployeeRow, EvidenceRow


class RmPositionRow(Base):
    """How far the projector has read one partition of one topic (the next offset to read)."""

    __tablename__ = "rm_positions"
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RmAppliedEventRow(Base):
    """An outbound event the projector has applied (its CloudEvent id): applied once."""

    __tablename__ = "rm_applied_events"
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RmPlanItemRow(Base):
    """One course of an employee's plan, as the read model knows it.

    ``state`` is the workflow's item status (``schemas.learning.ItemStatus``). Events move an
    item forward only (enrolled → overdue → completed); a plan snapshot sets it as it is.
    """

    __tablename__ = "rm_plan_items"
    __table_args__ = (
        Index("ix_rm_plan_items_state_employee", "state", "employee_id", "course_id"),
        Index("ix_rm_plan_items_approver_state", "approver_id", "state"),
        Index("ix_rm_plan_items_created", "created_at"),
        Index("ix_rm_plan_items_enrolled", "enrolled_at"),
        Index("ix_rm_plan_items_completed", "completed_at"),
        Index("ix_rm_plan_items_notice", "notice_status"),
        Index("ix_rm_plan_items_state_requested", "state", "approval_requested_at"),
    )
    employee_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(256), default="")
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    enrollment_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    source_event: Mapped[str] = mapped_column(String(256), default="")
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    days_overdue: Mapped[int | None] = mapped_column(Integer, nullable=True)
    escalated_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    approver_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approval_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    notice_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notice_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RmGapClosureRow(Base):
    """A ``gap.closed`` event: an employee's skill reached the level required of it."""

    __tablename__ = "rm_gap_closures"
    __table_args__ = (Index("ix_rm_gap_closures_at", "at"),)
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(128), index=True)
    skill_id: Mapped[str] = mapped_column(String(128))
    objective_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    from_level: Mapped[float] = mapped_column(Float)
    to_level: Mapped[float] = mapped_column(Float)
    target_level: Mapped[float] = mapped_column(Float)
    closed_by: Mapped[str] = mapped_column(String(16))
    closed_by_ref: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RmTimelineRow(Base):
    """One line of an employee's timeline, keyed so that applying it again changes nothing."""

    __tablename__ = "rm_timeline"
    __table_args__ = (Index("ix_rm_timeline_employee_at", "employee_id", "at"),)
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    course_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class RmRolloutRow(Base):
    """A finished strategy rollout (``rollout.completed``)."""

    __tablename__ = "rm_rollouts"
    objective_set_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    employees_affected: Mapped[int] = mapped_column(Integer)
    enrollments: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RmDeadLetterRow(Base):
    """A record of the DLQ topic: why it was refused and where it came from (no payload)."""

    __tablename__ = "rm_dead_letters"
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    source_topic: Mapped[str] = mapped_column(String(255), default="")
    source_partition: Mapped[int] = mapped_column(Integer, default=-1)
    source_offset: Mapped[int] = mapped_column(Integer, default=-1)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleUserRow(Base):
    """A console user: a password hash, a role, and the employee they are (managers)."""

    __tablename__ = "console_users"
    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(16))
    employee_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConsoleAuditRow(Base):
    """One action taken through the console or on its users: who, what, when, why, outcome."""

    __tablename__ = "console_audit"
    __table_args__ = (Index("ix_console_audit_at", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")


# The console's queries over the app's own tables: a manager's team, a department, the funnel's
# reviews in a period. Declared here (on those tables) so that revision 0008 and the metadata
# agree; the tables' own module is not the console's to change.
Index("ix_employees_manager", EmployeeRow.manager_id)
Index("ix_employees_department", EmployeeRow.department)
Index(
    "ix_evidence_observed_source",
    EvidenceRow.observed_at,
    EvidenceRow.source,
    EvidenceRow.employee_id,
    EvidenceRow.ref,
)


READ_MODEL_TABLES: tuple[type[Base], ...] = (
    RmPositionRow,
    RmAppliedEventRow,
    RmPlanItemRow,
    RmGapClosureRow,
    RmTimelineRow,
    RmRolloutRow,
    RmDeadLetterRow,
)
"""The projected tables: what a rebuild empties (the console's users and audit are not)."""
