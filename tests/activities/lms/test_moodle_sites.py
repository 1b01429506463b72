"""The Moodle adapter on ordinary Moodle sites (issue 17): what a real Moodle 4.5 answers when
the token's role lacks a capability, or a course or enrolment is in an ordinary but unusual
state (a teacher, a suspended student, no completion tracking, no criteria)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_moodle import TEACHER, MoodleState, fake_moodle
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from activities.lms.activities import LmsActivities
from activities.lms.moodle import MoodleConfig, MoodleLms, classify
from activities.lms.port import LmsError
from schemas.learning import EnrollRequest
from schemas.lms import CompletionsRequest
from talentloop.dev.teststack import private_settings
from talentloop.service.doctor import check_lms
from talentloop.service.lms_adapter import moodle_config


def site() -> MoodleState:
    s = MoodleState()
    s.add_course(1, "", "Front page")
    s.add_course(10, "C-SQL", "SQL for analysts")
    s.add_course(11, "C-GIT", "Git basics")
    s.add_course(12, "C-NOCRIT", "No criteria")
    s.courses[12]["_criteria"] = False
    s.add_course(13, "C-NOTRACK", "No completion tracking", enablecompletion=0)
    for uid, idnumber in [(100, "E001"), (101, "E002"), (102, "E003"), (200, "T001")]:
        s.add_user(uid, idnumber)
    return s


@pytest.fixture
def moodle() -> Iterator[tuple[MoodleLms, MoodleState]]:
    with fake_moodle(site()) as (url, st):
        lms = MoodleLms(MoodleConfig(url=url, token=st.token, timeout_s=2, calls_per_second=0))
        yield lms, st
        lms.close()


def req(employee: str = "E001", course: str = "C-SQL") -> EnrollRequest:
    return EnrollRequest(
        employee_id=employee, course_id=course, due=None, reason="gap", source_event="ev-1"
    )


def error_of(fn: object) -> LmsError:
    with pytest.raises(LmsError) as info:
        fn()  # type: ignore[operator]
    return info.value


# -- hidden idnumbers ----------------------------------------------------------------------


def test_a_hidden_user_idnumber_names_the_missing_capability(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, st = moodle
    st.enrol(10, 101)  # a participant the probe can look at
    st.capabilities.discard("moodle/user:viewalldetails")
    err = error_of(lambda: lms.enroll(req()))
    # Not "unknown_user": the user exists, the token may not see the field.
    assert (err.code, err.retryable) == ("access_denied", False)
    assert "moodle/user:viewalldetails" in str(err)
    assert st.enrolments.keys() == {(10, 101)}


def test_a_hidden_course_idnumber_names_the_missing_capability(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, st = moodle
    st.capabilities.discard("moodle/course:update")
    err = error_of(lms.catalog)
    assert err.code == "access_denied" and "moodle/course:update" in str(err)
    # The documented way out: map courses by shortname, which every role sees.
    by_shortname = MoodleLms(
        MoodleConfig(url=lms.config.url, token=st.token, course_field="shortname")
    )
    assert {c.course_id for c in by_shortname.catalog()} == {
        "c-sql",
        "c-git",
        "c-nocrit",
        "c-notrack",
    }


def test_doctor_names_a_hidden_field_and_its_capability(tmp_path: Path) -> None:
    state = site()
    state.capabilities.discard("moodle/course:update")
    with fake_moodle(state) as (url, st):
        settings = private_settings(
            tmp_path, lms_adapter="moodle", moodle_url=url, moodle_token=st.token
        )
        check = check_lms(settings)
        assert not check.ok
        assert "idnumber" in check.detail and "moodle/course:update" in check.detail
        assert "shortname" in check.fix
        st.capabilities.add("moodle/course:update")
        st.enrol(10, 101)
        st.capabilities.discard("moodle/user:viewalldetails")
        check = check_lms(settings)
        assert not check.ok and "moodle/user:viewalldetails" in check.detail


# -- the poll ------------------------------------------------------------------------------


def test_a_poll_that_sees_no_course_is_an_error(moodle: tuple[MoodleLms, MoodleState]) -> None:
    lms, st = moodle
    for c in list(st.courses.values()):
        c["idnumber"] = ""
    err = error_of(
        lambda: lms.completions(CompletionsRequest(since=datetime(2020, 1, 1, tzinfo=UTC)))
    )
    assert err.code == "invalid_request" and "sees no course" in str(err)
    st.capabilities.discard("moodle/course:update")
    err = error_of(
        lambda: lms.completions(CompletionsRequest(since=datetime(2020, 1, 1, tzinfo=UTC)))
    )
    assert err.code == "access_denied"


def test_one_user_or_course_never_breaks_the_poll(moodle: tuple[MoodleLms, MoodleState]) -> None:
    lms, st = moodle
    done = datetime(2027, 2, 1, 10, 0, tzinfo=UTC)
    st.enrol(10, 100)
    st.completed[(10, 100)] = int(done.timestamp())
    st.enrol(10, 200, roleid=TEACHER)  # a teacher with an idnumber
    st.enrol(10, 101, suspended=True)  # a student a teacher suspended
    st.enrol(12, 100)  # completion tracking on, no criteria
    st.enrol(13, 100)  # no completion tracking
    st.enrol(11, 102)
    found = lms.completions(CompletionsRequest(since=done - timedelta(days=1)))
    assert [(c.employee_id, c.course_id) for c in found] == [("E001", "C-SQL")]
    assert sorted(lms.skipped) == [
        ("C-NOCRIT", "*", "no_completion_criteria"),
        ("C-NOTRACK", "*", "completion_not_viewable"),
    ]
    # Only active students were asked: not the teacher, not the suspended student.
    asked = {
        int(form["userid"])
        for _, fn, form in st.calls
        if fn == "core_completion_get_course_completion_status"
    }
    assert asked == {100, 102}


# -- withdraw, re-enrol --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("course", "cid", "suspended"),
    [("C-NOCRIT", 12, False), ("C-NOTRACK", 13, False), ("C-SQL", 10, True)],
)
def test_withdraw_works_on_ordinary_courses(
    moodle: tuple[MoodleLms, MoodleState], course: str, cid: int, suspended: bool
) -> None:
    lms, st = moodle
    st.enrol(cid, 100, suspended=suspended)
    gone = lms.withdraw("E001", course)
    assert gone is not None and gone.status == "withdrawn"
    assert (cid, 100) not in st.enrolments
    assert lms.withdraw("E001", course) is None
    status = lms.status("E002", course)
    assert status is None


def test_status_of_an_untracked_course_reads_enrolled(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, st = moodle
    st.enrol(13, 100)
    now = lms.status("E001", "C-NOTRACK")
    assert now is not None and now.status == "enrolled"


def test_re_enrolling_leaves_an_existing_enrolment_as_it_is(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, st = moodle
    st.enrol(10, 100, suspended=True)  # started long ago, suspended by a teacher
    before = dict(st.enrolments[(10, 100)])
    got = lms.enroll(req())
    assert got.enrollment_id == "moodle-10-100"
    assert st.enrolments[(10, 100)] == before
    assert st.rewrites == 0
    assert not [c for c in st.calls if c[1] == "enrol_manual_enrol_users"]


# -- error codes ---------------------------------------------------------------------------


def test_moodle_error_codes_have_codes_of_their_own(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, st = moodle
    st.assignable_roles.clear()  # "Allow role assignments" without Student
    err = error_of(lambda: lms.enroll(req()))
    assert (err.code, err.retryable) == ("access_denied", False)
    assert "Allow role assignments" in str(err)
    for errorcode, code in [
        ("usernotenroled", "not_enrolled"),
        ("nocriteriaset", "no_completion_criteria"),
        ("cannotviewreport", "completion_not_viewable"),
        ("wsusercannotassign", "access_denied"),
    ]:
        got = classify({"exception": "moodle_exception", "errorcode": errorcode, "message": "m"})
        assert (got.code, got.retryable) == (code, False)


# -- outages -------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_outage_fails_short_and_says_what_happened() -> None:
    lms = MoodleLms(
        MoodleConfig(url=f"http://127.0.0.1:{closed_port()}", token="t", calls_per_second=0)
    )
    with pytest.raises(ApplicationError) as info:
        LmsActivities(lms).enroll(req())
    assert not info.value.non_retryable
    assert "Moodle unreachable: connection refused" in info.value.message
    failure = Failure()
    DataConverter.default.failure_converter.to_failure(
        info.value, DataConverter.default.payload_converter, failure
    )
    # Temporal replaces failures over its limit with "Failure exceeds size limit".
    assert failure.ByteSize() < 2048, failure.ByteSize()
    assert "Moodle unreachable" in failure.message


# -- settings ------------------------------------------------------------------------------


def test_the_settings_the_docs_rely_on_can_be_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = tmp_path / "skills.json"
    mapping.write_text('{"values": {"Programming": "onet:2.B.3.e"}, "tags": {"7": "onet:x"}}')
    for name, value in {
        "MOODLE_ROLE_ID": "9",
        "MOODLE_TIMEOUT_S": "7.5",
        "MOODLE_SKILL_MAP": str(mapping),
        "MOODLE_SKILL_FIELD": "competences",
        "MOODLE_TIMEEND_DAYS_AFTER_DUE": "14",
    }.items():
        monkeypatch.setenv(f"TALENTLOOP_{name}", value)
    settings = private_settings(
        tmp_path, lms_adapter="moodle", moodle_url="http://m.example", moodle_token="t"
    )
    config = moodle_config(settings)
    assert (config.role_id, config.timeout_s, config.timeend_days_after_due) == (9, 7.5, 14)
    assert config.skills.custom_field == "competences"
    assert config.skills.values == {"Programming": "onet:2.B.3.e"}
    assert config.skills.tags == {7: "onet:x"}
    # The per-process rate limit is on by default, and never above the deployment's.
    assert config.calls_per_second == 5.0
    capped = private_settings(
        tmp_path,
        lms_adapter="moodle",
        moodle_url="http://m.example",
        moodle_token="t",
        lms_rate_limit=2.0,
    )
    assert moodle_config(capped).calls_per_second == 2.0


def test_a_missing_right_to_list_students_fails_the_poll_not_each_course(
    moodle: tuple[MoodleLms, MoodleState],
) -> None:
    lms, st = moodle
    st.enrol(10, 100)
    st.capabilities.discard("moodle/role:review")  # needed for "withcapability"
    since = datetime(2020, 1, 1, tzinfo=UTC)
    err = error_of(lambda: lms.completions(CompletionsRequest(since=since)))
    assert err.code == "access_denied" and "moodle/role:review" in str(err)


def test_a_starting_worker_warns_about_hidden_fields(
    moodle: tuple[MoodleLms, MoodleState], caplog: pytest.LogCaptureFixture
) -> None:
    from talentloop.service.lms_adapter import warn_hidden_fields

    lms, st = moodle
    assert warn_hidden_fields(lms) == []
    st.capabilities.discard("moodle/course:update")
    with caplog.at_level("WARNING", "talentloop.service.lms_adapter"):
        [problem] = warn_hidden_fields(lms)
    assert "moodle/course:update" in problem and "moodle/course:update" in caplog.text
