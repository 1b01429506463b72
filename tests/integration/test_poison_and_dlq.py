"""Every kind of bad input goes to the DLQ with its reason and the bridge carries on; a fixed
cause plus `dlq replay` delivers the event; objective sets start one rollout per version."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from support.cli import talentloop
from support.delivery import wait_handled
from support.events import review_event
from support.polling import eventually
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.directory import DirectoryActivities
from activities.store.tables import EmployeeRow, ObjectiveSetRow
from schemas.events import EVENT_TYPES, OBJECTIVES_CHANGED
from schemas.rollout import ObjectiveSetEvent
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.dlq import read_dead_letters, replay
from talentloop.service.kafka import make_producer
from talentloop.service.publishing import record_key, target_topic, wire_value
from workflows.rollout import StrategyRolloutWorkflow

pytestmark = pytest.mark.integration


def no_workflow(err: BaseException) -> bool:
    """A Temporal call failed because the workflow does not exist yet."""
    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


def publish_each(own: Settings, events: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """Publish the events one by one, as `publish_events` would; where each was written."""
    producer = make_producer(own)
    try:
        out = []
        for ev in events:
            topic = target_topic(own, ev, None)
            assert topic is not None
            md = producer.send(topic, key=record_key(ev), value=wire_value(ev)).get(30)
            out.append((md.topic, md.partition, md.offset))
        return out
    finally:
        producer.close()


async def started_by(client: Client, workflow_id: str) -> str:
    """The id of the event the workflow's latest run was started with (its first input)."""
    handle = client.get_workflow_handle(workflow_id)
    async for history_event in handle.fetch_history_events(page_size=1):
        started = history_event.workflow_execution_started_event_attributes
        (event,) = await client.data_converter.decode(
            list(started.input.payloads), [ObjectiveSetEvent]
        )
        assert isinstance(event, ObjectiveSetEvent)
        return event.event_id
    raise AssertionError(f"{workflow_id} has no history")


def committed_offset(own: Settings, topic: str, partition: int) -> int | None:
    """The bridge group's committed offset of one partition."""
    consumer = KafkaConsumer(
        bootstrap_servers=own.kafka_servers, group_id=own.consumer_group, enable_auto_commit=False
    )
    try:
        return consumer.committed(TopicPartition(topic, partition))
    finally:
        consumer.close()


@pytest.fixture(scope="module")
async def poison(
    settings: Settings, client: Client, sessions: sessionmaker[Session], worker: None
) -> AsyncIterator[tuple[Settings, Bridge]]:
    values = lane(settings, "poison").model_dump()
    values["max_event_bytes"] = 4000
    own = Settings(**values)
    bridge = Bridge(
        own, client, known_employee=directory_check(DirectoryActivities(sessions).lookup)
    )
    async with running(bridge):
        yield own, bridge


