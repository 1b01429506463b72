"""Objective-set activities: record each version once; read the versions in force."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.store.tables import ObjectiveSetRow
from schemas.rollout import ObjectiveSetEvent
from schemas.skills import ObjectiveSet

_VERSIONS = (
    select(ObjectiveSetRow.set_id, ObjectiveSetRow.version)
    .where(ObjectiveSetRow.effective_from <= bindparam("on"))
    .order_by(ObjectiveSetRow.set_id, ObjectiveSetRow.version.desc())
)


def sets_in_force(
    session: Session, on: date, parsed: dict[tuple[str, int], ObjectiveSet] | None = None
) -> list[ObjectiveSet]:
    """For each objective set, its latest version effective on `on`.

    Args:
        session: A session on the app database.
        on: The day.
        parsed: Versions read before from the same database, by (set id, version); a recorded
            version never changes, so a caller may keep this across calls. Filled here.
    """
    cache = {} if parsed is None else parsed
    latest: dict[str, int] = {}
    for set_id, version in session.execute(_VERSIONS, {"on": on}):
        latest.setdefault(set_id, version)
    out = []
    for key in latest.items():
        found = cache.get(key)
        if found is None:
            row = session.get(ObjectiveSetRow, key)
            assert row is not None
            found = cache[key] = ObjectiveSet.model_validate(row.body)
        out.append(found)
    return out


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
