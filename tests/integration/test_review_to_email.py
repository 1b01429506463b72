"""The first path end to end, through the real broker, Temporal dev server and SMTP sink:
review.completed on Kafka -> bridge -> workflow -> enrollments -> one email; twice -> once."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from activities.lms.builtin import BuiltinLms
from activities.lms.completions import PollRequest
from activities.store.tables import EmployeeRow, LmsEnrollmentRow, RoleRequirementRow
from schemas.events import REVIEW_COMPLETED
from schemas.learning import EmployeeLearningState
from talentloop.bridge import Bridge
from talentloop.cli import publish_events
from talentloop.config import Settings
from talentloop.kafka import make_producer
from talentloop.smtpsink import read_maildir
from workflows.completion_poll import CompletionPollWorkflow
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

pytestmark = pytest.mark.integration


async def eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.25)


async def state_of(client: Client, employee_id: str) -> EmployeeLearningState:
    handle = client.get_workflow_handle(workflow_id_for(employee_id))
    return await handle.query(EmployeeLearningWorkflow.state)


def review_event(
    sessions: sessionmaker[Session], employee_id: str, event_id: str, shortfall: float = 2.0
) -> dict[str, Any]:
    """A manager review rating the employee's five most important skills below the role."""
    with sessions() as s:
        person = s.get(EmployeeRow, employee_id)
        assert person is not None
        reqs = s.scalars(
            select(RoleRequirementRow)
            .where(RoleRequirementRow.role_id == person.role_id)
            .order_by(RoleRequirementRow.importance.desc())
            .limit(5)
        ).all()
    now = datetime.now(UTC).isoformat()
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "tests",
        "type": REVIEW_COMPLETED,
        "time": now,
        "data": {
            "review_id": f"rev-{event_id}",
            "employee_id": employee_id,
            "reviewer_id": person.manager_id or "M0",
            "reviewer_kind": "manager",
            "cycle": "2026-H2",
            "completed_at": now,
            "ratings": [
                {"skill_id": r.skill_id, "rating": max(0.0, round(r.level - shortfall, 1))}
                for r in reqs
            ],
            "comments": "private remarks that must never reach a log",
        },
    }


def mails_to(settings: Settings, address: str) -> list[Any]:
    return [m for m in read_maildir(settings.maildir) if m["To"] == address]


def enrollments(sessions: sessionmaker[Session], employee_id: str) -> list[str]:
    with sessions() as s:
        return sorted(
            s.scalars(
                select(LmsEnrollmentRow.course_id).where(
                    LmsEnrollmentRow.employee_id == employee_id
                )
            )
        )


def email_of(sessions: sessionmaker[Session], employee_id: str) -> str:
    with sessions() as s:
        person = s.get(EmployeeRow, employee_id)
        assert person is not None
        return person.email


