"""The read-model projector: outbound events, dead letters and plan snapshots into ``rm_*``.

Every apply is idempotent. An outbound event is known by its CloudEvent id (ids are derived
from their cause, so a republished event has the same id) and is applied at most once; each
apply is itself an upsert that moves a plan item forward only, so even without the id ledger
the same event twice leaves the same rows. A dead letter is known by its DLQ partition and
offset. A plan snapshot (the employee workflow's ``state`` query) sets the employee's items
as they are and adds timeline lines under keys derived from their content.

The position (the next offset per topic partition) is written in the same transaction as the
rows a batch changed, so a restart resumes exactly where the last committed batch ended, and
``reset`` followed by reading from the beginning rebuilds the same model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from activities.store.engine import writer_lock
from activities.store.readmodel import (
    READ_MODEL_TABLES,
    RmAppliedEventRow,
    RmDeadLetterRow,
    RmGapClosureRow,
    RmPlanItemRow,
    RmPositionRow,
    RmRolloutRow,
    RmTimelineRow,
)
from schemas.events import EVENT_TYPES
from schemas.learning import EmployeeLearningState
from schemas.outbound import (
    ENROLLMENT_CREATED,
    ENROLLMENT_OVERDUE,
    GAP_CLOSED,
    ROLLOUT_COMPLETED,
    EnrollmentCreated,
    EnrollmentOverdue,
    GapClosed,
    RolloutCompleted,
)

_RANK = {
    "proposed": 0,
    "awaiting_approval": 1,
    "waitlisted": 2,
    "enrolled": 3,
    "in_progress": 4,
    "overdue": 5,
    "completed": 9,
    "waived": 9,
    "rejected": 9,
    "withdrawn": 9,
    "failed": 9,
}
"""How far along a state is: an event moves an item to a state of higher rank only."""


@dataclass(frozen=True)
class Record:
    """One Kafka record handed to the projector."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    timestamp_ms: int | None = None


@dataclass
class BatchResult:
    """What one batch did: events applied, duplicates skipped, records unreadable."""

    applied: int = 0
    duplicates: int = 0
    unreadable: int = 0
    employees: set[str] = field(default_factory=set)
    """Employees whose plan the batch touched (their plan snapshot is worth refreshing)."""


