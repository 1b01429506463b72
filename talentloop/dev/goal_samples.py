"""`talentloop sample-goals`: GENERATED ``goal.changed`` events for seeded employees.

Most goals are aligned to an objective in force that applies to the employee (their
skills derive from it); every fifth names its own skills and is aligned to no objective,
so the demo shows both, and the alignment report has something to count. Without an
objective set in force, every goal names its own skills (the role's most important ones,
a level up) and is unaligned.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.objectives import sets_in_force
from activities.store.tables import EmployeeRow, RoleRequirementRow
from schemas.events import GOAL_CHANGED
from talentloop.dev.seed import GENERATED_SOURCE

_TITLES = (
    "Security architecture certification",
    "Lead the cloud migration of one service",
    "Own the quarterly planning workshop",
    "Mentor two new colleagues",
    "Automate the release checklist",
)


def sample_goals(
    sessions: sessionmaker[Session],
    count: int,
    *,
    random_seed: int = 19,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """GENERATED ``goal.changed.v1`` CloudEvents: one goal ("set") for each of `count` employees."""
    rng = random.Random(random_seed)
    now = now or datetime.now(UTC)
    today = now.date()
    with sessions() as s:
        people = list(
            s.scalars(select(EmployeeRow).where(EmployeeRow.active).order_by(EmployeeRow.id))
        )[:count]
        objectives = [
            (st, o) for st in sets_in_force(s, today) for o in st.objectives if o.is_active(today)
        ]
        events: list[dict[str, Any]] = []
        for n, person in enumerate(people):
            mine = [
                (st, o) for st, o in objectives if o.applies_to(person.role_id, person.department)
            ]
            data: dict[str, Any] = {
                "goal_id": f"goal-{today.year}-{person.id}-1",
                "employee_id": person.id,
                "title": rng.choice(_TITLES),
                "change": "set",
                "due": (today + timedelta(days=rng.choice([60, 90, 180]))).isoformat(),
                "weight": rng.choice([20, 30, 40, 50]),
            }
            if mine and n % 5 != 4:
                st, o = rng.choice(mine)
                data["aligned_to"] = [{"objective_set_id": st.id, "objective_id": o.id}]
            else:
                reqs = s.scalars(
                    select(RoleRequirementRow)
                    .where(RoleRequirementRow.role_id == person.role_id)
                    .order_by(RoleRequirementRow.importance.desc(), RoleRequirementRow.skill_id)
                    .limit(2)
                ).all()
                data["skills"] = [
                    {"skill_id": r.skill_id, "target_level": round(min(7.0, r.level + 1.0), 1)}
                    for r in reqs
                ]
            at = now - timedelta(minutes=count - n)
            events.append(
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": GENERATED_SOURCE,
                    "type": GOAL_CHANGED,
                    "subject": person.id,
                    "time": at.isoformat(),
                    "datacontenttype": "application/json",
                    "data": data,
                }
            )
    return events