async def test_review_enrolls_and_emails_once_even_when_delivered_twice(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    employee = "E00004"
    event = review_event(sessions, employee, "ev-e2e-1")
    await asyncio.to_thread(publish_events, settings, [event])

    state = await eventually(lambda: _handled(client, employee, "ev-e2e-1"))
    line = next(h for h in state.history if h.event_id == "ev-e2e-1")
    assert line.outcome == "enrolled", line
    assert line.gaps, "ratings two levels below the role must show gaps"
    courses = enrollments(sessions, employee)
    assert courses and sorted(c.course_id for c in line.enrolled) == courses

    address = email_of(sessions, employee)
    mails = await eventually(lambda: mails_to(settings, address))
    assert len(mails) == 1
    body = mails[0].get_body(preferencelist=("plain",)).get_content()
    for c in line.enrolled:
        assert c.title in body and c.reason in body
    assert "private remarks" not in body

    # Downstream systems heard of each enrollment once, keyed by the employee.
    announced = [
        r
        for r in await asyncio.to_thread(_read_topic, settings, settings.topic_outbound)
        if r.key == employee.encode()
    ]
    docs = [json.loads(r.value) for r in announced]
    assert sorted(d["data"]["course_id"] for d in docs) == courses
    assert all(d["type"] == "enrollment.created.v1" for d in docs)
    assert all(d["data"]["source_event_id"] == "ev-e2e-1" for d in docs)

    # The same event again (a producer retry): deduplicated by its CloudEvent id.
    await asyncio.to_thread(publish_events, settings, [event])
    await eventually(lambda: _duplicates(client, employee, 1))
    assert enrollments(sessions, employee) == courses
    assert len(mails_to(settings, address)) == 1


async def test_same_review_under_a_new_event_id_adds_nothing(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    employee = "E00005"
    first = review_event(sessions, employee, "ev-e2e-2a")
    await asyncio.to_thread(publish_events, settings, [first])
    await eventually(lambda: _handled(client, employee, "ev-e2e-2a"))
    courses = enrollments(sessions, employee)
    address = email_of(sessions, employee)
    assert len(mails_to(settings, address)) == 1

    again = {**first, "id": "ev-e2e-2b"}
    await asyncio.to_thread(publish_events, settings, [again])
    state = await eventually(lambda: _handled(client, employee, "ev-e2e-2b"))
    line = next(h for h in state.history if h.event_id == "ev-e2e-2b")
    assert line.outcome == "no-new-enrollment" and not line.enrolled
    assert enrollments(sessions, employee) == courses
    assert len(mails_to(settings, address)) == 1


async def test_malformed_message_goes_to_dlq_and_the_bridge_carries_on(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    before = bridge.stats.dead_lettered
    producer = make_producer(settings)
    producer.send(settings.topic_reviews, key=b"E00006", value=b"{this is not json").get(30)
    producer.close()
    good = review_event(sessions, "E00006", "ev-e2e-3")
    await asyncio.to_thread(publish_events, settings, [good])
    await eventually(lambda: _handled(client, "E00006", "ev-e2e-3"))
    assert bridge.stats.dead_lettered == before + 1

    dead = await asyncio.to_thread(_read_dlq, settings)
    bad = [r for r in dead if r.value == b"{this is not json"]
    assert len(bad) == 1
    headers = dict(bad[0].headers)
    assert headers["dlq.reason"] == b"not-json"
    assert headers["dlq.topic"] == settings.topic_reviews.encode()
    assert int(headers["dlq.offset"]) >= 0


def _read_dlq(settings: Settings) -> list[Any]:
    return _read_topic(settings, settings.topic_dlq)


def _read_topic(settings: Settings, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        out: list[Any] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = [r for records in consumer.poll(500).values() for r in records]
            if out and not batch:
                break  # read to the end
            out.extend(batch)
        return out
    finally:
        consumer.close()


async def _handled(client: Client, employee: str, event_id: str) -> EmployeeLearningState | None:
    try:
        state = await state_of(client, employee)
    except Exception:
        return None
    return state if any(h.event_id == event_id for h in state.history) else None


async def _duplicates(client: Client, employee: str, n: int) -> bool:
    return (await state_of(client, employee)).duplicates_ignored >= n


async def test_completion_through_kafka_closes_gaps_and_announces_gap_closed(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    employee = "E00007"
    await asyncio.to_thread(
        publish_events, settings, [review_event(sessions, employee, "ev-e2e-4", shortfall=1.5)]
    )
    state = await eventually(lambda: _handled(client, employee, "ev-e2e-4"))
    enrolled = [i for i in state.items if i.status == "enrolled"]
    assert enrolled, state.timeline
    now = datetime.now(UTC).isoformat()
    completions = [
        {
            "specversion": "1.0",
            "id": f"ev-e2e-4-done-{n}",
            "source": "urn:lms:builtin",
            "type": "course.completed.v1",
            "data": {
                "employee_id": employee,
                "course_id": item.course_id,
                "completed_at": now,
                "score": 90.0,
                "source_lms": "builtin",
            },
        }
        for n, item in enumerate(enrolled)
    ]
    await asyncio.to_thread(publish_events, settings, completions)
    for c in completions:
        state = await eventually(lambda c=c: _handled(client, employee, c["id"]))
    done = {i.course_id for i in state.items if i.status == "completed"}
    assert done == {i.course_id for i in enrolled}

    closed = [
        json.loads(r.value)
        for r in await asyncio.to_thread(_read_topic, settings, settings.topic_outbound)
        if r.key == employee.encode() and json.loads(r.value)["type"] == "gap.closed.v1"
    ]
    assert closed, "completing the courses must close at least one gap"
    assert {c["data"]["closed_by_ref"] for c in closed} <= done
    assert all(c["data"]["to_level"] >= c["data"]["target_level"] for c in closed)
    congratulations = [
        m
        for m in read_maildir(settings.maildir)
        if m["X-Talentloop-Key"].startswith(f"{employee}:completed:")
    ]
    assert len(congratulations) == len(enrolled)


async def test_completion_poll_schedule_run_delivers_each_lms_completion_once(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    employee = "E00008"
    await asyncio.to_thread(
        publish_events, settings, [review_event(sessions, employee, "ev-e2e-5", shortfall=1.5)]
    )
    state = await eventually(lambda: _handled(client, employee, "ev-e2e-5"))
    enrolled = [i for i in state.items if i.status == "enrolled"]
    assert enrolled, state.timeline
    course = enrolled[0].course_id
    BuiltinLms(sessions).complete(employee, course)  # the learner finishes it in the LMS

    poll = PollRequest(employee_ids=[employee], activity_task_queue=settings.lms_task_queue)
    first = await client.execute_workflow(
        CompletionPollWorkflow.run, poll, id="poll-test-1", task_queue=settings.task_queue
    )
    assert first.signalled >= 1 and first.recorded >= 1
    state = await eventually(
        lambda: _item_status(client, employee, course, "completed"), timeout=60
    )
    again = await client.execute_workflow(
        CompletionPollWorkflow.run, poll, id="poll-test-2", task_queue=settings.task_queue
    )
    assert again.signalled == 0
    state = await state_of(client, employee)
    assert sum(1 for h in state.history if h.type == "course.completed.v1") == 1


async def _item_status(client: Client, employee: str, course: str, status: str) -> bool:
    state = await state_of(client, employee)
    return any(i.course_id == course and i.status == status for i in state.items)
