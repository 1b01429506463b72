"""The enrolments talentloop made in a remote LMS, kept in the app database until they close.

A remote LMS (Moodle) has no "completions since" query: the completion poll asks it about
each enrolment. This ledger says which ones: those the integration made (``enroll``) that are
still open, least recently checked first, so a poll that stops part-way (its call budget, a
retry, an outage) resumes with the enrolments it did not reach. Delivering a completion or
withdrawing closes the enrolment; it is never polled again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from activities.store.tables import LmsTrackedEnrollmentRow

OPEN, COMPLETED, WITHDRAWN = "open", "completed", "withdrawn"
"""The states of a tracked enrolment."""


@dataclass(frozen=True)
class TrackedEnrollment:
    """One enrolment the integration made, with the LMS's own ids of course and user.

    Attributes:
        enrollment_id: The adapter's enrollment id (``moodle-<course>-<user>``).
        employee_id: The talentloop employee.
        course_id: The talentloop course.
        external_course: The LMS's course id.
        external_user: The LMS's user id.
        state: "open", "completed" or "withdrawn".
    """

    enrollment_id: str
    employee_id: str
    course_id: str
    external_course: str
    external_user: str
    state: str = OPEN


def _tracked(row: LmsTrackedEnrollmentRow) -> TrackedEnrollment:
    return TrackedEnrollment(
        row.enrollment_id,
        row.employee_id,
        row.course_id,
        row.external_course,
        row.external_user,
        row.state,
    )


class EnrollmentLedger:
    """The tracked enrolments of one LMS (``source_lms``) in the app database."""

    def __init__(self, sessions: sessionmaker[Session], source_lms: str) -> None:
        """Build over the app database for the LMS named ``source_lms``."""
        self._sessions = sessions
        self.source_lms = source_lms

    def get(self, enrollment_id: str) -> TrackedEnrollment | None:
        """The tracked enrolment, in any state, or None."""
        with self._sessions() as s:
            row = s.get(LmsTrackedEnrollmentRow, (self.source_lms, enrollment_id))
            return None if row is None else _tracked(row)

    def track(self, t: TrackedEnrollment, *, now: datetime | None = None) -> None:
        """Record an enrolment the integration made as open (again, if it was closed)."""
        now = now or datetime.now(UTC)
        with self._sessions.begin() as s:
            row = s.get(LmsTrackedEnrollmentRow, (self.source_lms, t.enrollment_id))
            if row is None:
                s.add(
                    LmsTrackedEnrollmentRow(
                        source_lms=self.source_lms,
                        enrollment_id=t.enrollment_id,
                        employee_id=t.employee_id,
                        course_id=t.course_id,
                        external_course=t.external_course,
                        external_user=t.external_user,
                        state=OPEN,
                        enrolled_at=now,
                    )
                )
            elif row.state != OPEN:
                row.state, row.enrolled_at, row.checked_at = OPEN, now, None

    def close(self, enrollment_ids: Iterable[str], state: str) -> int:
        """Close enrolments ("completed" or "withdrawn"); returns how many were open."""
        ids = list(enrollment_ids)
        if not ids:
            return 0
        with self._sessions.begin() as s:
            result = s.execute(
                update(LmsTrackedEnrollmentRow)
                .where(
                    LmsTrackedEnrollmentRow.source_lms == self.source_lms,
                    LmsTrackedEnrollmentRow.enrollment_id.in_(ids),
                    LmsTrackedEnrollmentRow.state == OPEN,
                )
                .values(state=state)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def count_open(self) -> int:
        """How many enrolments are open."""
        with self._sessions() as s:
            return int(
                s.scalar(
                    select(func.count()).where(
                        LmsTrackedEnrollmentRow.source_lms == self.source_lms,
                        LmsTrackedEnrollmentRow.state == OPEN,
                    )
                )
                or 0
            )

    def least_recently_checked(
        self, limit: int, *, checked_before: datetime | None = None
    ) -> list[TrackedEnrollment]:
        """Up to ``limit`` open enrolments: never checked first, then oldest check first.

        Args:
            limit: Most enrolments returned.
            checked_before: Only those not checked since (a poll's start: what it did not
                reach yet).
        """
        with self._sessions() as s:
            query = select(LmsTrackedEnrollmentRow).where(
                LmsTrackedEnrollmentRow.source_lms == self.source_lms,
                LmsTrackedEnrollmentRow.state == OPEN,
            )
            if checked_before is not None:
                query = query.where(
                    LmsTrackedEnrollmentRow.checked_at.is_(None)
                    | (LmsTrackedEnrollmentRow.checked_at < checked_before)
                )
            rows = s.scalars(
                query.order_by(
                    LmsTrackedEnrollmentRow.checked_at.is_not(None),
                    LmsTrackedEnrollmentRow.checked_at,
                    LmsTrackedEnrollmentRow.enrollment_id,
                ).limit(limit)
            )
            return [_tracked(r) for r in rows]

    def mark_checked(self, errors: Mapping[str, str | None], *, now: datetime) -> None:
        """Record a check of each enrolment (by id), with the error code it met, if any."""
        if not errors:
            return
        by_code: dict[str | None, list[str]] = {}
        for enrollment_id, code in errors.items():
            by_code.setdefault(code, []).append(enrollment_id)
        with self._sessions.begin() as s:
            for code, ids in by_code.items():
                s.execute(
                    update(LmsTrackedEnrollmentRow)
                    .where(
                        LmsTrackedEnrollmentRow.source_lms == self.source_lms,
                        LmsTrackedEnrollmentRow.enrollment_id.in_(ids),
                    )
                    .values(checked_at=now, last_error=code)
                )

    def errors(self) -> dict[str, int]:
        """Open enrolments whose last check met an error, counted by error code."""
        with self._sessions() as s:
            rows = s.execute(
                select(LmsTrackedEnrollmentRow.last_error, func.count())
                .where(
                    LmsTrackedEnrollmentRow.source_lms == self.source_lms,
                    LmsTrackedEnrollmentRow.state == OPEN,
                    LmsTrackedEnrollmentRow.last_error.is_not(None),
                )
                .group_by(LmsTrackedEnrollmentRow.last_error)
            )
            return {str(code): int(n) for code, n in rows}
