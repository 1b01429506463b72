"""Objective-set activities: record each version once; read the versions in force."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.store.tables import ObjectiveSetRow
from schemas.rollout import ObjectiveSetEvent
from schemas.skills import ObjectiveSet


def sets_in_force(session: Session, on: date) -> list[ObjectiveSet]:
    """For each objective set, its latest version effective on `on`."""
    rows = session.scalars(
        select(ObjectiveSetRow)
        .where(ObjectiveSetRow.effective_from <= on)
        .order_by(ObjectiveSetRow.set_id, ObjectiveSetRow.version.desc())
    )
    latest: dict[str, ObjectiveSet] = {}
    for row in rows:
        if row.set_id not in latest:
            latest[row.set_id] = ObjectiveSet.model_validate(row.body)
    return list(latest.values())


class ObjectiveActivities:
    """Stores objective-set versions in the application database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Build the activities over a database session factory."""
        self._sessions = sessions

    @activity.defn(name="objectives.record")
    def record(self, event: ObjectiveSetEvent) -> bool:
        """Record the version; True if new, False if it was recorded already (idempotent)."""
        objective_set = event.objective_set
        with self._sessions() as s:
            if s.get(ObjectiveSetRow, (objective_set.id, objective_set.version)) is not None:
                return False
            s.add(
                ObjectiveSetRow(
                    set_id=objective_set.id,
                    version=objective_set.version,
                    effective_from=objective_set.effective_from,
                    body=objective_set.model_dump(mode="json"),
                    source_event=event.event_id,
                    recorded_at=datetime.now(UTC),
                )
            )
            try:
                s.commit()
            except IntegrityError:
                return False
            return True