def _ts(ms: int | None) -> datetime:
    return datetime.fromtimestamp((ms or 0) / 1000, tz=UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: every time in the read model is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Projector:
    """Applies facts to the read model in the app database.

    Args:
        sessions: A session factory on the app database (migrated to head).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- positions ---------------------------------------------------------------------------

    def positions(self, topic: str) -> dict[int, int]:
        """The next offset to read per partition of `topic` (absent: from the beginning)."""
        with self._sessions() as s:
            rows = s.scalars(select(RmPositionRow).where(RmPositionRow.topic == topic))
            return {r.partition: r.next_offset for r in rows}

    def reset(self) -> None:
        """Empty every projected table and forget every position (the start of a rebuild)."""
        with writer_lock(self._sessions), self._sessions.begin() as s:
            for table in READ_MODEL_TABLES:
                s.execute(delete(table))

    # -- batches -----------------------------------------------------------------------------

    def apply_outbound(self, records: Iterable[Record]) -> BatchResult:
        """Apply a batch of outbound-topic records and advance the position, in one commit.

        Args:
            records: Records of the outbound topic, in offset order per partition.

        Returns:
            What the batch did. A record that is not a readable outbound event is counted
            and passed over (the position moves past it).
        """
        result = BatchResult()
        with writer_lock(self._sessions), self._sessions.begin() as s:
            for rec in records:
                self._advance(s, rec)
                envelope = _decode(rec.value)
                if envelope is None:
                    result.unreadable += 1
                    continue
                event_id, event_type, time, data = envelope
                if s.get(RmAppliedEventRow, event_id) is not None:
                    result.duplicates += 1
                    continue
                subject = self._apply(s, event_id, event_type, time, data)
                applied = RmAppliedEventRow(
                    event_id=event_id, type=event_type, subject=subject, time=time
                )
                s.add(applied)
                s.flush()
                result.applied += 1
                if event_type != ROLLOUT_COMPLETED:
                    result.employees.add(subject)
        return result

    def apply_dead_letters(self, records: Iterable[Record]) -> int:
        """Record a batch of DLQ-topic records (reason and source, never the payload).

        Returns:
            How many were new.
        """
        new = 0
        with writer_lock(self._sessions), self._sessions.begin() as s:
            for rec in records:
                self._advance(s, rec)
                if s.get(RmDeadLetterRow, (rec.partition, rec.offset)) is not None:
                    continue
                h = {
                    k: v.decode("utf-8", errors="replace")
                    for k, v in rec.headers
                    if k.startswith("dlq.")
                }
                at = _ts(rec.timestamp_ms)
                if h.get("dlq.time"):
                    with contextlib.suppress(ValueError):
                        at = datetime.fromisoformat(h["dlq.time"])
                s.add(
                    RmDeadLetterRow(
                        partition=rec.partition,
                        offset=rec.offset,
                        reason=h.get("dlq.reason", "?")[:64],
                        detail=h.get("dlq.detail", ""),
                        source_topic=h.get("dlq.topic", ""),
                        source_partition=_int(h.get("dlq.partition")),
                        source_offset=_int(h.get("dlq.offset")),
                        at=_aware(at) or at,
                    )
                )
                s.flush()
                new += 1
        return new

    def apply_plan(self, state: EmployeeLearningState) -> None:
        """Set an employee's plan items as a snapshot of their workflow says, and its timeline.

        Args:
            state: The answer of the employee workflow's ``state`` query.
        """
        emp = state.employee_id
        with writer_lock(self._sessions), self._sessions.begin() as s:
            for item in state.items:
                row = s.get(RmPlanItemRow, (emp, item.course_id))
                first = item.transitions[0].at if item.transitions else None
                last = item.transitions[-1].at if item.transitions else None
                if row is None:
                    row = RmPlanItemRow(
                        employee_id=emp,
                        course_id=item.course_id,
                        created_at=first or item.approval_requested_at or datetime.now(UTC),
                        escalations=0,
                    )
                    s.add(row)
                row.title = item.title
                row.state = item.status
                row.reason = item.reason
                row.enrollment_id = item.enrollment_id or row.enrollment_id
                row.source_event = item.source_event
                row.due = item.due
                row.approver_id = item.approver_id
                row.approval_requested_at = item.approval_requested_at
                row.escalations = item.escalations
                row.notice_status = item.notice.status if item.notice else None
                row.notice_error = (
                    item.notice.error if item.notice and item.notice.error else None
                ) or item.notification_error
                for t in item.transitions:
                    if t.status == "enrolled" and row.enrolled_at is None:
                        row.enrolled_at = t.at
                    if t.status == "overdue" and row.overdue_at is None:
                        row.overdue_at = t.at
                    if t.status == "completed" and row.completed_at is None:
                        row.completed_at = t.at
                row.updated_at = last or _aware(row.updated_at) or row.created_at
            for entry in state.timeline:
                key = (
                    "plan:"
                    + hashlib.sha256(
                        json.dumps(
                            [emp, entry.at.isoformat(), entry.kind, entry.text, entry.course_id]
                        ).encode()
                    ).hexdigest()
                )
                if s.get(RmTimelineRow, key) is None:
                    s.add(
                        RmTimelineRow(
                            key=key,
                            employee_id=emp,
                            at=entry.at,
                            kind=entry.kind[:64],
                            text=entry.text,
                            course_id=entry.course_id,
                        )
                    )
                    s.flush()

    # -- one event ---------------------------------------------------------------------------

    @staticmethod
    def _advance(s: Session, rec: Record) -> None:
        pos = s.get(RmPositionRow, (rec.topic, rec.partition))
        if pos is None:
            pos = RmPositionRow(topic=rec.topic, partition=rec.partition, next_offset=0)
            s.add(pos)
        pos.next_offset = max(pos.next_offset, rec.offset + 1)
        pos.updated_at = datetime.now(UTC)

    def _apply(
        self, s: Session, event_id: str, event_type: str, time: datetime, data: object
    ) -> str:
        if isinstance(data, EnrollmentCreated):
            row = self._item(s, data.employee_id, data.course_id, time, "enrolled")
            row.enrollment_id = data.enrollment_id
            row.due = data.due or row.due
            row.reason = row.reason or data.reason
            row.source_event = row.source_event or data.source_event_id
            row.enrolled_at = row.enrolled_at or time
            _forward(row, "enrolled", time)
            _line(s, event_id, data.employee_id, time, "enrolled", data.reason, data.course_id)
            return data.employee_id
        if isinstance(data, EnrollmentOverdue):
            row = self._item(s, data.employee_id, data.course_id, time, "overdue")
            row.enrollment_id = row.enrollment_id or data.enrollment_id
            row.due = data.due
            row.days_overdue = max(row.days_overdue or 0, data.days_overdue)
            row.escalated_to = data.escalated_to or row.escalated_to
            row.overdue_at = _min(row.overdue_at, time)
            _forward(row, "overdue", time)
            text = f"{data.days_overdue} days overdue (due {data.due.isoformat()})"
            _line(s, event_id, data.employee_id, time, "overdue", text, data.course_id)
            return data.employee_id
        if isinstance(data, GapClosed):
            s.add(
                RmGapClosureRow(
                    event_id=event_id,
                    employee_id=data.employee_id,
                    skill_id=data.skill_id,
                    objective_id=data.objective_id,
                    from_level=data.from_level,
                    to_level=data.to_level,
                    target_level=data.target_level,
                    closed_by=data.closed_by,
                    closed_by_ref=data.closed_by_ref,
                    at=time,
                )
            )
            course = data.closed_by_ref if data.closed_by == "course" else None
            if course is not None:
                row = self._item(s, data.employee_id, course, time, "completed")
                row.completed_at = _min(row.completed_at, time)
                _forward(row, "completed", time)
            text = (
                f"gap closed: {data.skill_id} {data.from_level:g}→{data.to_level:g} "
                f"(required {data.target_level:g})"
            )
            _line(s, event_id, data.employee_id, time, "gap-closed", text, course)
            return data.employee_id
        if isinstance(data, RolloutCompleted):
            rollout = s.get(RmRolloutRow, (data.objective_set_id, data.version))
            if rollout is None:
                rollout = RmRolloutRow(objective_set_id=data.objective_set_id, version=data.version)
                s.add(rollout)
            rollout.outcome = data.outcome
            rollout.employees_affected = data.employees_affected
            rollout.enrollments = data.enrollments
            rollout.started_at = data.started_at
            rollout.finished_at = data.finished_at
            return data.objective_set_id
        raise ValueError(f"no projection for {event_type}")  # pragma: no cover

    @staticmethod
    def _item(s: Session, employee: str, course: str, time: datetime, state: str) -> RmPlanItemRow:
        row = s.get(RmPlanItemRow, (employee, course))
        if row is None:
            row = RmPlanItemRow(
                employee_id=employee,
                course_id=course,
                title=course,
                state=state,
                reason="",
                source_event="",
                created_at=time,
                escalations=0,
                updated_at=time,
            )
            s.add(row)
            s.flush()
        return row


def _forward(row: RmPlanItemRow, state: str, time: datetime) -> None:
    if _RANK.get(state, 0) > _RANK.get(row.state, 0):
        row.state = state
        row.updated_at = max(_aware(row.updated_at) or time, time)


def _min(a: datetime | None, b: datetime) -> datetime:
    a = _aware(a)
    return b if a is None else min(a, b)


def _line(
    s: Session,
    event_id: str,
    employee: str,
    time: datetime,
    kind: str,
    text: str,
    course: str | None,
) -> None:
    key = f"evt:{event_id}"
    if s.get(RmTimelineRow, key) is None:
        s.add(
            RmTimelineRow(
                key=key, employee_id=employee, at=time, kind=kind, text=text, course_id=course
            )
        )


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else -1
    except ValueError:
        return -1


_OUTBOUND = {ENROLLMENT_CREATED, ENROLLMENT_OVERDUE, GAP_CLOSED, ROLLOUT_COMPLETED}


def _decode(value: bytes | None) -> tuple[str, str, datetime, object] | None:
    """The id, type, time and typed data of a structured-mode outbound CloudEvent, or None."""
    if not value:
        return None
    try:
        raw = json.loads(value)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in _OUTBOUND:
        return None
    spec = EVENT_TYPES.get(raw["type"])
    if spec is None:
        return None
    try:
        event = spec.envelope.model_validate_json(value)
    except ValidationError:
        return None
    time = event.time if event.time is not None else datetime.now(UTC)
    return event.id, event.type, time, event.data
