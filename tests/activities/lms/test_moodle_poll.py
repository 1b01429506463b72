"""The completion poll at scale on Moodle: only the open enrolments the integration made, in
pages, least recently checked first, within a budget from the rate limit and the period."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fake_moodle import TEACHER, MoodleState, fake_moodle
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.lms.completions import (
    CompletionPollActivities,
    PollRequest,
    RecordDeliveries,
    poll_budget,
    polls_per_cycle,
)
from activities.lms.ledger import EnrollmentLedger
from activities.lms.moodle import MoodleConfig, MoodleLms
from activities.store.engine import open_engine, session_factory
from schemas.learning import EnrollRequest

STATUS = "core_completion_get_course_completion_status"


def site() -> MoodleState:
    s = MoodleState()
    s.add_course(10, "C-SQL", "SQL")
    s.add_course(11, "C-GIT", "Git")
    s.add_course(12, "C-NOCRIT", "No criteria")
    s.courses[12]["_criteria"] = False
    for i in range(8):
        s.add_user(100 + i, f"E{i:03}")
    s.add_user(200, "T001")
    return s


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def enroll(lms: MoodleLms, employee: str, course: str) -> None:
    lms.enroll(
        EnrollRequest(
            employee_id=employee, course_id=course, due=None, reason="gap", source_event="ev"
        )
    )


def status_calls(st: MoodleState) -> list[int]:
    return [int(form["userid"]) for _, fn, form in st.calls if fn == STATUS]


def test_the_poll_checks_open_enrolments_it_made_in_pages_within_its_budget(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    with fake_moodle(site()) as (url, st):
        lms = MoodleLms(
            MoodleConfig(url=url, token=st.token, calls_per_second=0),
            ledger=EnrollmentLedger(sessions, "moodle"),
        )
        for i in range(5):
            enroll(lms, f"E{i:03}", "C-SQL")
        enroll(lms, "E005", "C-NOCRIT")
        # Enrolments the integration did not make are never asked about.
        st.enrol(11, 200, roleid=TEACHER)
        st.enrol(11, 107)
        st.completed[(11, 107)] = 1_600_000_000
        done = int(datetime(2027, 1, 5, tzinfo=UTC).timestamp())
        st.completed[(10, 101)] = done
        st.completed[(10, 104)] = done
        poller = CompletionPollActivities(lms, sessions)
        # 0.01 calls/s over a 400 s period: 3 checks per poll (80 % of 4), 6 open: 2 polls.
        req = PollRequest(calls_per_second=0.01, period_s=400, page_size=2)
        assert poll_budget(req) == 3 and polls_per_cycle(6, 3) == 2

        st.calls.clear()
        with caplog.at_level(logging.WARNING, "activities.lms.completions"):
            first = poller.poll(req)
        assert "6 open enrolments at 0.01 calls/s take 2 polls" in caplog.text
        assert status_calls(st) == [100, 101, 102]
        assert [c.employee_id for c in first.completions] == ["E001"]

        st.calls.clear()
        second = poller.poll(req)
        # The rest, least recently checked first; the course without criteria is recorded
        # and skipped, not fatal.
        assert status_calls(st) == [103, 104, 105]
        assert [c.employee_id for c in second.completions] == ["E004"]
        assert lms.ledger is not None and lms.ledger.errors() == {"no_completion_criteria": 1}
        assert {fn for _, fn, _ in st.calls} == {STATUS}

        for polled in (first, second):
            poller.record(
                RecordDeliveries(
                    source_lms="moodle",
                    completions=polled.completions,
                    next_since=polled.next_since,
                )
            )
        # Delivered completions close their enrolments: 4 open ones are left to check.
        assert lms.ledger.count_open() == 4
        st.calls.clear()
        third = poller.poll(req.model_copy(update={"max_checks": 10}))
        assert sorted(status_calls(st)) == [100, 102, 103, 105]
        assert third.completions == []


def test_an_outage_mid_poll_is_retryable_and_the_next_poll_resumes(
    sessions: sessionmaker[Session],
) -> None:
    with fake_moodle(site()) as (url, st):
        lms = MoodleLms(
            MoodleConfig(url=url, token=st.token, calls_per_second=0),
            ledger=EnrollmentLedger(sessions, "moodle"),
        )
        for i in range(4):
            enroll(lms, f"E{i:03}", "C-SQL")
        poller = CompletionPollActivities(lms, sessions)
        st.calls.clear()
        st.faults += [("pass", None), ("pass", None), ("status", 503)]
        with pytest.raises(ApplicationError) as info:
            poller.poll(PollRequest(page_size=10))
        assert not info.value.non_retryable and "HTTP 503" in info.value.message
        st.calls.clear()
        poller.poll(PollRequest(max_checks=2))
        # The two not reached before the outage go first.
        assert status_calls(st) == [102, 103]


def test_without_a_rate_limit_one_poll_checks_everything(
    sessions: sessionmaker[Session],
) -> None:
    with fake_moodle(site()) as (url, st):
        lms = MoodleLms(
            MoodleConfig(url=url, token=st.token, calls_per_second=0),
            ledger=EnrollmentLedger(sessions, "moodle"),
        )
        for i in range(3):
            enroll(lms, f"E{i:03}", "C-GIT")
        st.calls.clear()
        CompletionPollActivities(lms, sessions).poll(PollRequest(page_size=2))
        assert status_calls(st) == [100, 101, 102]
        # Withdrawn enrolments are not polled any more.
        lms.withdraw("E000", "C-GIT")
        st.calls.clear()
        CompletionPollActivities(lms, sessions).poll(PollRequest())
        assert status_calls(st) == [101, 102]


def test_setup_schedules_a_poll_planned_with_the_rate_limit_and_a_catalog_sync(
    tmp_path: Path,
) -> None:
    from temporalio.client import ScheduleActionStartWorkflow

    from talentloop.dev.teststack import private_settings
    from talentloop.service.schedules import product_schedules

    builtin = product_schedules(private_settings(tmp_path))
    lms = {"lms-completion-poll", "lms-catalog-sync"}
    assert set(builtin) & lms == {"lms-completion-poll"}  # the catalog is ours: nothing to sync
    moodle = product_schedules(
        private_settings(
            tmp_path,
            lms_adapter="moodle",
            moodle_url="http://m.example",
            moodle_token="t",
            lms_poll_minutes=5,
        )
    )
    assert set(moodle) & lms == lms
    assert set(moodle) - lms == set(builtin) - lms  # the other schedules do not depend on the LMS
    action = moodle["lms-completion-poll"].action
    assert isinstance(action, ScheduleActionStartWorkflow)
    [req] = action.args
    assert isinstance(req, PollRequest)
    assert (req.calls_per_second, req.period_s, poll_budget(req)) == (5.0, 300, 1200)
