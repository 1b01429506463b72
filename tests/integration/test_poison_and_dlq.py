"""Every kind of bad input goes to the DLQ with its reason and the bridge carries on; a fixed
cause plus `dlq replay` delivers the event; objective sets start one rollout per version."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from support.cli import talentloop
from support.delivery import wait_handled
from support.events import review_event
from support.polling import eventually
from temporalio.client import Client
from temporalio.service import RPCError

from activities.directory import DirectoryActivities
from activities.store.tables import EmployeeRow, ObjectiveSetRow
from schemas.events import EVENT_TYPES, OBJECTIVES_CHANGED
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.dlq import read_dead_letters, replay
from talentloop.service.kafka import make_producer
from talentloop.service.publishing import publish_events
from workflows.rollout import StrategyRolloutWorkflow

pytestmark = pytest.mark.integration


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
    own, _bridge = poison
    example = EVENT_TYPES[OBJECTIVES_CHANGED].example_event()
    first = {**example, "id": "obj-1"}
    again = {**example, "id": "obj-2"}  # the same version, published twice under two ids
    await asyncio.to_thread(publish_events, own, [first, again])
    data = example["data"]
    handle = client.get_workflow_handle_for(
        StrategyRolloutWorkflow.run, f"rollout-{data['objective_set_id']}-v{data['version']}"
    )
    # An RPCError while the rollout has not started yet.
    result = await eventually(handle.result, ignoring=(RPCError,))
    assert result.status == "recorded"
    progress = await handle.query(StrategyRolloutWorkflow.progress)
    assert progress is not None
    assert progress.status == "recorded" and progress.event_id == "obj-1"
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 1
    with sessions() as s:
        rows = s.scalars(
            select(ObjectiveSetRow).where(ObjectiveSetRow.set_id == data["objective_set_id"])
        ).all()
    assert [(r.version, r.source_event) for r in rows] == [(data["version"], "obj-1")]
