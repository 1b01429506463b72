"""HR's gap waivers: waive an employee's gap in a skill on the record, restore it, list them.

A waiver (e.g. recognised prior learning) makes the planner treat the skill as no gap for the
employee, and names the waiver as the reason. Rows are never deleted: restoring a waiver dates
and explains the restore on the same row, so ``gap_waivers`` is the audit (who, when, why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.store.engine import writer_lock
from activities.store.tables import GapWaiverRow


@dataclass(frozen=True)
class Waiver:
    """One waiver as recorded.

    Attributes:
        employee_id: The employee.
        skill_id: The skill whose gap is waived.
        reason: Why (shown as the reason in the plan).
        waived_by: Who waived it.
        waived_at: When.
        restored_at: When it was restored (None: in force).
        restored_by: Who restored it.
        restore_reason: Why it was restored.

    """

    employee_id: str
    skill_id: str
    reason: str
    waived_by: str
    waived_at: datetime
    restored_at: datetime | None = None
    restored_by: str | None = None
    restore_reason: str | None = None

    @property
    def active(self) -> bool:
        """Whether the waiver is in force."""
        return self.restored_at is None


class WaiverProblem(ValueError):
    """A waive or restore that cannot be done (already waived, nothing to restore)."""


def _waiver(row: GapWaiverRow) -> Waiver:
    return Waiver(
        employee_id=row.employee_id,
        skill_id=row.skill_id,
        reason=row.reason,
        waived_by=row.waived_by,
        waived_at=row.waived_at,
        restored_at=row.restored_at,
        restored_by=row.restored_by,
        restore_reason=row.restore_reason,
    )


def _active(s: Session, employee_id: str, skill_id: str | None = None) -> list[GapWaiverRow]:
    query = select(GapWaiverRow).where(
        GapWaiverRow.employee_id == employee_id, GapWaiverRow.restored_at.is_(None)
    )
    if skill_id is not None:
        query = query.where(GapWaiverRow.skill_id == skill_id)
    return list(s.scalars(query.order_by(GapWaiverRow.skill_id, GapWaiverRow.id)))


def active_waivers(s: Session, employee_id: str) -> dict[str, str]:
    """The skills whose gap is waived for ``employee_id`` now, with each waiver's reason."""
    return {row.skill_id: row.reason for row in _active(s, employee_id)}


def waive_gap(
    sessions: sessionmaker[Session],
    employee_id: str,
    skill_id: str,
    *,
    reason: str,
    by: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Waiver:
    """Waive ``employee_id``'s gap in ``skill_id``, on the record.

    Raises:
        WaiverProblem: The reason is empty, or a waiver for the skill is already in force.
    """
    if not reason.strip():
        raise WaiverProblem("a waiver needs a reason (--reason)")
    with writer_lock(sessions), sessions.begin() as s:
        if _active(s, employee_id, skill_id):
            raise WaiverProblem(f"{skill_id} is already waived for {employee_id}")
        row = GapWaiverRow(
            employee_id=employee_id,
            skill_id=skill_id,
            reason=reason.strip(),
            waived_by=by,
            waived_at=now(),
        )
        s.add(row)
        s.flush()
        return _waiver(row)


def restore_gap(
    sessions: sessionmaker[Session],
    employee_id: str,
    skill_id: str,
    *,
    reason: str,
    by: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Waiver:
    """End the waiver of ``employee_id``'s gap in ``skill_id`` (the gap counts again).

    Raises:
        WaiverProblem: No waiver for the skill is in force.
    """
    with writer_lock(sessions), sessions.begin() as s:
        rows = _active(s, employee_id, skill_id)
        if not rows:
            raise WaiverProblem(f"no waiver of {skill_id} is in force for {employee_id}")
        at = now()
        for row in rows:
            row.restored_at, row.restored_by, row.restore_reason = at, by, reason.strip()
        s.flush()
        return _waiver(rows[-1])


def waiver_history(sessions: sessionmaker[Session], employee_id: str) -> list[Waiver]:
    """Every waiver of ``employee_id``, in force or restored, oldest first (the audit)."""
    with sessions() as s:
        rows = s.scalars(
            select(GapWaiverRow)
            .where(GapWaiverRow.employee_id == employee_id)
            .order_by(GapWaiverRow.waived_at, GapWaiverRow.id)
        )
        return [_waiver(r) for r in rows]
