"""The employee workflow's rules, called without a server: reconciliation, approvals, the
plan state HR ops query, and the mail dedupe keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

from schemas.learning import (
    ApprovalDecision,
    Employee,
    LearningPlan,
    LearningPolicy,
    PlanItemState,
    Transition,
)
from schemas.skills import Gap, Plan, PlanItem
from workflows.employee import mail_keys
from workflows.employee.approvals import (
    approval_facts,
    approver_for,
    needs_approval,
    refuse_decision,
)
from workflows.employee.plan_state import plan_state
from workflows.employee.reconcile import reconcile

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
POLICY = LearningPolicy(due_days=30, approval_hours_over=16, approval_cost_over=None)


def gap(skill: str, due: date | None = None) -> Gap:
    return Gap(skill_id=skill, skill_name=skill, target=4, current=2, size=2, weight=1, due=due)


def course(cid: str, closes: tuple[str, ...], hours: float = 8) -> PlanItem:
    return PlanItem(course_id=cid, title=cid, hours=hours, closes=closes, reason=f"for {closes}")


def item(cid: str, status: str, skills: list[str]) -> PlanItemState:
    return PlanItemState(
        course_id=cid,
        title=cid,
        hours=8,
        reason="r",
        source_event="ev-0",
        skills=skills,
        status=status,  # type: ignore[arg-type]
        transitions=[Transition(at=NOW, status="proposed", why="r")],
    )


def planned(gaps: list[Gap], courses: list[PlanItem]) -> LearningPlan:
    return LearningPlan(
        employee_id="E1", event_id="ev", policy="p", gaps=gaps, plan=Plan(items=tuple(courses))
    )


def test_reconcile_waives_closed_gaps_keeps_known_courses_and_splits_new_ones() -> None:
    items = [
        item("c-old", "enrolled", ["sql"]),  # its gap closed: waived
        item("c-keep", "enrolled", ["python"]),  # still planned: left alone
        item("c-rejected", "rejected", ["python"]),  # rejected before: proposed anew
    ]
    plan = planned(
        [gap("python"), gap("cloud", due=date(2027, 4, 30))],
        [
            course("c-keep", ("python",)),
            course("c-rejected", ("python",)),
            course("c-long", ("cloud",), hours=40),
        ],
    )
    change = reconcile(items, plan, POLICY, now=NOW, cause="ev-1", has_manager=True)
    assert change.waive == ["c-old"]
    assert [i.course_id for i in change.proposed] == ["c-rejected", "c-long"]
    assert change.need_approval == ["c-long"] and change.enroll == ["c-rejected"]
    by_id = {i.course_id: i for i in change.proposed}
    assert by_id["c-long"].due == date(2027, 4, 30)  # the objective's due date wins
    assert by_id["c-rejected"].due == date(2027, 3, 31)  # else now + due_days
    assert all(i.source_event == "ev-1" and i.status == "proposed" for i in change.proposed)


def test_without_a_manager_nothing_waits_for_approval() -> None:
    plan = planned([gap("cloud")], [course("c-long", ("cloud",), hours=40)])
    change = reconcile([], plan, POLICY, now=NOW, cause="ev", has_manager=False)
    assert change.enroll == ["c-long"] and change.need_approval == []


def test_approval_rules() -> None:
    pending = item("c", "awaiting_approval", ["x"]).model_copy(
        update={"approver_id": "M1", "approval_requested_at": NOW, "hours": 20}
    )
    assert needs_approval(pending, POLICY)
    assert not needs_approval(pending, LearningPolicy(approval_hours_over=None))
    yes = ApprovalDecision(course_id="c", approver_id="M1", approve=True)
    assert refuse_decision(pending, yes, []) is None
    assert refuse_decision(pending, yes, [yes]) == (
        "no approval is pending for course c: it is being decided"
    )
    other = ApprovalDecision(course_id="c", approver_id="M2", approve=True)
    assert refuse_decision(pending, other, []) == "course c awaits approval by M1, not M2"
    assert approval_facts(pending, POLICY, NOW) == {
        "respond_by": "2027-03-06",
        "next_step": "escalation to the next manager",
    }
    escalated = pending.model_copy(update={"escalations": 1})
    assert approval_facts(escalated, POLICY, NOW)["next_step"] == "approve"


def test_plan_state_takes_the_first_that_holds() -> None:
    assert plan_state([], left=True) == "left"
    assert plan_state([item("a", "enrolled", []), item("b", "overdue", [])], False) == "overdue"
    assert plan_state([item("a", "awaiting_approval", [])], False) == "awaiting_approval"
    assert plan_state([item("a", "enrolled", [])], False) == "enrolled"
    assert plan_state([item("a", "completed", [])], False) == "idle"


def test_mail_keys_are_the_ones_recorded_in_the_outboxes_of_released_versions() -> None:
    assert mail_keys.enrollment("ev-1") == "enrollment:ev-1"
    assert mail_keys.approved_enrollment("E1", "c") == "enrollment:E1:c:approved"
    assert mail_keys.completed("E1", "c") == "E1:completed:c"
    assert mail_keys.approval_request("E1", "c", "M1") == "E1:approval:c:M1"
    assert mail_keys.approval_escalation("E1", "c", 1) == "E1:escalation:c:1"
    assert mail_keys.reminder("E1", "c", 7) == "E1:reminder:c:7"
    assert mail_keys.overdue("E1", "c") == "E1:overdue:c"
    assert mail_keys.overdue_escalation("E1", "c") == "E1:overdue-escalation:c"


def test_hr_approves_while_the_manager_is_unknown() -> None:
    base = dict(id="E1", name="E", email="e@example.com", role_id="r", role_title="R")
    known = Employee(**base, manager_id="M1", manager_name="Manager")
    unknown = Employee(**base, manager_id="M9")
    with_hr = LearningPolicy(hr_approver_id="HR1")
    assert approver_for(known, with_hr) == ("M1", None)
    approver, why = approver_for(unknown, with_hr)
    assert approver == "HR1" and why is not None and "M9" in why
    assert approver_for(unknown, LearningPolicy()) == ("M9", None)  # no HR named: as before