async def test_each_poison_goes_to_the_dlq_with_its_reason_and_the_rest_flows(
    poison: tuple[Settings, Bridge], client: Client, sessions: sessionmaker[Session]
) -> None:
    own, bridge = poison
    before = bridge.stats.dead_lettered
    poisons = [
        ("not-json", b"\x00\x01 definitely not json"),
        ("not-json", b"[" * 3000),  # nested deeper than Python's json parser goes
        ("not-cloudevent", json.dumps({"hello": "world"}).encode()),
        (
            "unknown-type",
            json.dumps({**review_event("E00020", "p-1"), "type": "review.deleted.v1"}).encode(),
        ),
        (
            "schema-invalid",
            json.dumps(review_event("E00020", "p-2", reviewer_kind="boss")).encode(),
        ),
        ("oversized", json.dumps(review_event("E00020", "p-3", comments="x" * 5000)).encode()),
        ("unknown-employee", json.dumps(review_event("E99999", "p-4")).encode()),
    ]
    producer = make_producer(own)
    try:
        for reason, value in poisons:
            # Keyed by the employee the event names (an event under another's key is refused).
            key = b"E99999" if reason == "unknown-employee" else b"E00020"
            producer.send(own.topic_reviews, key=key, value=value).get(30)
        # A valid event in binary mode, after the poison on the same key: still delivered.
        good = review_event("E00020", "p-good")
        headers = [(f"ce_{k}", str(v).encode()) for k, v in good.items() if k != "data"]
        producer.send(
            own.topic_reviews,
            key=b"E00020",
            value=json.dumps(good["data"]).encode(),
            headers=[*headers, ("content-type", b"application/json")],
        ).get(30)
    finally:
        producer.close()

    await wait_handled(client, "E00020", "p-good")
    assert bridge.stats.dead_lettered - before == len(poisons)
    letters = await asyncio.to_thread(read_dead_letters, own)
    by_reason = {d.reason: d for d in letters}
    for reason, value in poisons:
        letter = next((d for d in letters if d.value == value), None)
        assert letter is not None and letter.reason == reason, reason
        assert letter.source_topic == own.topic_reviews and letter.source_offset >= 0
        assert letter.time

    # `talentloop dlq list` shows them, one line each.
    listing = talentloop("dlq", "list", env=own.to_env())
    assert listing.exit_code == 0, listing.stderr
    for reason, _value in poisons:
        assert reason in listing.stdout

    # The directory learns of E99999; the replayed event now goes through.
    with sessions.begin() as s:
        s.add(
            EmployeeRow(
                id="E99999",
                name="Late Joiner",
                email="late.joiner@example.com",
                role_id=s.scalars(select(EmployeeRow.role_id)).first(),
                department="People",
                locale="en",
            )
        )
    assert await asyncio.to_thread(replay, own, [by_reason["unknown-employee"]]) == 1
    await wait_handled(client, "E99999", "p-4")


async def test_objective_set_versions_start_one_rollout_each(
    poison: tuple[Settings, Bridge], client: Client, sessions: sessionmaker[Session]
) -> None:
    own, bridge = poison
    example = EVENT_TYPES[OBJECTIVES_CHANGED].example_event()
    first = {**example, "id": "obj-1"}
    again = {**example, "id": "obj-2"}  # the same version, published twice under two ids
    before = bridge.stats.signalled, bridge.stats.dead_lettered
    sent = await asyncio.to_thread(publish_each, own, [first, again])
    data = example["data"]
    handle = client.get_workflow_handle_for(
        StrategyRolloutWorkflow.run, f"rollout-{data['objective_set_id']}-v{data['version']}"
    )
    # Not found while the rollout has not started yet; any other error is a failure.
    await eventually(handle.describe, 60, ignoring=no_workflow)
    # The duplicate handled too (the group committed past it) before counting the runs.
    topic, partition, offset = sent[-1]
    await eventually(
        lambda: asyncio.to_thread(committed_offset, own, topic, partition),
        60,
        interval=0.2,
        until=lambda done: done is not None and done > offset,
        message=lambda done: f"committed {done}, the duplicate is at {offset}",
    )
    # Accepted as a duplicate of the same objective set: delivered, not dead-lettered.
    assert bridge.stats.signalled - before[0] >= 2
    assert bridge.stats.dead_lettered == before[1]
    # One run, the one the first event started: the duplicate started none.
    assert await started_by(client, handle.id) == "obj-1"
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 1
    # The rollout the first event started waits for an HR approver; nothing is in force yet.
    progress = await eventually(
        lambda: handle.query(StrategyRolloutWorkflow.progress),
        60,
        until=lambda got: got is not None and got.status == "awaiting-approval",
    )
    assert progress.event_id == "obj-1"
    with sessions() as s:
        rows = s.scalars(
            select(ObjectiveSetRow).where(ObjectiveSetRow.set_id == data["objective_set_id"])
        ).all()
    assert rows == []
