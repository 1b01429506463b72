"""Employee goals: what the ``goals.apply`` activity takes and returns, and the goal views.

``GoalChanged`` (the event's data) is in ``schemas.events``; ``GoalAligned`` /
``GoalUnaligned`` (the outbound events) are in ``schemas.outbound``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import GoalChanged, InboundEvent
from schemas.outbound import (
    GOAL_ALIGNED,
    GOAL_UNALIGNED,
    AlignedObjective,
    GoalAligned,
    GoalUnaligned,
)

GoalStatus = Literal["active", "completed", "cancelled"]
"""A goal's status: "set" and "updated" leave it active."""

Alignment = Literal["aligned", "unaligned"]
"""Aligned to at least one objective in force, or not."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoalApplyRequest(_Model):
    """Input of the ``goals.apply`` activity: one ``goal.changed`` event.

    Build it with `GoalApplyRequest.of` from the workflow's ``InboundEvent``.
    """

    event_id: str
    """The CloudEvent id (the idempotency key)."""
    event_time: datetime | None = None
    """Its CloudEvents ``time``: an older state arriving later does not replace a newer one."""
    goal: GoalChanged
    """The goal's new state."""
    on: date | None = None
    """The day alignment is computed for; None: today (the worker's clock)."""

    @classmethod
    def of(cls, event: InboundEvent, on: date | None = None) -> GoalApplyRequest:
        """The request for a ``goal.changed.v1`` event (``event.goal`` must be set)."""
        if event.goal is None:
            raise ValueError(f"event {event.event_id} is not a goal.changed event")
        return cls(event_id=event.event_id, event_time=event.time, goal=event.goal, on=on)


class GoalApplied(_Model):
    """What ``goals.apply`` returns: the goal as recorded, and its alignment.

    The workflow re-plans (``skills.plan``) when ``changed`` and publishes `outbound` (the
    ``goal.aligned.v1`` / ``goal.unaligned.v1`` data) with the event's id as cause.
    """

    employee_id: str
    goal_id: str
    changed: bool
    """False when the store already held this event (a retry, a redelivery) or a newer one."""
    status: GoalStatus
    """The goal's status after the event (the newer one's, when this event was older)."""
    alignment: Alignment
    """Aligned to at least one objective in force on the day, or not."""
    objectives: list[AlignedObjective] = Field(default_factory=list)
    """The objectives in force it is aligned to (with the set version in force)."""
    reason: str | None = None
    """Why it is unaligned (None when aligned)."""
    skills: list[str] = Field(default_factory=list)
    """Skills it requires of the employee now (none when completed or cancelled)."""
    source_event_id: str
    """The event the alignment was computed for."""

    def outbound(self) -> tuple[str, GoalAligned | GoalUnaligned]:
        """The outbound event type and data to publish (``outbound_event(type, data, ...)``)."""
        if self.alignment == "aligned":
            return GOAL_ALIGNED, GoalAligned(
                employee_id=self.employee_id,
                goal_id=self.goal_id,
                objectives=list(self.objectives),
                skills=list(self.skills),
                source_event_id=self.source_event_id,
            )
        return GOAL_UNALIGNED, GoalUnaligned(
            employee_id=self.employee_id,
            goal_id=self.goal_id,
            reason=self.reason or "aligned to no objective in force",
            skills=list(self.skills),
            source_event_id=self.source_event_id,
        )


class GoalView(_Model):
    """One goal as `talentloop goals EMPLOYEE` shows it."""

    goal_id: str
    title: str = Field(repr=False)
    """Personal data: shown, never logged."""
    status: GoalStatus
    due: date | None = None
    priority: float
    alignment: Alignment
    objectives: list[AlignedObjective] = Field(default_factory=list)
    reason: str | None = None
    skills: list[str] = Field(default_factory=list)
    """Skills it requires now (own or derived)."""
    courses: list[str] = Field(default_factory=list)
    """Courses the employee is enrolled in (not completed, not withdrawn) that teach them."""


class AlignmentRow(_Model):
    """The alignment figures of one department or role."""

    group: str
    employees: int
    employees_aligned: int
    """Employees with at least one goal aligned to an objective in force."""
    goals: int
    goals_unaligned: int

    @property
    def share_aligned(self) -> float:
        """Share of employees with at least one aligned goal (0 with no employees)."""
        return self.employees_aligned / self.employees if self.employees else 0.0

    @property
    def share_unaligned(self) -> float:
        """Share of goals that are unaligned (0 with no goals)."""
        return self.goals_unaligned / self.goals if self.goals else 0.0


class AlignmentReport(_Model):
    """The alignment report (`talentloop goals alignment`)."""

    on: date
    total: AlignmentRow
    by_department: list[AlignmentRow] = Field(default_factory=list)
    by_role: list[AlignmentRow] = Field(default_factory=list)
    unpicked: list[str] = Field(default_factory=list)
    """Objectives in force ("<set>/<objective>") no goal is aligned to."""

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data, with the shares."""

        def row(r: AlignmentRow) -> dict[str, Any]:
            return {
                **r.model_dump(),
                "share_aligned": round(r.share_aligned, 4),
                "share_unaligned": round(r.share_unaligned, 4),
            }

        return {
            "on": self.on.isoformat(),
            "total": row(self.total),
            "by_department": [row(r) for r in self.by_department],
            "by_role": [row(r) for r in self.by_role],
            "unpicked": list(self.unpicked),
        }
