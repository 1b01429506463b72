"""Outbound events for the console tests, built the way the workflows build them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from activities.store.projector import Record
from schemas.outbound import (
    ENROLLMENT_CREATED,
    ENROLLMENT_OVERDUE,
    GAP_CLOSED,
    ROLLOUT_COMPLETED,
    EnrollmentCreated,
    EnrollmentOverdue,
    GapClosed,
    RolloutCompleted,
    outbound_event,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TOPIC = "talentloop.events"


def burst(employees: int = 6) -> list[bytes]:
    """A burst of outbound events: enrollments, some overdue, some completed."""
    out: list[bytes] = []
    for n in range(employees):
        emp = f"E{n:05d}"
        cause = f"review-{n}"
        for c in ("course-a", "course-b"):
            ev = outbound_event(
                ENROLLMENT_CREATED,
                EnrollmentCreated(
                    enrollment_id=f"{emp}:{c}",
                    employee_id=emp,
                    course_id=c,
                    due=date(2026, 12, 1),
                    reason=f"Programming 2→4 for {c}",
                    source_event_id=cause,
                ),
                cause_id=cause,
                time=T0 + timedelta(minutes=n),
            )
            out.append(ev.model_dump_json(exclude_none=True).encode())
        if n % 3 == 1:
            ev = outbound_event(
                ENROLLMENT_OVERDUE,
                EnrollmentOverdue(
                    enrollment_id=f"{emp}:course-a",
                    employee_id=emp,
                    course_id="course-a",
                    due=date(2026, 12, 1),
                    days_overdue=3,
                    escalated_to="E09999",
                ),
                cause_id=f"overdue-{emp}",
                time=T0 + timedelta(days=33),
            )
            out.append(ev.model_dump_json(exclude_none=True).encode())
        if n % 3 == 2:
            ev = outbound_event(
                GAP_CLOSED,
                GapClosed(
                    employee_id=emp,
                    skill_id="2.B.3.e",
                    from_level=2,
                    to_level=4,
                    target_level=4,
                    closed_by="course",
                    closed_by_ref="course-b",
                ),
                cause_id=f"done-{emp}",
                time=T0 + timedelta(days=10),
            )
            out.append(ev.model_dump_json(exclude_none=True).encode())
    ev = outbound_event(
        ROLLOUT_COMPLETED,
        RolloutCompleted(
            objective_set_id="Q3",
            version=2,
            employees_affected=employees,
            enrollments=employees * 2,
            started_at=T0,
            finished_at=T0 + timedelta(hours=1),
        ),
        cause_id="Q3@v2",
        time=T0 + timedelta(hours=1),
    )
    out.append(ev.model_dump_json(exclude_none=True).encode())
    return out


def records(values: list[bytes], partitions: int = 2, start: int = 0) -> list[Record]:
    """Spread values over partitions with consecutive offsets per partition."""
    offsets = [start] * partitions
    out = []
    for i, v in enumerate(values):
        p = i % partitions
        out.append(Record(TOPIC, p, offsets[p], v))
        offsets[p] += 1
    return out
