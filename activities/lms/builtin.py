"""The built-in LMS: enrollments in the application database's `lms_enrollments` table."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from activities.lms.port import LmsError
from activities.store.tables import CourseRow, LmsEnrollmentRow
from schemas.learning import Enrollment, EnrollRequest


def _to_model(row: LmsEnrollmentRow) -> Enrollment:
    return Enrollment(
        enrollment_id=f"builtin-{row.id}",
        employee_id=row.employee_id,
        course_id=row.course_id,
        status=row.status,
        due=row.due,
        reason=row.reason,
        source_event=row.source_event,
        created_at=row.created_at,
    )


class BuiltinLms:
    """An LMS whose enrollments are rows of the app database; (employee, course) is unique."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Build the LMS over a database session factory."""
        self._sessions = sessions

    def _existing(self, s: Session, employee_id: str, course_id: str) -> LmsEnrollmentRow | None:
        return s.scalars(
            select(LmsEnrollmentRow).where(
                LmsEnrollmentRow.employee_id == employee_id,
                LmsEnrollmentRow.course_id == course_id,
            )
        ).first()

    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enroll once: a second call, or a racing one, returns the first enrollment."""
        with self._sessions() as s:
            if s.get(CourseRow, req.course_id) is None:
                raise LmsError(f"unknown course {req.course_id}", retryable=False)
            row = self._existing(s, req.employee_id, req.course_id)
            if row is not None:
                return _to_model(row)
            row = LmsEnrollmentRow(
                employee_id=req.employee_id,
                course_id=req.course_id,
                due=req.due,
                reason=req.reason,
                source_event=req.source_event,
                created_at=datetime.now(UTC),
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                row = self._existing(s, req.employee_id, req.course_id)
                if row is None:
                    raise
            return _to_model(row)

    def enrollments(self, employee_id: str) -> list[Enrollment]:
        """The employee's enrollments, oldest first."""
        with self._sessions() as s:
            rows = s.scalars(
                select(LmsEnrollmentRow)
                .where(LmsEnrollmentRow.employee_id == employee_id)
                .order_by(LmsEnrollmentRow.id)
            )
            return [_to_model(r) for r in rows]
