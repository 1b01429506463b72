"""Employee goals: the goals.apply activity (SQLite and PostgreSQL) and goal gaps in plans."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from dbs import database
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.directory import DirectoryActivities
from activities.goals import GoalActivities, alignment_report, employee_goals
from activities.objectives import ObjectiveActivities
from activities.planning import PlanningActivities
from activities.store.engine import open_engine, session_factory
from activities.store.tables import CourseRow, EmployeeRow, RoleRow
from schemas.events import GoalChanged, InboundEvent
from schemas.goals import GoalApplyRequest
from schemas.learning import PlanRequest
from schemas.outbound import GOAL_ALIGNED, GOAL_UNALIGNED, GoalAligned, GoalUnaligned
from schemas.rollout import ObjectiveSetEvent
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.dev.seed import seed
from talentloop.service.config import Settings

ON = date(2026, 12, 1)
AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def goal(**over: Any) -> GoalChanged:
    data: dict[str, Any] = {
        "goal_id": "g-1",
        "employee_id": "E001",
        "title": "Security architecture certification",
        "change": "set",
        "due": "2027-06-30",
        "weight": 50,
        "aligned_to": [{"objective_set_id": "strategy", "objective_id": "Q3-cloud"}],
    }
    data.update(over)
    return GoalChanged.model_validate_json(json.dumps(data))


def objective_set(version: int, skill: str, target: float = 5.0) -> ObjectiveSetEvent:
    return ObjectiveSetEvent(
        event_id=f"obj-v{version}",
        source="tests",
        objective_set=ObjectiveSet(
            id="strategy",
            version=version,
            effective_from=date(2026, 1, version),
            objectives=(
                Objective(
                    id="Q3-cloud",
                    title="Q3 cloud security",
                    priority=3,
                    requirements=(ObjectiveRequirement(skill_id=skill, target=target),),
                ),
            ),
        ),
    )


def request(event_id: str, body: GoalChanged, at: datetime = AT) -> GoalApplyRequest:
    event = InboundEvent(event_id=event_id, type="goal.changed.v1", source="t", time=at, goal=body)
    return GoalApplyRequest.of(event, on=ON)


# -- the store and the activity, on SQLite and PostgreSQL -------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def small(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with database(request.param, tmp_path) as url:
        sessions = session_factory(open_engine(url))
        with sessions.begin() as s:
            s.add(RoleRow(id="dev", title="Developer"))
            s.flush()
            for n, dept in ((1, "Platform"), (2, "Platform"), (3, "Sales")):
                s.add(
                    EmployeeRow(
                        id=f"E00{n}",
                        name=f"P{n}",
                        email=f"p{n}@x.example",
                        role_id="dev",
                        department=dept,
                    )
                )
        yield sessions


def test_apply_records_once_and_returns_the_alignment(small: sessionmaker[Session]) -> None:
    ObjectiveActivities(small).record(objective_set(1, "onet:2.B.3.e"))
    goals = GoalActivities(small)
    first = goals.apply(request("ev-1", goal()))
    assert first.changed and first.status == "active" and first.alignment == "aligned"
    assert [
        (o.objective_set_id, o.objective_set_version, o.objective_id) for o in first.objectives
    ] == [("strategy", 1, "Q3-cloud")]
    assert first.skills == ["onet:2.B.3.e"]  # derived from the objective
    kind, data = first.outbound()
    assert kind == GOAL_ALIGNED and isinstance(data, GoalAligned)
    # The same event again (a retry, a redelivery): nothing changes, the same answer.
    again = goals.apply(request("ev-1", goal()))
    assert not again.changed and again.model_copy(update={"changed": True}) == first
    # An older state delivered late changes nothing; a newer one replaces the goal.
    old = goals.apply(
        request("ev-0", goal(change="cancelled"), at=datetime(2026, 11, 1, tzinfo=UTC))
    )
    assert not old.changed and old.status == "active"
    done = goals.apply(
        request("ev-2", goal(change="completed"), at=datetime(2026, 12, 2, tzinfo=UTC))
    )
    assert done.changed and done.status == "completed" and done.skills == []


def test_a_goal_aligned_to_an_objective_not_in_force_is_unaligned(
    small: sessionmaker[Session],
) -> None:
    ObjectiveActivities(small).record(objective_set(1, "onet:2.B.3.e"))
    goals = GoalActivities(small)
    ref = [{"objective_set_id": "strategy", "objective_id": "Q9-gone"}]
    own = [{"skill_id": "onet:2.A.1.a", "target_level": 4}]
    applied = goals.apply(request("ev-u", goal(goal_id="g-2", aligned_to=ref, skills=own)))
    assert applied.alignment == "unaligned"
    assert applied.reason == "objective strategy/Q9-gone is not in force"
    assert applied.skills == ["onet:2.A.1.a"]  # it still gets the skills it names
    kind, data = applied.outbound()
    assert kind == GOAL_UNALIGNED and isinstance(data, GoalUnaligned)
    none = goals.apply(request("ev-n", goal(goal_id="g-3", employee_id="E002", aligned_to=[])))
    assert none.alignment == "unaligned" and none.reason == "aligned to no objective"


def test_alignment_report_per_department_and_role(small: sessionmaker[Session]) -> None:
    ObjectiveActivities(small).record(objective_set(1, "onet:2.B.3.e"))
    goals = GoalActivities(small)
    goals.apply(request("a", goal()))
    goals.apply(request("b", goal(goal_id="g-9", employee_id="E002", aligned_to=[])))
    with small() as s:
        report = alignment_report(s, ON)
        platform = alignment_report(s, ON, department="Platform")
        views = employee_goals(s, "E001", ON)
    assert (report.total.employees, report.total.employees_aligned) == (3, 1)
    assert (report.total.goals, report.total.goals_unaligned) == (2, 1)
    by_dept = {r.group: (r.employees, r.employees_aligned) for r in report.by_department}
    assert by_dept == {"Platform": (2, 1), "Sales": (1, 0)}
    assert [r.group for r in report.by_role] == ["dev"]
    assert report.unpicked == []
    assert platform.total.employees == 2 and platform.total.share_aligned == 0.5
    assert [(v.goal_id, v.alignment) for v in views] == [("g-1", "aligned")]
    # Once the only aligned goal is cancelled, the objective is picked up by nobody.
    goals.apply(request("c", goal(change="cancelled"), at=datetime(2026, 12, 2, tzinfo=UTC)))
    with small() as s:
        assert alignment_report(s, ON).unpicked == ["strategy/Q3-cloud"]


# -- goal gaps in the planner (seeded SQLite: real O*NET roles) -------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    path = tmp_path_factory.mktemp("goals") / "app.db"
    factory = session_factory(open_engine(f"sqlite:///{path}"))
    seed(factory, Settings().onet_dir, employees=6)
    return factory


def taught_skills(sessions: sessionmaker[Session], employee_id: str) -> list[tuple[str, float]]:
    """Skills a catalog course teaches that the employee's role does not ask for highly."""
    with sessions() as s:
        courses = [c.to_course() for c in s.scalars(select(CourseRow).where(CourseRow.offered))]
    found: dict[str, float] = {}
    for c in courses:
        for t in c.teaches:
            found[t.skill_id] = max(found.get(t.skill_id, 0.0), t.to_level)
    assert found
    return sorted(found.items())


