"""Workflow and activity inputs and outputs of the employee learning path."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import InboundEvent, ObjectivesApplied, ReviewCompleted
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
    """Ask the skills engine for a plan, after a review or for a re-plan on `on`.

    A review's ratings become evidence first; a re-plan (after a completion, a move, new
    objectives) uses the evidence already recorded.
    """

    employee: Employee
    event_id: str
    review: ReviewCompleted | None = None
    on: date | None = None
    event_time: datetime | None = Field(default=None, exclude_if=lambda v: v is None)
    """The review event's CloudEvents ``time``: of two events for the same review, the later
    one is the correction that counts (ties, or no time: the later arrival)."""
    applies: ObjectivesApplied | None = Field(default=None, exclude_if=lambda v: v is None)
    """For a re-plan a rollout asked for: the objective-set version it applies (the planner
    records it as the version this employee last applied, for the rollout's reconciliation)."""


class LearningPlan(_Model):
    """The gaps a review revealed and the courses chosen to close them."""

    employee_id: str
    event_id: str
    policy: str
    gaps: list[Gap]
    plan: Plan
    objective_sets: list[str] = Field(default_factory=list)
    min_gap: float | None = Field(default=None, exclude_if=lambda v: v is None)
    """The noise threshold (levels) the gaps were decided with; None: before it was recorded."""
    assessed_on: date | None = Field(default=None, exclude_if=lambda v: v is None)
    """The day the evidence was assessed as of (now, or the newest evidence if later)."""
    waived: dict[str, str] = Field(default_factory=dict, exclude_if=lambda v: not v)
    """Skills whose gap HR waived for the employee, with the waiver's reason."""


class ReviewPlanRequest(_Model):
    """Plan after a review, for an employee the planner looks up itself (one activity)."""

    employee_id: str
    event_id: str
    review: ReviewCompleted
    event_time: datetime | None = Field(default=None, exclude_if=lambda v: v is None)
    """The review event's CloudEvents ``time`` (see `PlanRequest.event_time`)."""


class ReviewPlan(_Model):
    """The employee as the directory knows them, and the plan their review led to."""

    employee: Employee
    planned: LearningPlan


class EnrollRequest(_Model):
    """Enroll one employee in one course (idempotent on employee and course)."""

    employee_id: str
    course_id: str
    due: date | None
    reason: str
    source_event: str
    session_id: str | None = None
    """A session of the course to take; None: the LMS picks the first one with a free seat."""


class Enrollment(_Model):
    """An enrollment as the LMS holds it.

    ``status`` is "enrolled", "waitlisted" (``waitlist_position`` 1 is next in line for a
    seat), "withdrawn" or "completed".
    """

    enrollment_id: str
    employee_id: str
    course_id: str
    status: str
    due: date | None
    reason: str
    source_event: str
    created_at: datetime
    session_id: str | None = None
    waitlist_position: int | None = None
    completed_at: datetime | None = None


class EnrolledCourse(_Model):
    """A course line of a notification email."""

    course_id: str
    title: str
    hours: float
    due: date | None
    reason: str


ItemStatus = Literal[
    "proposed",
    "awaiting_approval",
    "waitlisted",
    "enrolled",
    "in_progress",
    "scheduled",
    "completed",
    "overdue",
    "waived",
    "rejected",
    "withdrawn",
    "failed",
]
"""Where a plan item is. Open: proposed, awaiting_approval, waitlisted, enrolled, in_progress,
overdue, scheduled (the learning-hours budget puts it in a later month: enrolled then)."""

OPEN_STATUSES: frozenset[str] = frozenset(
    {
        "proposed",
        "awaiting_approval",
        "waitlisted",
        "enrolled",
        "in_progress",
        "overdue",
        "scheduled",
    }
)
ENROLLED_STATUSES: frozenset[str] = frozenset({"enrolled", "in_progress", "overdue"})


class Transition(_Model):
    """One dated, explained step of a plan item."""

    at: datetime
    status: ItemStatus
    why: str


NoticeStatus = Literal["pending", "sent", "failed"]
"""Where an item's latest email is: queued (the mail activity retries while SMTP is down),
sent, or failed for good (the reason beside it)."""


class NoticeState(_Model):
    """The latest email about one plan item: which, where it is, and why it failed."""

    template: str
    status: NoticeStatus
    at: datetime
    message_id: str
    error: str | None = None


class PlanItemState(_Model):
    """One course of the employee's plan and its life so far."""

    course_id: str
    title: str
    hours: float
    cost: float = 0.0
    reason: str
    skills: list[str] = Field(default_factory=list)
    status: ItemStatus = "proposed"
    due: date | None = None
    source_event: str
    approver_id: str | None = None
    approval_requested_at: datetime | None = None
    escalations: int = 0
    enrollment_id: str | None = None
    reminders_sent: list[int] = Field(default_factory=list)
    overdue_notified: bool = False
    notification_error: str | None = None
    enroll_on: date | None = Field(default=None, exclude_if=lambda v: v is None)
    """For a scheduled item: the day it is enrolled (the learning-hours budget deferred it)."""
    lms_checked_at: datetime | None = Field(default=None, exclude_if=lambda v: v is None)
    """When the LMS was last asked about this waitlisted item (a seat may have come free)."""
    notice: NoticeState | None = Field(default=None, exclude_if=lambda v: v is None)
    """The latest email about this item (sent as its own activity, so SMTP being down holds
    up no enrollment). Left out of the payload when None, so items serialize as before."""
    transitions: list[Transition] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """Still to be done: proposed, awaiting approval, enrolled, in progress or overdue."""
        return self.status in OPEN_STATUSES


class Recipient(_Model):
    """Who a notification goes to."""

    id: str
    name: str
    email: str | None
    locale: str = "en"


class NoticeRequest(_Model):
    """Send one notification email, at most once per dedupe key.

    The dedupe key names the employee, the purpose, the item and the occurrence, e.g.
    ``E00042:reminder:gen-2.B.3.e-practice:7``; the Message-ID is derived from it.
    """

    dedupe_key: str
    template: str
    to: Recipient
    employee: Employee
    courses: list[EnrolledCourse] = Field(default_factory=list)
    pending: list[EnrolledCourse] = Field(default_factory=list)
    uncoverable: list[str] = Field(default_factory=list)
    facts: dict[str, str] = Field(default_factory=dict)


class MailResult(_Model):
    """What the mail activity did: sent now, or already sent earlier under the same key."""

    dedupe_key: str
    message_id: str
    sent_now: bool


class LearningPolicy(_Model):
    """How the plan is run: due dates, approvals, reminders, escalation."""

    due_days: int = 30
    approval_hours_over: float | None = 16.0
    approval_cost_over: float | None = 1000.0
    approval_sla_days: int = 5
    approval_default: Literal["approve", "reject"] = "approve"
    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    escalate_overdue: bool = True
    hr_approver_id: str | None = None
    """Who approves for an employee whose manager the directory does not know yet."""
    hours_per_month: float | None = Field(default=None, exclude_if=lambda v: v is None)
    """Learning hours a plan may ask per month (None: no budget): due dates are staggered, and
    what does not fit the next three months is scheduled for later (docs/decisions.md)."""
    hours_by_department: dict[str, float] = Field(default_factory=dict, exclude_if=lambda v: not v)
    """Budget overrides by department."""
    hours_by_role: dict[str, float] = Field(default_factory=dict, exclude_if=lambda v: not v)
    """Budget overrides by role id (win over the department's)."""

    def hours_for(self, role_id: str, department: str) -> float | None:
        """The learning-hours budget of an employee in `role_id` and `department`."""
        if self.hours_per_month is None:
            return None
        if role_id in self.hours_by_role:
            return self.hours_by_role[role_id]
        return self.hours_by_department.get(department, self.hours_per_month)


class ApprovalDecision(_Model):
    """A manager's answer to a pending approval (a Temporal update)."""

    course_id: str
    approver_id: str
    approve: bool
    comment: str = ""


class CompletionRequest(_Model):
    """Record a completed course as evidence and re-assess the employee."""

    employee: Employee
    course_id: str
    completed_at: datetime
    event_id: str


class CompletionOutcome(_Model):
    """What a completion changed: the gaps it closed and the gaps that remain."""

    closed: list[Gap] = Field(default_factory=list)
    remaining: list[Gap] = Field(default_factory=list)
    levels: dict[str, float] = Field(default_factory=dict)


class EventRetry(_Model):
    """HR asks a workflow to handle a failed event again (a Temporal update)."""

    event_id: str
    """The failed event's id; empty: every failed event, oldest first."""
    by: str
    """Who asked (recorded on the timeline)."""
    reason: str = ""


class GapOverride(_Model):
    """HR waived or restored one of the employee's gaps (a Temporal update).

    The override is recorded in the app database first; the workflow notes it and re-plans.
    """

    skill_id: str
    action: Literal["waived", "restored"]
    by: str
    reason: str = ""


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
    policy_version: str | None = None
    """The policy the event was handled under (`PolicySnapshot.version`)."""


class TimelineEntry(_Model):
    """One line of the employee's learning timeline."""

    at: datetime
    kind: str
    text: str
    course_id: str | None = None
    event_id: str | None = None


class EmployeeLearningState(_Model):
    """What the `state` query answers: the plan with reasons, the timeline, the audit."""

    employee_id: str
    events_received: int = 0
    duplicates_ignored: int = 0
    emails_in_flight: int = Field(default=0, exclude_if=lambda v: v == 0)
    """Emails queued and not yet sent or given up (their items' `notice` says which)."""
    conflicts_ignored: int = Field(default=0, exclude_if=lambda v: v == 0)
    """Events whose (source, id) was seen before with other content: the first won."""
    items: list[PlanItemState] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    history: list[ProcessedEvent] = Field(default_factory=list)
    left: bool = False

    @property
    def enrollments(self) -> list[PlanItemState]:
        """Items the employee is or was enrolled in."""
        return [i for i in self.items if i.enrollment_id is not None]

    @property
    def overdue(self) -> int:
        """How many items are overdue."""
        return sum(1 for i in self.items if i.status == "overdue")


class PolicySnapshot(_Model):
    """The plan policy and LMS call mode in force, as the worker's settings say now.

    The employee workflow reads it (an activity, so the answer is in its history) whenever it
    wakes to work, so a changed setting reaches running workflows at their next step.
    """

    policy: LearningPolicy
    lms_task_queue: str
    lms_local: bool
    version: str
    """A short digest of the rest: equal versions, equal settings."""


class EmployeeWorkflowInput(_Model):
    """Start (or continue-as-new) input of `EmployeeLearningWorkflow`."""

    employee_id: str
    policy: LearningPolicy = Field(default_factory=LearningPolicy)
    lms_task_queue: str = "talentloop-lms"
    lms_local: bool = False
    """Call the LMS as local activities (the built-in LMS without a rate limit)."""
    policy_version: str | None = None
    """The `PolicySnapshot.version` the three fields above were last read from."""
    seen_event_ids: list[str] = Field(default_factory=list)
    """Dedupe keys of recent events: ``source`` and ``id`` joined by a unit separator (CloudEvents
    ids are unique per source); a bare id is one recorded before that, matched by id alone."""
    seen_content: dict[str, str] = Field(default_factory=dict, exclude_if=lambda v: not v)
    """A digest of each remembered event's content, by dedupe key: the same key with other
    content is a conflict, not a duplicate."""
    failed_events: list[InboundEvent] = Field(default_factory=list, exclude_if=lambda v: not v)
    """Events that failed for good, kept (the latest few) so HR can retry them once the cause
    is fixed (`talentloop events retry`)."""
    pending: list[InboundEvent] = Field(default_factory=list)
    state: EmployeeLearningState | None = None
