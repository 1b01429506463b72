"""The first path end to end, through the real broker, Temporal dev server and SMTP sink:
review.completed on Kafka -> bridge -> workflow -> enrollments -> one email; twice -> once."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.delivery import fresh_employee, state_of, wait_handled
from support.events import cloudevent, role_review_event
from support.polling import eventually
from temporalio.client import Client
from temporalio.service import RPCError

from activities.lms.builtin import BuiltinLms
from activities.lms.completions import PollRequest
from activities.store.tables import EmployeeRow, LmsEnrollmentRow
from schemas.events import COURSE_COMPLETED
from talentloop.dev.smtpsink import read_maildir
from talentloop.service.bridge import Bridge
from talentloop.service.config import Settings
from talentloop.service.kafka import make_producer
from talentloop.service.publishing import publish_events
from workflows.completion_poll import CompletionPollWorkflow

pytestmark = pytest.mark.integration

PRIVATE = "private remarks that must never reach a log"
# A manager review rating the employee's five most important skills below the role.
review_event = partial(role_review_event, skills=5, comments=PRIVATE)


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

    state = await wait_handled(client, employee, "ev-e2e-1")
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
    await eventually(
        lambda: state_of(client, employee), until=lambda state: state.duplicates_ignored >= 1
    )
    assert enrollments(sessions, employee) == courses
    assert len(mails_to(settings, address)) == 1


async def test_same_review_under_a_new_event_id_adds_nothing(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    # An employee of the session's own, so that no other test's workflow or email is in the way.
    employee = fresh_employee(sessions, like="E00005", tag="REVIEW2")
    first = review_event(sessions, employee, "ev-e2e-2a")
    await asyncio.to_thread(publish_events, settings, [first])
    await wait_handled(client, employee, "ev-e2e-2a")
    courses = enrollments(sessions, employee)
    address = email_of(sessions, employee)
    # Emails are activities of their own: wait for this one, then for none to be in flight.
    await eventually(lambda: len(mails_to(settings, address)) == 1, 120)

    again = {**first, "id": "ev-e2e-2b"}
    await asyncio.to_thread(publish_events, settings, [again])
    state = await wait_handled(client, employee, "ev-e2e-2b")
    line = next(h for h in state.history if h.event_id == "ev-e2e-2b")
    assert line.outcome == "no-new-enrollment" and not line.enrolled
    assert enrollments(sessions, employee) == courses
    await eventually(
        lambda: state_of(client, employee),
        120,
        until=lambda s: s.emails_in_flight == 0,
        ignoring=(RPCError,),  # a query may time out while the shared worker is busy
    )
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
    await wait_handled(client, "E00006", "ev-e2e-3")
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


async def test_completion_through_kafka_closes_gaps_and_announces_gap_closed(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    employee = "E00007"
    await asyncio.to_thread(
        publish_events, settings, [review_event(sessions, employee, "ev-e2e-4", below=1.5)]
    )
    state = await wait_handled(client, employee, "ev-e2e-4")
    enrolled = [i for i in state.items if i.status == "enrolled"]
    assert enrolled, state.timeline
    now = datetime.now(UTC).isoformat()
    completions = [
        cloudevent(
            COURSE_COMPLETED,
            f"ev-e2e-4-done-{n}",
            {
                "employee_id": employee,
                "course_id": item.course_id,
                "completed_at": now,
                "score": 90.0,
                "source_lms": "builtin",
            },
            source="urn:lms:builtin",
        )
        for n, item in enumerate(enrolled)
    ]
    await asyncio.to_thread(publish_events, settings, completions)
    for c in completions:
        state = await wait_handled(client, employee, c["id"])
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
        publish_events, settings, [review_event(sessions, employee, "ev-e2e-5", below=1.5)]
    )
    state = await wait_handled(client, employee, "ev-e2e-5")
    enrolled = [i for i in state.items if i.status == "enrolled"]
    assert enrolled, state.timeline
    course = enrolled[0].course_id
    BuiltinLms(sessions).complete(employee, course)  # the learner finishes it in the LMS

    poll = PollRequest(employee_ids=[employee], activity_task_queue=settings.lms_task_queue)
    first = await client.execute_workflow(
        CompletionPollWorkflow.run, poll, id="poll-test-1", task_queue=settings.task_queue
    )
    assert first.signalled >= 1 and first.recorded >= 1
    await eventually(
        lambda: state_of(client, employee),
        timeout=60,
        until=lambda state: any(
            i.course_id == course and i.status == "completed" for i in state.items
        ),
    )
    again = await client.execute_workflow(
        CompletionPollWorkflow.run, poll, id="poll-test-2", task_queue=settings.task_queue
    )
    assert again.signalled == 0
    state = await state_of(client, employee)
    assert sum(1 for h in state.history if h.type == "course.completed.v1") == 1