def plan_for(sessions: sessionmaker[Session], employee_id: str, event_id: str) -> Any:
    employee = DirectoryActivities(sessions).get_employee(employee_id)
    return PlanningActivities(sessions, today=lambda: ON).plan(
        PlanRequest(employee=employee, event_id=event_id, on=ON)
    )


def goal_gaps(planned: Any, goal_id: str) -> list[Any]:
    return [g for g in planned.gaps if g.objective_id == f"goal:{goal_id}"]


def test_a_goal_adds_gaps_that_name_it_with_its_due_date_and_cancel_removes_them(
    seeded: sessionmaker[Session],
) -> None:
    skill, level = taught_skills(seeded, "E00002")[0]
    goals = GoalActivities(seeded, today=lambda: ON)
    own = [{"skill_id": skill, "target_level": level}]
    body = goal(goal_id="g-own", employee_id="E00002", aligned_to=[], skills=own, weight=100)
    goals.apply(request("g-own-1", body))
    planned = plan_for(seeded, "E00002", "plan-1")
    (gap,) = goal_gaps(planned, "g-own")
    assert gap.skill_id == skill and gap.due == date(2027, 6, 30)
    assert gap.source_title == "your goal 'Security architecture certification'"
    reasons = [i.reason for i in planned.plan.items if skill in i.closes]
    assert reasons and "for your goal 'Security architecture certification'" in reasons[0]
    # Updated with a new due date: the gap follows.
    updated = goal(**{**body.model_dump(mode="json"), "change": "updated", "due": "2027-03-31"})
    goals.apply(request("g-own-2", updated, at=datetime(2026, 12, 1, 10, tzinfo=UTC)))
    (gap,) = goal_gaps(plan_for(seeded, "E00002", "plan-2"), "g-own")
    assert gap.due == date(2027, 3, 31)
    # Cancelled: the goal's gaps are gone.
    cancelled = goal(**{**body.model_dump(mode="json"), "change": "cancelled"})
    goals.apply(request("g-own-3", cancelled, at=datetime(2026, 12, 1, 11, tzinfo=UTC)))
    assert goal_gaps(plan_for(seeded, "E00002", "plan-3"), "g-own") == []


def test_an_aligned_goal_follows_a_newer_version_of_its_objective(
    seeded: sessionmaker[Session],
) -> None:
    (first, _), (second, _) = taught_skills(seeded, "E00003")[:2]
    objectives = ObjectiveActivities(seeded)
    objectives.record(objective_set(1, first))
    goals = GoalActivities(seeded, today=lambda: ON)
    # Weight 100 %: priority 5, so the goal (not the objective itself) wins the skill's target.
    body = goal(goal_id="g-al", employee_id="E00003", weight=100)
    applied = goals.apply(request("g-al-1", body))
    assert applied.alignment == "aligned" and applied.skills == [first]
    planned = plan_for(seeded, "E00003", "plan-al-1")
    (gap,) = goal_gaps(planned, "g-al")
    assert gap.skill_id == first
    assert gap.source_title == (
        "your goal 'Security architecture certification', aligned to 'Q3 cloud security'"
    )
    objectives.record(objective_set(2, second))
    (gap,) = goal_gaps(plan_for(seeded, "E00003", "plan-al-2"), "g-al")
    assert gap.skill_id == second


def test_the_result_travels_through_temporal_and_publishes_as_an_outbound_event(
    small: sessionmaker[Session],
) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    from schemas.goals import GoalApplied
    from schemas.outbound import PublishRequest, outbound_event

    applied = GoalActivities(small).apply(request("ev-t", goal(aligned_to=[])))
    converter = pydantic_data_converter.payload_converter
    payload = converter.to_payloads([applied])
    assert converter.from_payloads(payload, [GoalApplied]) == [applied]
    kind, data = applied.outbound()
    envelope = outbound_event(kind, data, cause_id="ev-t", time=AT)
    again = outbound_event(kind, data, cause_id="ev-t", time=AT)
    assert envelope.id == again.id and envelope.subject == "E001"
    assert PublishRequest.of(envelope).event.type == GOAL_UNALIGNED
