"""Deadlines of a learning plan: pure functions of the plan items and the policy.

The workflow sleeps until the earliest deadline (or an event), so every reminder, overdue
notice and approval escalation is a durable timer that survives restarts and disappears as
soon as its item changes state (completed, waived, withdrawn).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from schemas.learning import ENROLLED_STATUSES, LearningPolicy, PlanItemState

DeadlineKind = Literal[
    "escalate", "approval_default", "reminder", "overdue", "waitlist_check", "enroll_scheduled"
]


@dataclass(frozen=True)
class Deadline:
    """When something is due for one item, and what."""

    at: datetime
    kind: DeadlineKind
    course_id: str
    days_before: int = 0


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def item_deadlines(
    item: PlanItemState, policy: LearningPolicy, waitlist_every: timedelta | None = None
) -> list[Deadline]:
    """Every deadline still ahead for `item`.

    A waitlisted item asks the LMS every `waitlist_every` whether it got a seat (the LMS
    fills a freed seat from its waitlist on its own); None: never.
    """
    out: list[Deadline] = []
    if item.status == "scheduled" and item.enroll_on is not None:
        out.append(Deadline(start_of(item.enroll_on), "enroll_scheduled", item.course_id))
    if item.status == "waitlisted" and waitlist_every is not None:
        since = item.lms_checked_at or (item.transitions[-1].at if item.transitions else None)
        if since is not None:
            out.append(Deadline(since + waitlist_every, "waitlist_check", item.course_id))
    sla = timedelta(days=policy.approval_sla_days)
    if item.status == "awaiting_approval" and item.approval_requested_at is not None:
        if item.escalations == 0:
            out.append(Deadline(item.approval_requested_at + sla, "escalate", item.course_id))
        else:
            out.append(
                Deadline(item.approval_requested_at + 2 * sla, "approval_default", item.course_id)
            )
    if item.status in ENROLLED_STATUSES and item.due is not None:
        for days in policy.reminder_days:
            if days not in item.reminders_sent and item.status != "overdue":
                at = start_of(item.due) - timedelta(days=days)
                out.append(Deadline(at, "reminder", item.course_id, days))
        if item.status != "overdue":
            out.append(Deadline(start_of(item.due) + timedelta(days=1), "overdue", item.course_id))
    return out


def next_deadline(
    items: list[PlanItemState], policy: LearningPolicy, waitlist_every: timedelta | None = None
) -> Deadline | None:
    """The earliest deadline over all items, if any."""
    all_deadlines = [d for item in items for d in item_deadlines(item, policy, waitlist_every)]
    return min(all_deadlines, key=lambda d: (d.at, d.course_id, d.kind), default=None)


def due_deadlines(
    items: list[PlanItemState],
    policy: LearningPolicy,
    now: datetime,
    waitlist_every: timedelta | None = None,
) -> list[Deadline]:
    """Every deadline that has come, earliest first."""
    return sorted(
        (d for item in items for d in item_deadlines(item, policy, waitlist_every) if d.at <= now),
        key=lambda d: (d.at, d.course_id, d.kind),
    )


def reminders_already_past(due: date | None, policy: LearningPolicy, now: datetime) -> list[int]:
    """Reminders that would fire at once for an enrollment made `now`: they are skipped."""
    if due is None:
        return []
    return [d for d in policy.reminder_days if start_of(due) - timedelta(days=d) <= now]
