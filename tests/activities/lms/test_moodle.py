"""The Moodle adapter against a real HTTP server answering as Moodle's REST protocol does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fake_moodle import MoodleState, fake_moodle
from temporalio.exceptions import ApplicationError

from activities.lms.activities import LmsActivities
from activities.lms.limits import TokenBucket
from activities.lms.moodle import MoodleConfig, MoodleLms, SkillMapping, encode_params
from activities.lms.port import LmsError
from schemas.learning import EnrollRequest
from schemas.lms import CompletionsRequest, EnrollmentKey


def state() -> MoodleState:
    s = MoodleState()
    s.add_course(1, "", "Front page")
    s.add_course(
        10,
        "C-SQL",
        "SQL for analysts",
        customfields=[
            {
                "name": "Skills",
                "shortname": "skills",
                "type": "text",
                "valueraw": "Programming, onet:2.A.1.e",
                "value": "Programming, onet:2.A.1.e",
            }
        ],
    )
    s.add_course(11, "C-GIT", "Git basics")
    s.tags[77] = {11}
    s.add_user(100, "E001")
    s.add_user(101, "E002")
    return s


@pytest.fixture
def moodle() -> Iterator[tuple[MoodleLms, MoodleState]]:
    with fake_moodle(state()) as (url, st):
        lms = MoodleLms(
            MoodleConfig(
                url=url,
                token=st.token,
                timeout_s=1.0,
                calls_per_second=0,
                skills=SkillMapping(values={"Programming": "onet:2.B.3.e"}, tags={77: "onet:git"}),
            )
        )
        yield lms, st
        lms.close()


def req(employee: str = "E001", course: str = "C-SQL", due: date | None = None) -> EnrollRequest:
    return EnrollRequest(
        employee_id=employee, course_id=course, due=due, reason="gap", source_event="ev-1"
    )


def error_of(fn: object) -> LmsError:
    with pytest.raises(LmsError) as info:
        fn()  # type: ignore[operator]
    return info.value


def test_params_use_moodles_form_encoding() -> None:
    assert encode_params(
        {"enrolments": [{"userid": 7, "courseid": 3, "suspend": False}], "field": "id"}
    ) == [
        ("enrolments[0][userid]", "7"),
        ("enrolments[0][courseid]", "3"),
        ("enrolments[0][suspend]", "0"),
        ("field", "id"),
    ]


def test_enrol_and_unenrol_round_trip(moodle: tuple[MoodleLms, MoodleState]) -> None:
    lms, st = moodle
    got = lms.enroll(req())
    assert (got.enrollment_id, got.status) == ("moodle-10-100", "enrolled")
    assert st.enrolments[(10, 100)]["roleid"] == 5
    assert abs(st.enrolments[(10, 100)]["timestart"] - time.time()) < 60
    assert st.enrolments[(10, 100)]["timeend"] == 0
    # Enrolling again is success (Moodle keeps one enrolment).
    assert lms.enroll(req()).enrollment_id == got.enrollment_id
    assert len(st.enrolments) == 1
    now = lms.status("E001", "C-SQL")
    assert now is not None and now.status == "enrolled"
    gone = lms.withdraw("E001", "C-SQL")
    assert gone is not None and gone.status == "withdrawn"
    assert st.enrolments == {}
    assert lms.status("E001", "C-SQL") is None
    assert lms.withdraw("E001", "C-SQL") is None


def test_timeend_follows_the_due_date_when_configured() -> None:
    with fake_moodle(state()) as (url, st):
        lms = MoodleLms(MoodleConfig(url=url, token=st.token, timeend_days_after_due=7))
        lms.enroll(req(due=date(2027, 3, 1)))
        end = datetime.fromtimestamp(st.enrolments[(10, 100)]["timeend"], UTC)
        assert end == datetime(2027, 3, 8, 23, 59, 59, tzinfo=UTC)


def test_completion_status_and_completions_since(moodle: tuple[MoodleLms, MoodleState]) -> None:
    lms, st = moodle
    lms.enroll(req("E001"))
    lms.enroll(req("E002"))
    lms.enroll(req("E001", "C-GIT"))
    done = datetime(2027, 2, 1, 10, 0, tzinfo=UTC)
    st.completed[(10, 100)] = int(done.timestamp())
    st.completed[(11, 100)] = int((done - timedelta(days=30)).timestamp())
    status = lms.status("E001", "C-SQL")
    assert status is not None and (status.status, status.completed_at) == ("completed", done)
    other = lms.status("E002", "C-SQL")
    assert other is not None and other.status == "enrolled"
    found = lms.completions(CompletionsRequest(since=done - timedelta(days=1)))
    assert [(c.enrollment_id, c.employee_id, c.course_id, c.completed_at) for c in found] == [
        ("moodle-10-100", "E001", "C-SQL", done)
    ]
    assert found[0].source_lms == "moodle"
    assert len(lms.completions(CompletionsRequest(since=done - timedelta(days=60)))) == 2


def test_catalog_maps_custom_fields_and_tags_to_skills(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, _ = moodle
    courses = {c.course_id: c for c in lms.catalog()}
    assert set(courses) == {"C-SQL", "C-GIT"}
    assert courses["C-SQL"].skills == ["onet:2.A.1.e", "onet:2.B.3.e"]
    assert courses["C-GIT"].skills == ["onet:git"]
    assert courses["C-SQL"].external_id == "10"


def test_moodle_errors_are_mapped(moodle: tuple[MoodleLms, MoodleState]) -> None:
    lms, st = moodle
    cases = {
        "unknown_course": lambda: lms.enroll(req(course="C-NOPE")),
        "unknown_user": lambda: lms.enroll(req(employee="E404")),
    }
    for code, fn in cases.items():
        err = error_of(fn)
        assert (err.code, err.retryable) == (code, False), err
    # A course deleted after it was looked up: Moodle answers invalidrecord (context).
    lms.enroll(req())
    del st.courses[10]
    err = error_of(lambda: lms.enroll(req()))
    assert (err.code, err.retryable) == ("unknown_course", False)
    st.granted.discard("enrol_manual_unenrol_users")
    lms2 = MoodleLms(MoodleConfig(url=lms.config.url, token=st.token))
    err = error_of(lambda: lms2.call("enrol_manual_unenrol_users", enrolments=[]))
    assert (err.code, err.retryable) == ("access_denied", False)
    bad = MoodleLms(MoodleConfig(url=lms.config.url, token="wrong"))
    err = error_of(lambda: bad.enroll(req()))
    assert (err.code, err.retryable) == ("invalid_token", False)
    assert "Invalid token" in str(err)


def test_transient_failures_are_retryable(moodle: tuple[MoodleLms, MoodleState]) -> None:
    lms, st = moodle
    for fault, code in [
        (("status", 503), "unavailable"),
        (("status", 500), "unavailable"),
        (("status", 429), "rate_limited"),
        (("sleep", 1.5), "timeout"),
        (("html", None), "unavailable"),
        (
            (
                "body",
                {
                    "exception": "moodle_exception",
                    "errorcode": "sitemaintenance",
                    "message": "Site is undergoing maintenance and is currently not available",
                },
            ),
            "unavailable",
        ),
    ]:
        st.faults.append(fault)
        err = error_of(lambda: lms.enroll(req()))
        assert (err.code, err.retryable) == (code, True), fault
    # Once the trouble is over, the same call succeeds.
    assert lms.enroll(req()).status == "enrolled"


def test_activity_failures_are_non_retryable_only_when_permanent(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, st = moodle
    acts = LmsActivities(lms)
    with pytest.raises(ApplicationError) as perm:
        acts.enroll(req(employee="E404"))
    assert perm.value.non_retryable and perm.value.type == "LmsError"
    assert perm.value.details[0] == "unknown_user"
    st.faults.append(("status", 502))
    with pytest.raises(ApplicationError) as transient:
        acts.status(EnrollmentKey(employee_id="E001", course_id="C-SQL"))
    assert not transient.value.non_retryable
    assert transient.value.details[0] == "unavailable"


def test_rate_limit_and_concurrency_bound() -> None:
    with fake_moodle(state()) as (url, st):
        lms = MoodleLms(
            MoodleConfig(url=url, token=st.token, calls_per_second=20, max_concurrent=2)
        )
        st.delay_s = 0.02
        started = time.monotonic()
        threads = [
            threading.Thread(
                target=lambda: lms.call("core_user_get_users_by_field", field="id", values=[1])
            )
            for _ in range(30)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - started
        assert len(st.calls) == 30
        assert st.peak_in_flight <= 2
        # A burst of 20, then 10 more at 20 calls/s: at least half a second.
        assert elapsed >= 0.45


def test_token_bucket_spaces_calls_after_the_burst() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(d: float) -> None:
        slept.append(d)
        now[0] += d

    bucket = TokenBucket(10, burst=3, clock=lambda: now[0], sleep=sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(w == pytest.approx(0.1) for w in waits[3:])
    assert now[0] == pytest.approx(0.3)
