"""The planning activity against a seeded SQLite database (real O*NET roles, generated rest)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from support.events import role_review
from temporalio.exceptions import ApplicationError

from activities.directory import DirectoryActivities
from activities.errors import FailureType, LmsCode
from activities.lms.builtin import BuiltinLms
from activities.planning import PlanningActivities
from activities.store.engine import open_engine, session_factory
from activities.store.tables import EvidenceRow, SkillRow
from activities.store.waivers import restore_gap, waive_gap, waiver_history
from schemas.events import SkillRating
from schemas.learning import CompletionRequest, EnrollRequest, LearningPlan, PlanRequest
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


def evidence_rows(sessions: sessionmaker[Session], employee_id: str, **where: str) -> int:
    query = select(func.count()).select_from(EvidenceRow)
    query = query.where(EvidenceRow.employee_id == employee_id)
    for column, value in where.items():
        query = query.where(getattr(EvidenceRow, column) == value)
    with sessions() as s:
        return int(s.scalar(query) or 0)


def test_ratings_of_skills_not_in_the_framework_are_ignored_and_flagged(
    sessions: sessionmaker[Session],
) -> None:
    planning = PlanningActivities(sessions)
    req = review_request(sessions, "E00005", "ev-unknown-1")
    assert req.review is not None
    bogus = [SkillRating(skill_id=f"esco:made-up-{i}", rating=1.0) for i in range(197)]
    review = req.review.model_copy(update={"ratings": [*req.review.ratings, *bogus]})
    planned = planning.plan(req.model_copy(update={"review": review}))
    # Only the three real ratings became evidence; one line flags the 197 others.
    assert evidence_rows(sessions, "E00005", ref=review.review_id) == 3
    flags = [u for u in planned.plan.uncoverable if u.gap.source == "review"]
    assert len(flags) == 1
    text = f"{flags[0].gap.skill_name}: {flags[0].reason}"  # what the timeline shows
    assert text.startswith("197 rated skills not in the skills framework: ratings ignored")
    assert "esco:made-up-0" in text and "and 192 more" in text
    assert planned.plan.items, "the real ratings are still planned for"
    # The same review again (a retry): the same plan, no more evidence.
    again = planning.plan(req.model_copy(update={"review": review}))
    assert again == planned
    assert evidence_rows(sessions, "E00005", ref=review.review_id) == 3


def test_a_skill_imported_after_the_reference_was_cached_counts_as_known(
    sessions: sessionmaker[Session],
) -> None:
    planning = PlanningActivities(sessions, catalog_ttl=3600)
    req = review_request(sessions, "E00006", "ev-new-skill-1")
    planning.plan(req)  # fills the cache
    with sessions.begin() as s:
        s.add(SkillRow(id="onet:9.Z.new", name="A new skill", description="", anchors={}))
    assert req.review is not None
    new = SkillRating(skill_id="onet:9.Z.new", rating=2.0)
    review = req.review.model_copy(
        update={"review_id": "rev-new-skill-2", "ratings": [*req.review.ratings, new]}
    )
    planned = planning.plan(req.model_copy(update={"event_id": "ev-new-2", "review": review}))
    assert not [u for u in planned.plan.uncoverable if u.gap.source == "review"]
    assert evidence_rows(sessions, "E00006", skill_id="onet:9.Z.new") == 1


def test_completing_a_course_not_in_the_catalog_records_nothing_and_fails_for_good(
    sessions: sessionmaker[Session],
) -> None:
    planning = PlanningActivities(sessions)
    employee = DirectoryActivities(sessions).get_employee("E00007")
    req = CompletionRequest(
        employee=employee,
        course_id="C-DOES-NOT-EXIST",
        completed_at=datetime(2026, 12, 1, tzinfo=UTC),
        event_id="ev-done-1",
    )
    with pytest.raises(ApplicationError) as err:
        planning.record_completion(req)
    assert err.value.non_retryable and err.value.type == FailureType.LMS
    assert err.value.details == (LmsCode.UNKNOWN_COURSE,)
    assert "course C-DOES-NOT-EXIST is not in the catalog" in err.value.message
    assert evidence_rows(sessions, "E00007", ref="course:C-DOES-NOT-EXIST") == 0


def gap_skills(planned: LearningPlan) -> set[str]:
    return {g.skill_id for g in planned.gaps}


def test_rule_assess_as_of_now_a_late_older_self_review_hides_no_newer_evidence(
    sessions: sessionmaker[Session],
) -> None:
    """An older self-review processed after a newer manager review leaves the manager's gaps."""
    planning = PlanningActivities(sessions, today=lambda: date(2026, 12, 1))
    manager = review_request(sessions, "E00008", "ev-asof-manager")  # 2026-11-20, 2 below
    planned = planning.plan(manager)
    assert manager.review is not None
    rated = {r.skill_id for r in manager.review.ratings}
    assert rated <= gap_skills(planned)
    # The employee's own review, from October, arrives late and rates every skill at 7.
    own = manager.review.model_copy(
        update={
            "review_id": "rev-asof-self",
            "reviewer_id": "E00008",
            "reviewer_kind": "self",
            "completed_at": datetime(2026, 10, 1, tzinfo=UTC),
            "ratings": [SkillRating(skill_id=s, rating=7.0) for s in sorted(rated)],
        }
    )
    late = planning.plan(manager.model_copy(update={"event_id": "ev-asof-self", "review": own}))
    assert rated <= gap_skills(late), "the manager's newer rating still decides"
    assert late.assessed_on == date(2026, 12, 1)
    # Reasons in words: the evidence by kind of rater and date, never the rater's id.
    reasons = " ".join(i.reason for i in late.plan.items)
    assert "manager review rev-ev-asof-manager of 2026-11-20" in reasons
    assert "M-1" not in reasons and all(i.detail for i in late.plan.items)
    assert late.policy == "manager_over_self" and late.min_gap == 0.5


