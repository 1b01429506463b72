"""The events.publish activity against a real Kafka-protocol broker (Tansu, in memory)."""

import json
import time
from datetime import UTC, date, datetime

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.outbound import OutboundActivities
from schemas.envelope import STRUCTURED_CONTENT_TYPE
from schemas.events import EVENT_TYPES, REVIEW_COMPLETED
from schemas.outbound import (
    ENROLLMENT_CREATED,
    ROLLOUT_COMPLETED,
    EnrollmentCreated,
    PublishBatch,
    PublishRequest,
    RolloutCompleted,
    outbound_event,
)
from talentloop.dev.devstack import DevStack
from talentloop.dev.teststack import private_settings

TOPIC = "talentloop.events.test"
PARTITIONS = 3
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory):
    settings = private_settings(tmp_path_factory.mktemp("outbound"))
    stack = DevStack(settings)
    try:
        stack.up(only=("kafka",))
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        try:
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
        finally:
            admin.close()
        yield settings.kafka_servers
    finally:
        stack.down()


@pytest.fixture(scope="module")
def producer(bootstrap):
    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="talentloop-test",
        enable_idempotence=True,
        acks="all",
    )
    yield p
    p.close(timeout=5)


def consume(bootstrap, count, timeout_s=20.0):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records = []
        deadline = time.monotonic() + timeout_s
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def enrollment_request(course="C-0042"):
    data = EnrollmentCreated(
        enrollment_id=f"enr-E00017-{course}",
        employee_id="E00017",
        course_id=course,
        due=date(2026, 12, 2),
        reason="Programming 2→4 for role Software Developers",
        source_event_id="ev-review-1",
    )
    return PublishRequest.of(
        outbound_event(ENROLLMENT_CREATED, data, cause_id="ev-review-1", time=NOW)
    )


async def test_publishing_twice_gives_the_same_id_and_key(bootstrap, producer):
    acts = OutboundActivities(producer, TOPIC)
    env = ActivityEnvironment()
    req = enrollment_request()
    first = await env.run(acts.publish, req)
    second = await env.run(acts.publish, PublishRequest.model_validate_json(req.model_dump_json()))
    rollout = PublishRequest.of(
        outbound_event(
            ROLLOUT_COMPLETED,
            RolloutCompleted(
                objective_set_id="strategy-2027",
                version=2,
                employees_affected=3,
                enrollments=5,
                started_at=NOW,
                finished_at=NOW,
            ),
            cause_id="strategy-2027@v2",
            time=NOW,
        )
    )
    third = await env.run(acts.publish, rollout)

    assert first.event_id == second.event_id == req.event.id
    assert (first.key, first.topic, first.partition) == ("E00017", TOPIC, second.partition)
    assert second.offset > first.offset
    assert third.key == "strategy-2027"

    records = consume(bootstrap, 3)
    by_key: dict[bytes, list] = {}
    for r in records:
        by_key.setdefault(r.key, []).append(r)
    employee = by_key[b"E00017"]
    assert len(employee) == 2
    events = [json.loads(r.value) for r in employee]
    assert events[0] == events[1]
    assert events[0]["id"] == req.event.id and events[0]["type"] == ENROLLMENT_CREATED
    assert dict(employee[0].headers)["content-type"] == STRUCTURED_CONTENT_TYPE.encode()
    spec = EVENT_TYPES[ENROLLMENT_CREATED]
    typed = spec.envelope.model_validate_json(employee[0].value)
    assert typed.data.course_id == "C-0042"
    [set_record] = by_key[b"strategy-2027"]
    assert json.loads(set_record.value)["data"]["employees_affected"] == 3


async def test_inbound_types_and_invalid_events_are_refused_without_retry(producer):
    acts = OutboundActivities(producer, TOPIC)
    env = ActivityEnvironment()
    inbound = EVENT_TYPES[REVIEW_COMPLETED].example_event()
    with pytest.raises(ApplicationError) as err:
        await env.run(
            acts.publish, PublishRequest.model_validate_json(json.dumps({"event": inbound}))
        )
    assert err.value.non_retryable and err.value.type == "NotOutbound"

    doc = json.loads(enrollment_request().model_dump_json())
    doc["event"]["data"]["surprise"] = True
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.publish, PublishRequest.model_validate_json(json.dumps(doc)))
    assert err.value.non_retryable and err.value.type == "SchemaInvalid"


async def test_a_batch_is_validated_whole_then_sent_in_order(bootstrap, producer):
    topic = "talentloop.events.batch"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    acts = OutboundActivities(producer, topic)
    env = ActivityEnvironment()
    good = [enrollment_request(f"C-B{n}").event for n in range(3)]
    bad = json.loads(enrollment_request("C-BAD").model_dump_json())["event"]
    bad["data"]["surprise"] = True
    with pytest.raises(ApplicationError) as err:
        await env.run(
            acts.publish_many,
            PublishBatch.model_validate_json(
                json.dumps({"events": [*(json.loads(g.model_dump_json()) for g in good), bad]})
            ),
        )
    assert err.value.non_retryable and err.value.type == "SchemaInvalid"

    results = await env.run(acts.publish_many, PublishBatch(events=good))
    assert [r.event_id for r in results] == [g.id for g in good]
    assert [r.offset for r in results] == sorted(r.offset for r in results)

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        part = TopicPartition(topic, 0)
        consumer.assign([part])
        consumer.seek_to_beginning(part)
        records: list = []
        deadline = time.monotonic() + 20
        while len(records) < 3 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    # The invalid batch sent nothing: only the good one's three records, in order.
    assert [json.loads(r.value)["data"]["course_id"] for r in records] == ["C-B0", "C-B1", "C-B2"]
