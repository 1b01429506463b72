"""The preview against a seeded SQLite database: per employee, the gaps and plans it computes
before and after a new objective-set version equal what the planner gives once that version is
recorded; it writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from support.events import role_review

from activities.directory import DirectoryActivities
from activities.lms.builtin import BuiltinLms
from activities.objectives import ObjectiveActivities
from activities.planning import PlanningActivities
from activities.rollout.authoring import read_objective_set
from activities.rollout.preview import PlanRules, Preview, preview_authored
from activities.store.engine import open_engine, session_factory
from activities.store.tables import EvidenceRow, LmsEnrollmentRow, ObjectiveSetRow
from schemas.learning import EnrollRequest, LearningPlan, LearningPolicy, PlanRequest
from schemas.rollout import ObjectiveSetEvent
from schemas.skills import Gap, Plan, Skill
from talentloop.dev.seed import seed
from talentloop.service.config import Settings
from workflows.employee.approvals import approver_for, needs_approval

DOCS = Path(__file__).resolve().parents[3] / "docs" / "examples"
ON = date(2027, 2, 15)
NOW = datetime(2027, 2, 15, 9, tzinfo=UTC)
RULES = PlanRules(needs_approval=needs_approval, approver_for=approver_for)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    path = tmp_path_factory.mktemp("preview") / "app.db"
    factory = session_factory(open_engine(f"sqlite:///{path}"))
    seed(factory, Settings().onet_dir, employees=42)
    planning = PlanningActivities(factory)
    directory = DirectoryActivities(factory)
    # Reviews for two thirds of the employees, a varying distance under their role.
    for n in range(1, 29):
        eid = f"E{n:05d}"
        review = role_review(
            factory,
            eid,
            f"ev-review-{n}",
            below=[0.5, 1.0, 2.0, 3.0][n % 4],
            skills=8,
            at=datetime(2026, 11, 20, tzinfo=UTC),
        )
        planning.plan(
            PlanRequest(employee=directory.get_employee(eid), event_id=f"ev-{n}", review=review)
        )
    v1 = read_objective_set(DOCS / "objectives-2026q4.yaml").objective_set
    ObjectiveActivities(factory).record(
        ObjectiveSetEvent(event_id="ev-v1", source="t", objective_set=v1)
    )
    # A few enrollments already made under v1.
    lms = BuiltinLms(factory)
    for eid in ("E00003", "E00010", "E00021"):
        planned = planning.plan(
            PlanRequest(employee=directory.get_employee(eid), event_id=f"ev-v1-{eid}", on=ON)
        )
        lms.enroll_many(
            [
                EnrollRequest(
                    employee_id=eid, course_id=i.course_id, due=None, reason="r", source_event="v1"
                )
                for i in planned.plan.items[:1]
            ]
        )
    return factory


def _gaps(gaps: list[Gap]) -> list[tuple[object, ...]]:
    return [
        (
            g.skill_id,
            round(g.target, 9),
            round(g.current, 9),
            round(g.size, 9),
            g.weight,
            g.objective_id,
            g.due,
        )
        for g in gaps
    ]


def _plan(plan: Plan) -> list[tuple[object, ...]]:
    # The planner words its reasons for people (`detail` keeps the numeric one the preview uses).
    items = [(i.course_id, i.detail or i.reason, i.hours, i.cost, i.closes) for i in plan.items]
    open_ = [(u.gap.skill_id, u.reason) for u in (*plan.uncoverable, *plan.deferred)]
    return [*items, *open_]


def _planner_says(sessions: sessionmaker[Session], eid: str, tag: str) -> LearningPlan:
    employee = DirectoryActivities(sessions).get_employee(eid)
    return PlanningActivities(sessions).plan(PlanRequest(employee=employee, event_id=tag, on=ON))


def _preview(sessions: sessionmaker[Session], hours_per_month: float | None = None) -> Preview:
    return preview_authored(
        sessions,
        read_objective_set(DOCS / "objectives-2027q1.yaml"),
        on=ON,
        now=NOW,
        policy=LearningPolicy(approval_hours_over=12, hours_per_month=hours_per_month),
        rules=RULES,
    )


def _counts(sessions: sessionmaker[Session]) -> tuple[int, ...]:
    with sessions() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (EvidenceRow, LmsEnrollmentRow, ObjectiveSetRow)
        )


def test_the_preview_equals_the_planner_employee_by_employee(
    sessions: sessionmaker[Session],
) -> None:
    written = _counts(sessions)
    preview = _preview(sessions)
    assert _counts(sessions) == written, "the preview wrote nothing"
    summary = preview.summary
    assert summary.in_scope == 42 and 0 < summary.affected <= 42
    assert summary.diff.old_version == 1 and summary.diff.new_version == 2
    rows = preview.rows
    skills: dict[str, Skill] = {}
    sample = [f"E{n:05d}" for n in (1, 2, 3, 7, 10, 15, 21, 26, 30, 33, 38, 41)]
    before = {eid: _planner_says(sessions, eid, f"cmp-before-{eid}") for eid in sample}
    # Record v2 as the rollout will: the planner now plans by it.
    v2 = read_objective_set(DOCS / "objectives-2027q1.yaml").objective_set
    ObjectiveActivities(sessions).record(
        ObjectiveSetEvent(event_id="ev-v2", source="t", objective_set=v2)
    )
    try:
        after = {eid: _planner_says(sessions, eid, f"cmp-after-{eid}") for eid in sample}
    finally:
        with sessions.begin() as s:
            s.delete(s.get(ObjectiveSetRow, ("strategy-2027", 2)))
    impacts = {e.employee_id: e for e in preview.employees}
    for eid in sample:
        row = rows[eid]
        assert _gaps(preview.gaps.before.gaps_for(row, skills)) == _gaps(before[eid].gaps), eid
        assert _gaps(preview.gaps.after.gaps_for(row, skills)) == _gaps(after[eid].gaps), eid
        if eid in preview.plans:
            plan_b, plan_a = preview.plans[eid]
            assert _plan(plan_b) == _plan(before[eid].plan), eid
            assert _plan(plan_a) == _plan(after[eid].plan), eid
            impact = impacts[eid]
            old = set(before[eid].plan.course_ids)
            assert impact.create == tuple(c for c in after[eid].plan.course_ids if c not in old)
        else:
            assert _gaps(before[eid].gaps) == _gaps(after[eid].gaps)
    assert any(eid in preview.plans for eid in sample)
    # The summary adds the employees up.
    assert summary.enrollments_create == sum(len(e.create) for e in preview.employees)
    assert summary.emails == sum(e.emails for e in preview.employees)
    assert summary.approvals == sum(len(e.approvals) for e in preview.employees) > 0
    assert sum(summary.affected_by_department.values()) == summary.affected


def test_a_version_not_newer_than_the_recorded_one_is_refused_with_its_line(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    from activities.rollout.authoring import ObjectiveSetFileError

    path = tmp_path / "old.yaml"
    path.write_text(
        (DOCS / "objectives-2027q1.yaml").read_text().replace("version: 2", "version: 1")
    )
    with pytest.raises(ObjectiveSetFileError) as err:
        preview_authored(
            sessions, read_objective_set(path), on=ON, now=NOW, policy=LearningPolicy(), rules=RULES
        )
    assert str(err.value) == (
        f"{path}:4: version: version 1 of strategy-2027 is not newer than the recorded version 1"
    )


def test_the_preview_reports_the_learning_load_the_budget_pushes_to_later_months(
    sessions: sessionmaker[Session],
) -> None:
    unbounded = _preview(sessions).summary
    assert unbounded.scheduled_later == 0 and unbounded.employees_over_budget == 0
    tight = _preview(sessions, hours_per_month=2.0)
    summary = tight.summary
    assert summary.scheduled_later > 0 and summary.employees_over_budget > 0
    assert summary.enrollments_create == unbounded.enrollments_create  # same plans, later
    for impact in tight.employees:
        assert set(impact.scheduled_later) <= set(impact.create)
    assert summary.hours_next_quarter_per_employee.max <= unbounded.hours_per_employee.max