def test_rule_a_corrected_review_replaces_the_earlier_rating(
    sessions: sessionmaker[Session],
) -> None:
    """The same review re-sent with a later CloudEvents time replaces its ratings; the plan
    follows. An older version arriving after it changes nothing."""
    planning = PlanningActivities(sessions, today=lambda: date(2026, 12, 1))
    first = review_request(sessions, "E00009", "ev-corr-1")
    assert first.review is not None
    t1 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    planned = planning.plan(first.model_copy(update={"event_time": t1}))
    rated = {r.skill_id for r in first.review.ratings}
    assert rated <= gap_skills(planned)
    # The reviewer corrects the review: every skill at 7 (same review id, later time).
    fixed = first.review.model_copy(
        update={"ratings": [SkillRating(skill_id=s, rating=7.0) for s in sorted(rated)]}
    )
    corrected = planning.plan(
        first.model_copy(
            update={"event_id": "ev-corr-2", "review": fixed, "event_time": t1 + timedelta(hours=2)}
        )
    )
    assert not rated & gap_skills(corrected)
    assert evidence_rows(sessions, "E00009", ref=first.review.review_id) == len(rated)
    # The first version delivered again, late (older CloudEvents time): the correction holds.
    stale = planning.plan(
        first.model_copy(update={"event_id": "ev-corr-0", "event_time": t1 - timedelta(hours=1)})
    )
    assert not rated & gap_skills(stale)
    # A retry of the correction itself: the same plan.
    again = planning.plan(
        first.model_copy(
            update={"event_id": "ev-corr-2", "review": fixed, "event_time": t1 + timedelta(hours=2)}
        )
    )
    assert gap_skills(again) == gap_skills(corrected)


def test_a_waived_gap_is_no_gap_and_the_waiver_is_shown_until_restored(
    sessions: sessionmaker[Session],
) -> None:
    planning = PlanningActivities(sessions, today=lambda: date(2026, 12, 1))
    req = review_request(sessions, "E00010", "ev-waive-1")
    assert req.review is not None
    skill = req.review.ratings[0].skill_id
    assert skill in gap_skills(planning.plan(req))
    waive_gap(sessions, "E00010", skill, reason="recognised prior learning", by="HR-1")
    waived = planning.plan(req.model_copy(update={"event_id": "ev-waive-2"}))
    assert skill not in gap_skills(waived)
    assert waived.waived == {skill: "recognised prior learning"}
    restore_gap(sessions, "E00010", skill, reason="certificate expired", by="HR-2")
    restored = planning.plan(req.model_copy(update={"event_id": "ev-waive-3"}))
    assert skill in gap_skills(restored) and not restored.waived
    [audit] = waiver_history(sessions, "E00010")
    assert (audit.waived_by, audit.restored_by, audit.restore_reason) == (
        "HR-1",
        "HR-2",
        "certificate expired",
    )
