"""The events tests send: CloudEvents as they go on the wire (dicts), the registry's examples,
and reviews whose ratings fall short of what the employee's role requires."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.store.tables import EmployeeRow, RoleRequirementRow
from schemas.events import (
    EMPLOYEE_UPDATED,
    EVENT_TYPES,
    REVIEW_COMPLETED,
    InboundEvent,
    ReviewCompleted,
    SkillRating,
)


def cloudevent(
    type_: str, event_id: str, data: Any, *, source: str = "tests", time: str | None = None
) -> dict[str, Any]:
    """A structured-mode CloudEvent (JSON-ready); `time` only when given."""
    event: dict[str, Any] = {"specversion": "1.0", "id": event_id, "source": source, "type": type_}
    if time is not None:
        event["time"] = time
    event["data"] = data
    return event


def example_data(event_type: str, **over: Any) -> dict[str, Any]:
    """A copy of the registry's example ``data`` of `event_type`, with `over` replacing fields."""
    data: dict[str, Any] = json.loads(json.dumps(EVENT_TYPES[event_type].example))
    data.update(over)
    return data


def review_event(
    employee_id: str,
    event_id: str,
    *,
    source: str = "tests",
    time: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """`review.completed.v1` as a CloudEvent: a manager (M1) rated one skill 1.0, just now.

    `data` replaces or adds fields of the review (``ratings``, ``comments``, ``reviewer_kind``,
    fields the schema does not know, ...).
    """
    review = {
        "review_id": f"rev-{event_id}",
        "employee_id": employee_id,
        "reviewer_id": "M1",
        "reviewer_kind": "manager",
        "cycle": "2026-H2",
        "completed_at": datetime.now(UTC).isoformat(),
        "ratings": [{"skill_id": "onet:2.A.1.a", "rating": 1.0}],
        **data,
    }
    return cloudevent(REVIEW_COMPLETED, event_id, review, source=source, time=time)


def employee_event(
    employee_id: str,
    event_id: str,
    change: str = "joined",
    *,
    source: str = "tests",
    time: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """`employee.updated.v1` as a CloudEvent; a "joined" brings a role, a name and an email.

    `data` replaces or adds fields of the change (``manager_id``, ``name``, ``role_id``, ...);
    a value of None leaves the field out.
    """
    update: dict[str, Any] = {"employee_id": employee_id, "change": change}
    if change == "joined":
        update |= {
            "role_id": "onet:15-1252.00",
            "name": f"Name of {employee_id}",
            "email": f"{employee_id.lower()}@example.com",
        }
    update |= data
    update = {k: v for k, v in update.items() if v is not None}
    return cloudevent(EMPLOYEE_UPDATED, event_id, update, source=source, time=time)


def role_review(
    sessions: sessionmaker[Session],
    employee_id: str,
    event_id: str,
    *,
    below: float = 2.0,
    skills: int = 3,
    digits: int | None = 1,
    reviewer_id: str | None = None,
    at: datetime | None = None,
) -> ReviewCompleted:
    """A manager review rating the role's `skills` most important skills (ties: by skill id)
    `below` levels under the requirement (never under 0), rounded to `digits` (None: as is).

    The reviewer is the employee's manager (M0 for one without), unless `reviewer_id`; the
    review is completed `at`, by default now.
    """
    with sessions() as s:
        person = s.get(EmployeeRow, employee_id)
        assert person is not None, employee_id
        reqs = s.scalars(
            select(RoleRequirementRow)
            .where(RoleRequirementRow.role_id == person.role_id)
            .order_by(RoleRequirementRow.importance.desc(), RoleRequirementRow.skill_id)
            .limit(skills)
        ).all()

    def rating(level: float) -> float:
        short = level - below
        return max(0.0, short if digits is None else round(short, digits))

    return ReviewCompleted(
        review_id=f"rev-{event_id}",
        employee_id=employee_id,
        reviewer_id=reviewer_id or person.manager_id or "M0",
        reviewer_kind="manager",
        cycle="2026-H2",
        completed_at=at or datetime.now(UTC),
        ratings=[SkillRating(skill_id=r.skill_id, rating=rating(r.level)) for r in reqs],
    )


def role_review_event(
    sessions: sessionmaker[Session],
    employee_id: str,
    event_id: str,
    *,
    comments: str | None = None,
    **shape: Any,
) -> dict[str, Any]:
    """`role_review` (`shape`: its keyword arguments) as a CloudEvent on the wire, its ``time``
    that of the review; with `comments` if given."""
    review = role_review(sessions, employee_id, event_id, **shape)
    now = review.completed_at.isoformat()
    return review_event(
        employee_id,
        event_id,
        time=now,
        reviewer_id=review.reviewer_id,
        completed_at=now,
        ratings=[r.model_dump() for r in review.ratings],
        **({} if comments is None else {"comments": comments}),
    )


def inbound_review(
    sessions: sessionmaker[Session], employee_id: str, event_id: str, **shape: Any
) -> InboundEvent:
    """`role_review` as the event a workflow receives (what the bridge makes of it)."""
    review = role_review(sessions, employee_id, event_id, **shape)
    return InboundEvent(event_id=event_id, type=REVIEW_COMPLETED, source="tests", review=review)
