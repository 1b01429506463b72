"""What the search attribute `PlanState` says of a plan, for HR ops' queries."""

from __future__ import annotations

from schemas.learning import ENROLLED_STATUSES, PlanItemState


def plan_state(items: list[PlanItemState], left: bool) -> str:
    """The plan's state: left, overdue, awaiting_approval, enrolled or idle (first that holds)."""
    if left:
        return "left"
    if any(i.status == "overdue" for i in items):
        return "overdue"
    if any(i.status == "awaiting_approval" for i in items):
        return "awaiting_approval"
    if any(i.status in ENROLLED_STATUSES for i in items):
        return "enrolled"
    return "idle"
