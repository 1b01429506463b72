"""The planning activity against a seeded SQLite database (real O*NET roles, generated rest)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from support.events import role_review

from activities.directory import DirectoryActivities
from activities.lms.builtin import BuiltinLms
from activities.planning import PlanningActivities
from activities.store.engine import open_engine, session_factory
from schemas.learning import EnrollRequest, PlanRequest
from talentloop.dev.seed import seed
from talentloop.service.config import Settings


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    path: Path = tmp_path_factory.mktemp("planning") / "app.db"
    factory = session_factory(open_engine(f"sqlite:///{path}"))
    seed(factory, Settings().onet_dir, employees=12)
    return factory


def review_request(sessions: sessionmaker[Session], employee_id: str, event_id: str) -> PlanRequest:
    """A manager review two levels under the role on its three most important skills."""
    review = role_review(
        sessions,
        employee_id,
        event_id,
        below=2,
        skills=3,
        digits=None,
        reviewer_id="M-1",
        at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    employee = DirectoryActivities(sessions).get_employee(employee_id)
    return PlanRequest(employee=employee, event_id=event_id, review=review)


def test_a_retried_plan_chooses_what_its_own_enrollments_took(
    sessions: sessionmaker[Session],
) -> None:
    planning = PlanningActivities(sessions)
    req = review_request(sessions, "E00003", "ev-plan-1")
    first = planning.plan(req)
    courses = [i.course_id for i in first.plan.items]
    assert courses, "the review leaves gaps a course closes"
    BuiltinLms(sessions).enroll_many(
        [
            EnrollRequest(
                employee_id="E00003", course_id=c, due=None, reason="r", source_event="ev-plan-1"
            )
            for c in courses
        ]
    )
    # The same event again (a retried workflow task): the same plan, so the same enrollments
    # and the same email follow.
    again = planning.plan(req)
    assert [i.course_id for i in again.plan.items] == courses
    # A later event: those courses are taken now and are not chosen again.
    later = planning.plan(review_request(sessions, "E00003", "ev-plan-2"))
    assert not {i.course_id for i in later.plan.items} & set(courses)
