"""The objective-set version each employee last applied (``objective_applications``).

The planner records it when a rollout (or the reconciliation) asks an employee to re-plan under
a version; rollouts count their applied employees from it and the reconciliation finds
employees behind the version in force.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.store.engine import writer_lock
from activities.store.tables import ObjectiveApplicationRow
from schemas.events import ObjectivesApplied


def record_applied(
    sessions: sessionmaker[Session], applied: ObjectivesApplied, event_id: str, at: datetime
) -> bool:
    """Record that the employee applied the version; an older version never replaces a newer.

    Idempotent: applying the same version again keeps the first record.

    Returns:
        True when the record changed.
    """
    with writer_lock(sessions), sessions.begin() as s:
        key = (applied.employee_id, applied.objective_set_id)
        row = s.get(ObjectiveApplicationRow, key)
        if row is None:
            s.add(
                ObjectiveApplicationRow(
                    employee_id=applied.employee_id,
                    set_id=applied.objective_set_id,
                    version=applied.version,
                    event_id=event_id,
                    applied_at=at,
                )
            )
            return True
        if row.version >= applied.version:
            return False
        row.version, row.event_id, row.applied_at = applied.version, event_id, at
        return True


def applied_versions(s: Session, set_id: str, employee_ids: Sequence[str]) -> dict[str, int]:
    """The version of `set_id` each of these employees last applied (absent: none)."""
    found: dict[str, int] = {}
    for lo in range(0, len(employee_ids), 500):
        chunk = list(employee_ids[lo : lo + 500])
        rows = s.execute(
            select(ObjectiveApplicationRow.employee_id, ObjectiveApplicationRow.version).where(
                ObjectiveApplicationRow.set_id == set_id,
                ObjectiveApplicationRow.employee_id.in_(chunk),
            )
        )
        found.update({eid: version for eid, version in rows})
    return found


def count_applied(s: Session, set_id: str, version: int) -> int:
    """Employees who applied `version` of the set, or a newer one."""
    return int(
        s.scalar(
            select(func.count()).where(
                ObjectiveApplicationRow.set_id == set_id,
                ObjectiveApplicationRow.version >= version,
            )
        )
        or 0
    )
