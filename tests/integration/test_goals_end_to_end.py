"""Goals through the real stack: goal.changed on Kafka -> bridge -> the employee's workflow ->
training named after the goal, due with it; cancelled -> waived; bad goal events -> DLQ."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from support.delivery import wait_handled
from support.events import cloudevent
from temporalio.client import Client

from schemas.events import GOAL_CHANGED
from talentloop.service.bridge import Bridge
from talentloop.service.config import Settings
from talentloop.service.publishing import publish_events

pytestmark = pytest.mark.integration

EMPLOYEE = "E00026"


def goal(event_id: str, change: str, due: str, **over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "goal_id": "goal-e2e-1",
        "employee_id": EMPLOYEE,
        "title": "Lead the Q3 security architecture review",
        "change": change,
        "due": due,
        "weight": 60,
        "skills": [{"skill_id": "onet:2.A.1.a", "target_level": 6}],
    }
    data.update(over)
    now = datetime.now(UTC).isoformat()
    return cloudevent(GOAL_CHANGED, event_id, data, source="goal-system", time=now)


async def test_a_goal_drives_training_named_after_it_and_its_cancellation_waives_it(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    due = (datetime.now(UTC) + timedelta(days=75)).date().isoformat()
    await asyncio.to_thread(publish_events, settings, [goal("ev-goal-set", "set", due)])
    state = await wait_handled(client, EMPLOYEE, "ev-goal-set")
    line = next(h for h in state.history if h.event_id == "ev-goal-set")
    assert line.outcome in ("enrolled", "no-new-enrollment"), line
    item = next(i for i in state.items if "onet:2.A.1.a" in i.skills and i.is_open)
    assert "goal" in item.reason and item.due is not None and item.due.isoformat() <= due
    assert any(e.kind == "goal" and "goal-e2e-1" in e.text for e in state.timeline)

    await asyncio.to_thread(publish_events, settings, [goal("ev-goal-cancel", "cancelled", due)])
    state = await wait_handled(client, EMPLOYEE, "ev-goal-cancel")
    after = next(i for i in state.items if i.course_id == item.course_id)
    assert after.status == "waived", after.transitions
