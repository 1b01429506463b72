"""The built-in LMS on SQLite and PostgreSQL: seats, waitlist, withdraw, completions."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from dbs import EMPLOYEES, BuiltinDb

from activities.lms.port import LmsError
from schemas.learning import EnrollRequest
from schemas.lms import CompletionsRequest


def req(employee: str, course: str = "C-SQL", **kw: object) -> EnrollRequest:
    values: dict[str, object] = {
        "employee_id": employee,
        "course_id": course,
        "due": date(2027, 1, 31),
        "reason": "gap",
        "source_event": f"ev-{employee}",
    }
    values.update(kw)
    return EnrollRequest.model_validate(values)


def test_fifty_concurrent_enrollments_into_ten_seats(builtin: BuiltinDb) -> None:
    builtin.lms.add_session("C-SQL-1", "C-SQL", 10, starts_at=datetime(2027, 1, 10, tzinfo=UTC))
    people = EMPLOYEES[:50]
    start = threading.Barrier(len(people))
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def enroll(employee: str) -> None:
        start.wait()
        try:
            results[employee] = builtin.lms.enroll(req(employee)).status
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=enroll, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    statuses = sorted(results.values())
    assert statuses.count("enrolled") == 10
    assert statuses.count("waitlisted") == 40
    waitlist = builtin.lms.list_enrollments(course_id="C-SQL", status="waitlisted")
    assert sorted(e.waitlist_position or 0 for e in waitlist) == list(range(1, 41))
    [course] = [c for c in builtin.lms.catalog() if c.course_id == "C-SQL"]
    assert course.sessions[0].enrolled == 10
    assert course.sessions[0].waitlisted == 40
    assert course.sessions[0].seats_free == 0


def test_enroll_is_idempotent_and_a_withdrawal_promotes_the_first_waitlisted(
    builtin: BuiltinDb,
) -> None:
    lms = builtin.lms
    lms.add_session("C-SQL-1", "C-SQL", 2)
    a, b, c, d = (lms.enroll(req(e)) for e in EMPLOYEES[:4])
    assert [a.status, b.status, c.status, d.status] == [
        "enrolled",
        "enrolled",
        "waitlisted",
        "waitlisted",
    ]
    assert (c.waitlist_position, d.waitlist_position) == (1, 2)
    again = lms.enroll(req(EMPLOYEES[0], source_event="other"))
    assert again.enrollment_id == a.enrollment_id
    assert again.source_event == a.source_event

    withdrawn = lms.withdraw(EMPLOYEES[0], "C-SQL")
    assert withdrawn is not None and withdrawn.status == "withdrawn"
    promoted = lms.status(EMPLOYEES[2], "C-SQL")
    assert promoted is not None and promoted.status == "enrolled"
    assert promoted.waitlist_position is None
    still = lms.status(EMPLOYEES[3], "C-SQL")
    assert still is not None and (still.status, still.waitlist_position) == ("waitlisted", 1)
    # Withdrawing twice, or someone never enrolled, changes nothing.
    assert lms.withdraw(EMPLOYEES[0], "C-SQL") == withdrawn
    assert lms.withdraw(EMPLOYEES[9], "C-SQL") is None
    # Coming back after withdrawing joins the end of the line.
    back = lms.enroll(req(EMPLOYEES[0]))
    assert (back.status, back.waitlist_position) == ("waitlisted", 2)
    assert back.enrollment_id == a.enrollment_id


def test_withdrawing_from_the_waitlist_moves_the_line_up(builtin: BuiltinDb) -> None:
    lms = builtin.lms
    lms.add_session("C-SQL-1", "C-SQL", 1)
    for e in EMPLOYEES[:4]:
        lms.enroll(req(e))
    lms.withdraw(EMPLOYEES[1], "C-SQL")
    line = lms.list_enrollments(course_id="C-SQL", status="waitlisted")
    assert [(e.employee_id, e.waitlist_position) for e in line] == [
        (EMPLOYEES[2], 1),
        (EMPLOYEES[3], 2),
    ]


def test_more_capacity_enrolls_the_waitlist(builtin: BuiltinDb) -> None:
    lms = builtin.lms
    lms.add_session("C-SQL-1", "C-SQL", 1)
    for e in EMPLOYEES[:3]:
        lms.enroll(req(e))
    info = lms.add_session("C-SQL-1", "C-SQL", 3)
    assert (info.enrolled, info.waitlisted) == (3, 0)


def test_the_first_session_with_a_free_seat_is_chosen(builtin: BuiltinDb) -> None:
    lms = builtin.lms
    soon = datetime.now(UTC) + timedelta(days=7)
    lms.add_session("C-SQL-B", "C-SQL", 1, starts_at=soon + timedelta(days=30))
    lms.add_session("C-SQL-A", "C-SQL", 1, starts_at=soon)
    lms.add_session("C-SQL-OLD", "C-SQL", 5, ends_at=datetime.now(UTC) - timedelta(days=1))
    got = [lms.enroll(req(e)) for e in EMPLOYEES[:3]]
    assert [(g.session_id, g.status) for g in got] == [
        ("C-SQL-A", "enrolled"),
        ("C-SQL-B", "enrolled"),
        ("C-SQL-A", "waitlisted"),
    ]
    with pytest.raises(LmsError) as err:
        lms.enroll(req(EMPLOYEES[5], session_id="C-SELF-1"))
    assert (err.value.code, err.value.retryable) == ("unknown_session", False)


def test_a_self_paced_course_has_unlimited_seats(builtin: BuiltinDb) -> None:
    got = [builtin.lms.enroll(req(e, "C-SELF")) for e in EMPLOYEES[:20]]
    assert {g.status for g in got} == {"enrolled"}
    assert {g.session_id for g in got} == {None}


def test_unknown_course_or_user_is_permanent(builtin: BuiltinDb) -> None:
    with pytest.raises(LmsError) as course:
        builtin.lms.enroll(req(EMPLOYEES[0], "C-NOPE"))
    assert (course.value.code, course.value.retryable) == ("unknown_course", False)
    with pytest.raises(LmsError) as user:
        builtin.lms.enroll(req("E999"))
    assert (user.value.code, user.value.retryable) == ("unknown_user", False)


def test_bulk_enrollment_reports_each_item(builtin: BuiltinDb) -> None:
    outcomes = builtin.lms.enroll_many(
        [req(EMPLOYEES[0]), req("E999"), req(EMPLOYEES[1], "C-NOPE"), req(EMPLOYEES[2])]
    )
    assert [o.enrollment.status if o.enrollment else o.error.code for o in outcomes if o] == [
        "enrolled",
        "unknown_user",
        "unknown_course",
        "enrolled",
    ]


def test_completions_since_a_time(builtin: BuiltinDb) -> None:
    lms = builtin.lms
    for e in EMPLOYEES[:3]:
        lms.enroll(req(e))
    t0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    lms.complete(EMPLOYEES[0], "C-SQL", completed_at=t0, score=91.0)
    lms.complete(EMPLOYEES[1], "C-SQL", completed_at=t0 + timedelta(hours=2))
    # A second completion does not move the first one's time.
    lms.complete(EMPLOYEES[0], "C-SQL", completed_at=t0 + timedelta(days=3))
    with pytest.raises(LmsError):
        lms.complete(EMPLOYEES[10], "C-SQL")
    done = lms.completions(CompletionsRequest(since=t0))
    assert [(c.employee_id, c.completed_at, c.score) for c in done] == [
        (EMPLOYEES[0], t0, 91.0),
        (EMPLOYEES[1], t0 + timedelta(hours=2), None),
    ]
    later = lms.completions(CompletionsRequest(since=t0 + timedelta(hours=1)))
    assert [c.employee_id for c in later] == [EMPLOYEES[1]]
    assert all(c.source_lms == "builtin" for c in done)
    status = lms.status(EMPLOYEES[0], "C-SQL")
    assert status is not None and status.status == "completed"
    assert lms.enroll(req(EMPLOYEES[0])).status == "completed"
