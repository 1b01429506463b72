"""Plan reconciliation: the planned courses against the plan's current items.

A pure function of the items, the new plan and the policy: which open items to waive (their
gap closed), which courses are new (proposed, with a due date), and of those which go to the
manager for approval and which are enrolled at once. The workflow applies the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.learning import LearningPlan, LearningPolicy, PlanItemState, Transition
from workflows.employee.approvals import needs_approval

WAIVED_WHY = "the gap it was for has closed; progress kept"
"""What a waived item's timeline says."""


@dataclass(frozen=True)
class Reconciliation:
    """What applying a plan changes.

    Attributes:
        waive: Open items whose gaps all closed (course ids), to be waived.
        proposed: New items, status proposed, in the plan's order.
        need_approval: Of the new items, those the manager must approve (course ids).
        enroll: Of the new items, those enrolled at once (course ids).

    """

    waive: list[str]
    proposed: list[PlanItemState]
    need_approval: list[str]
    enroll: list[str]


def reconcile(
    items: list[PlanItemState],
    planned: LearningPlan,
    policy: LearningPolicy,
    *,
    now: datetime,
    cause: str,
    has_manager: bool,
) -> Reconciliation:
    """Compare a new plan with the current items.

    Args:
        items: The plan's items now.
        planned: The gaps and the courses chosen to close them.
        policy: Due days and approval thresholds.
        now: The workflow's time (transitions are dated with it).
        cause: The event id the new items come from.
        has_manager: Whether the employee has a manager to approve (without one, nothing
            waits for approval).

    Returns:
        The items to waive, the new items, and which of them need approval or are enrolled.

    """
    gap_skills = {g.skill_id for g in planned.gaps}
    waive = [
        i.course_id
        for i in items
        if i.is_open and i.skills and not gap_skills.intersection(i.skills)
    ]
    waived = set(waive)
    known = {
        i.course_id
        for i in items
        if i.status not in ("waived", "rejected") and i.course_id not in waived
    }
    gaps_by_skill = {g.skill_id: g for g in planned.gaps}
    proposed: list[PlanItemState] = []
    need_approval: list[str] = []
    enroll: list[str] = []
    for plan_item in planned.plan.items:
        if plan_item.course_id in known:
            continue
        dues = [gaps_by_skill[s].due for s in plan_item.closes if s in gaps_by_skill]
        objective_due = min((d for d in dues if d is not None), default=None)
        item = PlanItemState(
            course_id=plan_item.course_id,
            title=plan_item.title,
            hours=plan_item.hours,
            cost=plan_item.cost,
            reason=plan_item.reason,
            skills=list(plan_item.closes),
            due=objective_due or (now.date() + timedelta(days=policy.due_days)),
            source_event=cause,
            transitions=[Transition(at=now, status="proposed", why=plan_item.reason)],
        )
        proposed.append(item)
        if needs_approval(item, policy) and has_manager:
            need_approval.append(item.course_id)
        else:
            enroll.append(item.course_id)
    return Reconciliation(waive, proposed, need_approval, enroll)
