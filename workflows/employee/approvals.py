"""Approval rules of a learning plan: what needs approval, who may decide, what the email says."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from schemas.learning import ApprovalDecision, Employee, LearningPolicy, PlanItemState


def needs_approval(item: PlanItemState, policy: LearningPolicy) -> bool:
    """Whether the item's hours or cost exceed a threshold of the policy (None: no limit)."""
    return (policy.approval_hours_over is not None and item.hours > policy.approval_hours_over) or (
        policy.approval_cost_over is not None and item.cost > policy.approval_cost_over
    )


def approver_for(employee: Employee, policy: LearningPolicy) -> tuple[str, str | None]:
    """Who approves the employee's items, and why it is not their manager when it is not.

    The manager, unless the directory does not know the manager yet (a bulk onboarding's
    manager may join later) and the policy names an HR approver: then HR decides.
    """
    manager = employee.manager_id
    assert manager is not None
    if employee.manager_name is None and policy.hr_approver_id:
        return policy.hr_approver_id, (
            f"manager {manager} is not in the directory yet: the approval goes to HR "
            f"({policy.hr_approver_id})"
        )
    return manager, None


def refuse_decision(
    item: PlanItemState | None, decision: ApprovalDecision, queued: Iterable[ApprovalDecision]
) -> str | None:
    """Why `decision` cannot be taken, or None when it can.

    Only a pending item can be decided, once, and only by its current approver.
    """
    if item is None:
        return f"no approval is pending for course {decision.course_id}: it is not in the plan"
    if item.status != "awaiting_approval":
        # E.g. the approval's default enrolled it before this answer came.
        return f"no approval is pending for course {decision.course_id}: it is {item.status}"
    if any(d.course_id == decision.course_id for d in queued):
        return f"no approval is pending for course {decision.course_id}: it is being decided"
    if decision.approver_id != item.approver_id:
        return (
            f"course {decision.course_id} awaits approval by {item.approver_id}, "
            f"not {decision.approver_id}"
        )
    return None


def approval_facts(item: PlanItemState, policy: LearningPolicy, now: datetime) -> dict[str, str]:
    """What the approval email says: answer by when, and what happens otherwise."""
    requested = item.approval_requested_at or now
    sla = timedelta(days=policy.approval_sla_days)
    if item.escalations == 0:
        return {
            "respond_by": (requested + sla).date().isoformat(),
            "next_step": "escalation to the next manager",
        }
    return {
        "respond_by": (requested + 2 * sla).date().isoformat(),
        "next_step": policy.approval_default,
    }


def threshold_reason(item: PlanItemState) -> str:
    """Why an item awaits approval, as its timeline says."""
    return f"{item.hours:g} h / {item.cost:g} exceeds the approval threshold"
