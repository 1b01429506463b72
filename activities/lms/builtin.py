"""The built-in LMS: course sessions, enrollments and their waitlist in the app database.

A course with sessions has seats: enrolling takes a seat of the chosen session (or the first
session, by start, with one free) or joins that session's waitlist; withdrawing frees the seat
for the first in line. A course without sessions is self-paced, with unlimited seats.

Seats are counted and taken in one transaction that holds the session's lock: ``BEGIN
IMMEDIATE`` on SQLite (one writer at a time), ``SELECT ... FOR UPDATE`` of the session rows on
PostgreSQL. No number of concurrent enrollments overbooks a session.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from activities.errors import LmsCode
from activities.lms.port import LmsError, enroll_each
from activities.store.engine import writer_lock
from activities.store.tables import (
    CourseRow,
    EmployeeRow,
    LmsCourseSessionRow,
    LmsEnrollmentRow,
)
from schemas.learning import Enrollment, EnrollRequest
from schemas.lms import (
    CatalogCourse,
    Completion,
    CompletionsRequest,
    CourseSessionInfo,
    EnrollOutcome,
)

ACTIVE = ("enrolled", "waitlisted", "completed")
"""Statuses of an enrollment that a new enrollment request leaves as they are."""


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _to_model(row: LmsEnrollmentRow) -> Enrollment:
    created = _utc(row.created_at)
    assert created is not None
    return Enrollment(
        enrollment_id=f"builtin-{row.id}",
        employee_id=row.employee_id,
        course_id=row.course_id,
        status=row.status,
        due=row.due,
        reason=row.reason,
        source_event=row.source_event,
        created_at=created,
        session_id=row.session_id,
        waitlist_position=row.waitlist_position,
        completed_at=_utc(row.completed_at),
    )


@dataclass
class _Batch:
    """What a batch of enrollments reads once, inside its write transaction."""

    courses: set[str]
    employees: set[str]
    enrollments: dict[tuple[str, str], LmsEnrollmentRow]
    """Existing enrollment rows by (employee, course)."""
    sessions: dict[str, list[str]]
    """Session ids by course (courses without sessions are self-paced)."""

    @classmethod
    def read(cls, s: Session, reqs: Sequence[EnrollRequest]) -> _Batch:
        """Four queries, whatever the size of the batch."""
        ids = {
            "courses": sorted({r.course_id for r in reqs}),
            "employees": sorted({r.employee_id for r in reqs}),
        }
        sessions: dict[str, list[str]] = {}
        for sid, cid in s.execute(_BATCH_SESSIONS, ids):
            sessions.setdefault(cid, []).append(sid)
        rows = s.scalars(_BATCH_ENROLLMENTS, ids)
        return cls(
            courses=set(s.scalars(_BATCH_COURSES, ids)),
            employees=set(s.scalars(_BATCH_EMPLOYEES, ids)),
            enrollments={(r.employee_id, r.course_id): r for r in rows},
            sessions=sessions,
        )


# A batch's statements, built once (building one costs more than running it on SQLite).
_COURSES: BindParameter[str] = bindparam("courses", expanding=True)
_EMPLOYEES: BindParameter[str] = bindparam("employees", expanding=True)
_BATCH_SESSIONS = select(LmsCourseSessionRow.id, LmsCourseSessionRow.course_id).where(
    LmsCourseSessionRow.course_id.in_(_COURSES)
)
_BATCH_ENROLLMENTS = (
    select(LmsEnrollmentRow)
    .where(LmsEnrollmentRow.employee_id.in_(_EMPLOYEES), LmsEnrollmentRow.course_id.in_(_COURSES))
    .execution_options(populate_existing=True)
)
_BATCH_COURSES = select(CourseRow.id).where(CourseRow.id.in_(_COURSES))
_BATCH_EMPLOYEES = select(EmployeeRow.id).where(EmployeeRow.id.in_(_EMPLOYEES))


class BuiltinLms:
    """An LMS whose courses, sessions and enrollments are rows of the app database."""

    name = "builtin"

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Build the LMS over a database session factory."""
        self._sessions = sessions

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A write transaction; on SQLite it holds the write lock from its first statement."""
        try:
            with writer_lock(self._sessions), self._sessions() as s:
                conn = s.connection()
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield s
                    s.commit()
                except BaseException:
                    s.rollback()
                    raise
        except OperationalError as err:
            raise LmsError.of(
                LmsCode.UNAVAILABLE, f"database busy or unreachable: {err.orig}"
            ) from err

    @staticmethod
    def _lock_sessions(s: Session, session_ids: Sequence[str]) -> list[LmsCourseSessionRow]:
        """Lock the sessions' rows (PostgreSQL; SQLite holds its write lock already)."""
        stmt = (
            select(LmsCourseSessionRow)
            .where(LmsCourseSessionRow.id.in_(session_ids))
            .order_by(LmsCourseSessionRow.id)
        )
        if s.get_bind().dialect.name != "sqlite":
            stmt = stmt.with_for_update()
        return list(s.scalars(stmt))

    @staticmethod
    def _existing(s: Session, employee_id: str, course_id: str) -> LmsEnrollmentRow | None:
        return s.scalars(
            select(LmsEnrollmentRow)
            .where(
                LmsEnrollmentRow.employee_id == employee_id,
                LmsEnrollmentRow.course_id == course_id,
            )
            .execution_options(populate_existing=True)
        ).first()

    @staticmethod
    def _count(s: Session, session_id: str, status: str) -> int:
        return int(
            s.scalar(
                select(func.count())
                .select_from(LmsEnrollmentRow)
                .where(LmsEnrollmentRow.session_id == session_id, LmsEnrollmentRow.status == status)
            )
            or 0
        )

    @staticmethod
    def _waitlist(s: Session, session_id: str) -> list[LmsEnrollmentRow]:
        return list(
            s.scalars(
                select(LmsEnrollmentRow)
                .where(
                    LmsEnrollmentRow.session_id == session_id,
                    LmsEnrollmentRow.status == "waitlisted",
                )
                .order_by(LmsEnrollmentRow.waitlist_position, LmsEnrollmentRow.id)
            )
        )

    def _fill(self, s: Session, session: LmsCourseSessionRow) -> None:
        """Give free seats to the first in line, then renumber the waitlist from 1."""
        free = session.capacity - self._count(s, session.id, "enrolled")
        now = _now()
        for row in self._waitlist(s, session.id)[: max(0, free)]:
            row.status, row.waitlist_position, row.updated_at = "enrolled", None, now
        s.flush()
        for position, row in enumerate(self._waitlist(s, session.id), start=1):
            row.waitlist_position = position

    # -- the port ----------------------------------------------------------------------

    def catalog(self) -> list[CatalogCourse]:
        """Every course with the skills it teaches and its sessions' seats and waitlists."""
        with self._sessions() as s:
            counts: dict[tuple[str, str], int] = {
                (sid, status): n
                for sid, status, n in s.execute(
                    select(LmsEnrollmentRow.session_id, LmsEnrollmentRow.status, func.count())
                    .where(LmsEnrollmentRow.session_id.is_not(None))
                    .group_by(LmsEnrollmentRow.session_id, LmsEnrollmentRow.status)
                ).all()
                if sid is not None
            }
            by_course: dict[str, list[CourseSessionInfo]] = {}
            for row in s.scalars(
                select(LmsCourseSessionRow).order_by(
                    LmsCourseSessionRow.starts_at, LmsCourseSessionRow.id
                )
            ):
                by_course.setdefault(row.course_id, []).append(
                    CourseSessionInfo(
                        session_id=row.id,
                        course_id=row.course_id,
                        starts_at=_utc(row.starts_at),
                        ends_at=_utc(row.ends_at),
                        capacity=row.capacity,
                        enrolled=counts.get((row.id, "enrolled"), 0),
                        waitlisted=counts.get((row.id, "waitlisted"), 0),
                        location=row.location,
                    )
                )
            return [
                CatalogCourse(
                    course_id=c.id,
                    title=c.title,
                    source_lms=self.name,
                    skills=[str(t["skill_id"]) for t in c.teaches if "skill_id" in t],
                    hours=c.hours,
                    sessions=by_course.get(c.id, []),
                )
                for c in s.scalars(select(CourseRow).order_by(CourseRow.id))
            ]

    def add_session(
        self,
        session_id: str,
        course_id: str,
        capacity: int,
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        location: str = "",
    ) -> CourseSessionInfo:
        """Create or change a session; more capacity moves the waitlist up.

        Args:
            session_id: The session's id.
            course_id: The course it is a run of.
            capacity: Seats (at least 0).
            starts_at: When it starts (sessions are offered in start order).
            ends_at: When it ends; an ended session takes no more enrollments.
            location: Where, for people.

        Returns:
            The session with its seat counts.

        Raises:
            LmsError: "unknown_course", or "invalid_request" for a negative capacity.
        """
        if capacity < 0:
            raise LmsError.of(LmsCode.INVALID_REQUEST, "capacity must be at least 0")
        with self._writing() as s:
            if s.get(CourseRow, course_id) is None:
                raise LmsError.of(LmsCode.UNKNOWN_COURSE, f"unknown course {course_id}")
            locked = self._lock_sessions(s, [session_id])
            row = locked[0] if locked else None
            if row is None:
                row = LmsCourseSessionRow(id=session_id, course_id=course_id, capacity=capacity)
                s.add(row)
            elif row.course_id != course_id:
                raise LmsError.of(
                    LmsCode.INVALID_REQUEST, f"session {session_id} belongs to {row.course_id}"
                )
            row.capacity, row.starts_at, row.ends_at = capacity, starts_at, ends_at
            row.location = location
            s.flush()
            self._fill(s, row)
            return CourseSessionInfo(
                session_id=row.id,
                course_id=course_id,
                starts_at=_utc(starts_at),
                ends_at=_utc(ends_at),
                capacity=capacity,
                enrolled=self._count(s, row.id, "enrolled"),
                waitlisted=self._count(s, row.id, "waitlisted"),
                location=location,
            )

    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enroll once: a seat if one is free, else the waitlist; a repeat returns the first.

        Raises:
            LmsError: "unknown_course", "unknown_user" or "unknown_session" (permanent), or
                "unavailable" when the database is busy or unreachable (retryable).
        """
        for attempt in range(3):
            try:
                return self._enroll(req)
            except IntegrityError:
                # A racing first enrollment of the same employee and course won; read it.
                if attempt == 2:
                    raise LmsError.of(LmsCode.CONFLICT, "enrollment raced three times") from None
        raise AssertionError("unreachable")

    def _enroll(self, req: EnrollRequest) -> Enrollment:
        with self._writing() as s:
            row = self._enroll_row(s, _Batch.read(s, [req]), req)
            s.flush()
            return _to_model(row)

    def _enroll_row(self, s: Session, batch: _Batch, req: EnrollRequest) -> LmsEnrollmentRow:
        """Enroll inside the write transaction `s` (flushed by the caller, once for a batch).

        A refusal raises before any write.
        """
        if req.course_id not in batch.courses:
            raise LmsError.of(LmsCode.UNKNOWN_COURSE, f"unknown course {req.course_id}")
        if req.employee_id not in batch.employees:
            raise LmsError.of(LmsCode.UNKNOWN_USER, f"unknown employee {req.employee_id}")
        key = (req.employee_id, req.course_id)
        row = batch.enrollments.get(key)
        if row is not None and row.status in ACTIVE:
            return row
        session = self._choose_session(s, req, batch.sessions.get(req.course_id, []))
        if session is not None:
            # Locks are held now: what another enrollment committed meanwhile is visible.
            row = self._existing(s, req.employee_id, req.course_id)
            if row is not None and row.status in ACTIVE:
                return row
        # Count before this row joins the session (autoflush would count it too).
        status, position = "enrolled", None
        if session is not None and self._count(s, session.id, "enrolled") >= session.capacity:
            status, position = "waitlisted", self._count(s, session.id, "waitlisted") + 1
        now = _now()
        if row is None:
            row = LmsEnrollmentRow(
                employee_id=req.employee_id, course_id=req.course_id, created_at=now
            )
            s.add(row)
            batch.enrollments[key] = row
        row.due, row.reason, row.source_event = req.due, req.reason, req.source_event
        row.updated_at, row.completed_at, row.score = now, None, None
        row.session_id = session.id if session else None
        row.status, row.waitlist_position = status, position
        return row

    def _choose_session(
        self, s: Session, req: EnrollRequest, ids: list[str]
    ) -> LmsCourseSessionRow | None:
        """The session to enroll in, locked; None for a self-paced course.

        The requested one, else the first open one (by start) with a free seat, else the first
        open one, for its waitlist. `ids` are the course's sessions.
        """
        if req.session_id is not None:
            locked = self._lock_sessions(s, [req.session_id])
            if not locked or locked[0].course_id != req.course_id:
                raise LmsError.of(
                    LmsCode.UNKNOWN_SESSION,
                    f"course {req.course_id} has no session {req.session_id}",
                )
            return locked[0]
        if not ids:
            return None
        now = _now()
        open_ = [
            r
            for r in self._lock_sessions(s, ids)
            if r.ends_at is None or (_utc(r.ends_at) or now) > now
        ]
        if not open_:
            raise LmsError.of(
                LmsCode.UNKNOWN_SESSION, f"course {req.course_id} has no open session"
            )
        far = datetime.max.replace(tzinfo=UTC)
        open_.sort(key=lambda r: (_utc(r.starts_at) or far, r.id))
        for session in open_:
            if self._count(s, session.id, "enrolled") < session.capacity:
                return session
        return open_[0]

    def enroll_many(self, reqs: Sequence[EnrollRequest]) -> list[EnrollOutcome]:
        """Enroll each in one transaction; a permanent refusal fails only its own item.

        A refusal (unknown course, user or session) is raised before that item writes, so the
        others commit. The database busy or unreachable fails the whole batch (retryable, and
        a retry is idempotent). A racing first enrollment of the same employee and course
        (PostgreSQL) makes the batch go item by item, each reading the winner.
        """
        try:
            with self._writing() as s:
                batch = _Batch.read(s, reqs)
                done: list[LmsEnrollmentRow | LmsError] = []
                for req in reqs:
                    try:
                        done.append(self._enroll_row(s, batch, req))
                    except LmsError as err:
                        if err.retryable:
                            raise
                        done.append(err)
                s.flush()  # every new row in one INSERT
                outcomes = []
                for req, r in zip(reqs, done, strict=True):
                    ids = {"employee_id": req.employee_id, "course_id": req.course_id}
                    if isinstance(r, LmsError):
                        outcomes.append(EnrollOutcome(**ids, error=r.failure()))
                    else:
                        outcomes.append(EnrollOutcome(**ids, enrollment=_to_model(r)))
                return outcomes
        except IntegrityError:
            return enroll_each(self.enroll, reqs)

    def withdraw(self, employee_id: str, course_id: str) -> Enrollment | None:
        """Withdraw; the freed seat goes to the first waitlisted. Completed stays completed.

        Returns:
            The enrollment as it is now, or None when the employee was never enrolled.
        """
        with self._writing() as s:
            row = self._existing(s, employee_id, course_id)
            if row is None:
                return None
            session = None
            if row.session_id is not None:
                locked = self._lock_sessions(s, [row.session_id])
                session = locked[0] if locked else None
                row = self._existing(s, employee_id, course_id)
                assert row is not None
            if row.status in ("enrolled", "waitlisted"):
                row.status, row.waitlist_position, row.updated_at = "withdrawn", None, _now()
                s.flush()
                if session is not None:
                    self._fill(s, session)
            return _to_model(row)

    def status(self, employee_id: str, course_id: str) -> Enrollment | None:
        """The employee's enrollment in the course, None when there is none."""
        with self._sessions() as s:
            row = self._existing(s, employee_id, course_id)
            return None if row is None else _to_model(row)

    def enrollments(self, employee_id: str) -> list[Enrollment]:
        """The employee's enrollments, oldest first."""
        return self.list_enrollments(employee_id=employee_id)

    def list_enrollments(
        self,
        *,
        employee_id: str | None = None,
        course_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[Enrollment]:
        """Enrollments, oldest first, optionally of one employee, course or status."""
        stmt = select(LmsEnrollmentRow).order_by(LmsEnrollmentRow.id)
        if employee_id is not None:
            stmt = stmt.where(LmsEnrollmentRow.employee_id == employee_id)
        if course_id is not None:
            stmt = stmt.where(LmsEnrollmentRow.course_id == course_id)
        if status is not None:
            stmt = stmt.where(LmsEnrollmentRow.status == status)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._sessions() as s:
            return [_to_model(r) for r in s.scalars(stmt)]

    def complete(
        self,
        employee_id: str,
        course_id: str,
        *,
        completed_at: datetime | None = None,
        score: float | None = None,
    ) -> Enrollment:
        """Mark an enrolled employee's course completed (again: the first completion stands).

        Raises:
            LmsError: "invalid_request" when the employee holds no seat in the course.
        """
        with self._writing() as s:
            row = self._existing(s, employee_id, course_id)
            if row is None or row.status not in ("enrolled", "completed"):
                state = "not enrolled" if row is None else row.status
                raise LmsError.of(
                    LmsCode.INVALID_REQUEST,
                    f"{employee_id} cannot complete {course_id}: {state}",
                )
            if row.status == "enrolled":
                when = _utc(completed_at) or _now()
                row.status, row.completed_at, row.score, row.updated_at = (
                    "completed",
                    when,
                    score,
                    _now(),
                )
                s.flush()
            return _to_model(row)

    def completions(self, req: CompletionsRequest) -> list[Completion]:
        """Completions recorded at or after ``req.since``, oldest first."""
        since = _utc(req.since)
        stmt = (
            select(LmsEnrollmentRow)
            .where(LmsEnrollmentRow.status == "completed", LmsEnrollmentRow.completed_at >= since)
            .order_by(LmsEnrollmentRow.completed_at, LmsEnrollmentRow.id)
            .limit(req.limit)
        )
        if req.employee_ids is not None:
            stmt = stmt.where(LmsEnrollmentRow.employee_id.in_(req.employee_ids))
        if req.course_ids is not None:
            stmt = stmt.where(LmsEnrollmentRow.course_id.in_(req.course_ids))
        with self._sessions() as s:
            out: list[Completion] = []
            for row in s.scalars(stmt):
                done = _utc(row.completed_at)
                assert done is not None
                out.append(
                    Completion(
                        enrollment_id=f"builtin-{row.id}",
                        employee_id=row.employee_id,
                        course_id=row.course_id,
                        completed_at=done,
                        score=row.score,
                        source_lms=self.name,
                    )
                )
            return out
