"""The completion poller delivers each enrollment's completion once, with overlapping polls."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dbs import EMPLOYEES, BuiltinDb

from activities.lms.completions import (
    CompletionPollActivities,
    PollRequest,
    RecordDeliveries,
    completion_event,
    completion_event_id,
)
from schemas.learning import EnrollRequest
from workflows.completion_poll import completion_inbound_event


def enroll(db: BuiltinDb, employee: str) -> None:
    db.lms.enroll(
        EnrollRequest(
            employee_id=employee,
            course_id="C-SQL",
            due=date(2027, 1, 1),
            reason="gap",
            source_event="ev",
        )
    )


def test_overlapping_polls_deliver_each_completion_once(builtin: BuiltinDb) -> None:
    poller = CompletionPollActivities(builtin.lms, builtin.sessions)
    req = PollRequest(overlap_s=3600, first_lookback_s=86400)
    for e in EMPLOYEES[:3]:
        enroll(builtin, e)
    now = datetime.now(UTC)
    builtin.lms.complete(EMPLOYEES[0], "C-SQL", completed_at=now - timedelta(minutes=5))
    builtin.lms.complete(EMPLOYEES[1], "C-SQL", completed_at=now - timedelta(minutes=1))

    first = poller.poll(req)
    assert sorted(c.employee_id for c in first.completions) == EMPLOYEES[:2]
    # A poll that ran before the first was recorded (a retry) sees the same ones ...
    assert poller.poll(req).completions == first.completions
    recorded = poller.record(
        RecordDeliveries(
            source_lms="builtin", completions=first.completions, next_since=first.next_since
        )
    )
    assert recorded == 2
    # ... and recording twice stores nothing new.
    assert (
        poller.record(
            RecordDeliveries(
                source_lms="builtin", completions=first.completions, next_since=first.next_since
            )
        )
        == 0
    )
    cursor = poller.cursor()
    assert cursor is not None and abs(cursor - (now - timedelta(minutes=1))) < timedelta(seconds=1)
    # The next poll's window overlaps the delivered ones; only the new completion comes.
    builtin.lms.complete(EMPLOYEES[2], "C-SQL")
    second = poller.poll(req)
    assert [c.employee_id for c in second.completions] == [EMPLOYEES[2]]
    poller.record(
        RecordDeliveries(
            source_lms="builtin", completions=second.completions, next_since=second.next_since
        )
    )
    assert poller.poll(req).completions == []


def test_every_path_names_a_completion_with_the_same_event_id(builtin: BuiltinDb) -> None:
    enroll(builtin, EMPLOYEES[0])
    done = builtin.lms.complete(EMPLOYEES[0], "C-SQL", score=80.0)
    poller = CompletionPollActivities(builtin.lms, builtin.sessions)
    [c] = poller.poll(PollRequest()).completions
    event = completion_event(c)
    assert event["id"] == completion_event_id("builtin", done.enrollment_id)
    assert event["type"] == "course.completed.v1"
    assert event["data"]["score"] == 80.0
    inbound = completion_inbound_event(c)
    assert inbound.event_id == event["id"]
    assert inbound.completion is not None and inbound.employee_id == EMPLOYEES[0]
