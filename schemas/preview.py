"""What a rollout preview reports: the diff of two objective-set versions and the impact.

The preview (``talentloop rollout preview FILE``) computes these without writing anything; the
rollout workflow keeps the summary for the approver to see.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelChange(_Frozen):
    """A skill whose required level (or importance) an objective changes."""

    skill_id: str
    old_target: float
    new_target: float
    old_importance: float | None = None
    new_importance: float | None = None


class ObjectiveChange(_Frozen):
    """One objective added, removed or changed between two versions of a set.

    Attributes:
        objective_id: The objective.
        change: "added", "removed" or "changed".
        title: Its title (the new one when changed).
        fields: What changed: "skills", "levels", "scope", "due", "priority", "dates", "title".
        skills_added: Skills it requires now and did not before.
        skills_removed: Skills it no longer requires.
        levels: Skills whose target level or importance changed.
        details: One readable line per change, e.g. "due 2027-03-31 -> 2027-06-30".

    """

    objective_id: str
    change: Literal["added", "removed", "changed"]
    title: str = ""
    fields: tuple[str, ...] = ()
    skills_added: tuple[str, ...] = ()
    skills_removed: tuple[str, ...] = ()
    levels: tuple[LevelChange, ...] = ()
    details: tuple[str, ...] = ()


class SetDiff(_Frozen):
    """What a new version of an objective set changes against the version in force.

    Attributes:
        set_id: The objective set.
        old_version: The version in force (None: the set is new).
        new_version: The version previewed.
        old_effective_from: When the version in force took effect.
        new_effective_from: When the new version takes effect.
        changes: Objectives added, removed and changed, in that order, each by id.
        unchanged: Ids of objectives that did not change.

    """

    set_id: str
    old_version: int | None
    new_version: int
    old_effective_from: date | None = None
    new_effective_from: date
    changes: tuple[ObjectiveChange, ...] = ()
    unchanged: tuple[str, ...] = ()

    def of_kind(self, change: str) -> list[ObjectiveChange]:
        """The changes of one kind ("added", "removed", "changed")."""
        return [c for c in self.changes if c.change == change]


class SeatDemand(_Frozen):
    """Seats a preview needs in one course session, against the seats free there.

    Attributes:
        course_id: The course.
        session_id: The session.
        starts: Its first day, if scheduled.
        capacity: Its seats.
        taken: Seats already taken (enrolled) before the rollout.
        needed: New enrollments that go to it (first come, first served, by start).
        waitlisted: Of those, how many join its waitlist (it overflows when > 0).

    """

    course_id: str
    session_id: str
    starts: date | None = None
    capacity: int
    taken: int
    needed: int
    waitlisted: int = 0


class Spread(_Frozen):
    """A distribution over employees: median, 95th percentile and maximum."""

    p50: float = 0.0
    p95: float = 0.0
    max: float = 0.0


class EmployeeImpact(_Frozen):
    """What the new version changes for one employee in scope (ids only: no personal data).

    Attributes:
        employee_id: The employee.
        role_id: Their role.
        department: Their department.
        affected: Whether any gap changes (size, weight, objective or due date).
        gaps_before: Gap skills under the version in force.
        gaps_after: Gap skills under the new version.
        new_gaps: Skills that become gaps.
        closed_gaps: Skills that stop being gaps.
        courses_before: The plan's courses under the version in force.
        courses_after: The plan's courses under the new version.
        create: Courses the rollout would add to the plan (enrolled or sent for approval).
        withdraw: Open courses whose gaps close, which the plan would waive.
        approvals: Of ``create``, those the approver must decide.
        approver_id: Who decides them.
        hours: Hours of ``create``.
        cost: Cost of ``create``.
        emails: Emails the rollout would send about this employee.

    """

    employee_id: str
    role_id: str
    department: str
    affected: bool
    gaps_before: tuple[str, ...] = ()
    gaps_after: tuple[str, ...] = ()
    new_gaps: tuple[str, ...] = ()
    closed_gaps: tuple[str, ...] = ()
    courses_before: tuple[str, ...] = ()
    courses_after: tuple[str, ...] = ()
    create: tuple[str, ...] = ()
    withdraw: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()
    approver_id: str | None = None
    hours: float = 0.0
    cost: float = 0.0
    emails: int = 0
    scheduled_later: tuple[str, ...] = ()
    """Of `create`, the courses the learning-hours budget schedules beyond the next three
    months (enrolled when their month comes, as the employee workflow does)."""


class PreviewSummary(_Frozen):
    """The impact of rolling a new objective-set version out, before anything is sent.

    Attributes:
        diff: What changed against the version in force.
        on: The day the gaps and plans are computed for.
        policy_version: The plan policy the counts were computed under.
        in_scope: Active employees considered.
        affected: Employees whose gaps change.
        affected_by_department: Affected employees per department.
        affected_by_role: Affected employees per role title.
        new_gaps: (employee, skill) gaps the new version opens.
        closed_gaps: (employee, skill) gaps it closes.
        changed_gaps: Gaps that stay but change size, weight, objective or due date.
        enrollments_create: Courses added to plans.
        enrollments_withdraw: Open courses waived because their gaps close.
        employees_with_new_courses: Employees who get at least one course.
        hours_total: Hours of the courses added.
        hours_per_employee: Spread of those hours over the employees who get courses.
        cost_total: Cost of the courses added.
        approvals: Courses that go to an approver.
        approvers: Distinct approvers who get at least one.
        emails: Emails that would go out.
        emails_by_template: Of those, per template ("enrollment", "approval_request").
        seats: Seats needed per course session against its free seats.
        overflow_sessions: Sessions whose new enrollments overflow into their waitlist.
        no_session: Courses with sessions of which none is open (their enrollments fail).
        plans_computed: Course selections run (the rest reused by gap signature).
        plans_reused: Plans reused from an employee with the same gap signature.

    """

    diff: SetDiff
    on: date
    policy_version: str = ""
    in_scope: int
    affected: int
    affected_by_department: dict[str, int] = Field(default_factory=dict)
    affected_by_role: dict[str, int] = Field(default_factory=dict)
    new_gaps: int = 0
    closed_gaps: int = 0
    changed_gaps: int = 0
    enrollments_create: int = 0
    enrollments_withdraw: int = 0
    employees_with_new_courses: int = 0
    hours_total: float = 0.0
    hours_per_employee: Spread = Field(default_factory=Spread)
    cost_total: float = 0.0
    approvals: int = 0
    approvers: int = 0
    emails: int = 0
    emails_by_template: dict[str, int] = Field(default_factory=dict)
    seats: tuple[SeatDemand, ...] = ()
    overflow_sessions: tuple[str, ...] = ()
    no_session: tuple[str, ...] = ()
    plans_computed: int = 0
    plans_reused: int = 0
    scheduled_later: int = 0
    """Courses the learning-hours budget schedules for later months (not enrolled now)."""
    employees_over_budget: int = 0
    """Employees whose new courses do not all fit the next three months' learning hours."""
    hours_next_quarter_per_employee: Spread = Field(default_factory=Spread)
    """Hours of new courses due within the next three months, per employee with new courses."""
