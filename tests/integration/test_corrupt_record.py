"""Issue 13: a record kafka-python cannot read goes to the DLQ as `corrupt-record`, and the
records behind it on its partition, of its key and of another, are still delivered: a header
key that is not UTF-8, a record batch whose CRC does not match, a record of an invalid
structure (each used to make kafka-python's fetcher spin inside `poll` for good)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from support.delivery import state_of, wait_handled
from support.events import review_event
from support.kafka_wire import RawKey, mangled_batches, negative_header_count, wrong_crc
from support.polling import eventually
from temporalio.client import Client

from activities.directory import DirectoryActivities
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.dlq import read_dead_letters
from talentloop.service.kafka import make_producer

pytestmark = pytest.mark.integration

BAD_KEY = b"ce_\xff\xfeid"
MARKER = "x-invalid-utf8-key-" + BAD_KEY.hex()


@pytest.fixture(scope="module")
async def corrupt_lane(
    settings: Settings, client: Client, sessions: sessionmaker[Session], worker: None
) -> AsyncIterator[tuple[Settings, Bridge]]:
    own = lane(settings, "corrupt")
    bridge = Bridge(
        own, client, known_employee=directory_check(DirectoryActivities(sessions).lookup)
    )
    # Unpatched, the consumer thread never comes back from `poll` and stopping times out.
    async with running(bridge, stop_timeout=30):
        yield own, bridge


def committed(own: Settings, partition: int) -> int | None:
    consumer = KafkaConsumer(
        bootstrap_servers=own.kafka_servers, group_id=own.consumer_group, enable_auto_commit=False
    )
    try:
        return consumer.committed(TopicPartition(own.topic_reviews, partition))
    finally:
        consumer.close()


async def test_a_header_key_that_is_not_utf8_is_dead_lettered_and_the_partition_flows(
    corrupt_lane: tuple[Settings, Bridge], client: Client
) -> None:
    own, bridge = corrupt_lane
    before = bridge.stats.dead_lettered
    # The corrupt record's value is a valid review: it is refused for its header alone.
    corrupt = json.dumps(review_event("E00027", "cr-corrupt")).encode()
    same_key = json.dumps(review_event("E00027", "cr-same-key")).encode()
    other_key = json.dumps(review_event("E00028", "cr-other-key")).encode()
    producer = make_producer(own)
    try:
        sent = [
            producer.send(
                own.topic_reviews,
                key=b"E00027",
                value=corrupt,
                headers=[("origin", b"tests"), (RawKey(BAD_KEY), b"cr-corrupt")],
                partition=0,
            ).get(30),
            producer.send(own.topic_reviews, key=b"E00027", value=same_key, partition=0).get(30),
            producer.send(own.topic_reviews, key=b"E00028", value=other_key, partition=0).get(30),
        ]
    finally:
        producer.close()
    first = sent[0].offset
    assert [m.offset for m in sent] == [first, first + 1, first + 2]

    await wait_handled(client, "E00027", "cr-same-key")
    await wait_handled(client, "E00028", "cr-other-key")
    history = [h.event_id for h in (await state_of(client, "E00027")).history]
    assert "cr-corrupt" not in history
    assert bridge.stats.dead_lettered - before == 1

    letters = await asyncio.to_thread(read_dead_letters, own)
    (letter,) = [d for d in letters if d.source_offset == first]
    assert letter.reason == "corrupt-record"
    assert letter.detail == f"header key not UTF-8 (hex): {BAD_KEY.hex()}"
    assert (letter.source_topic, letter.source_partition) == (own.topic_reviews, 0)
    assert letter.key == b"E00027" and letter.value == corrupt
    assert letter.headers == [("origin", b"tests"), (MARKER, b"cr-corrupt")]

    # Every offset is committed past the corrupt record: a restart does not meet it again.
    await eventually(
        lambda: asyncio.to_thread(committed, own, 0),
        30,
        interval=1.0,
        until=lambda offset: offset is not None and offset >= first + 3,
        message=lambda offset: f"committed {offset}",
    )


@pytest.mark.parametrize(
    ("kind", "mangle"),
    [
        ("crc", {"built": wrong_crc}),
        ("structure", {"body": negative_header_count}),
    ],
)
async def test_a_batch_kafka_python_cannot_read_is_dead_lettered_and_the_partition_flows(
    corrupt_lane: tuple[Settings, Bridge], client: Client, kind: str, mangle: dict[str, Any]
) -> None:
    own, bridge = corrupt_lane
    employee, other = ("E00029", "E00030") if kind == "crc" else ("E00031", "E00032")
    before = bridge.stats.dead_lettered
    corrupt = json.dumps(review_event(employee, f"cr-{kind}-corrupt")).encode()
    same_key = json.dumps(review_event(employee, f"cr-{kind}-same-key")).encode()
    other_key = json.dumps(review_event(other, f"cr-{kind}-other-key")).encode()
    producer = make_producer(own)
    try:
        # One record per batch: every batch built inside the block is mangled.
        with mangled_batches(**mangle):
            first = producer.send(
                own.topic_reviews, key=employee.encode(), value=corrupt, partition=1
            ).get(30)
        sent = [
            first,
            producer.send(
                own.topic_reviews, key=employee.encode(), value=same_key, partition=1
            ).get(30),
            producer.send(own.topic_reviews, key=other.encode(), value=other_key, partition=1).get(
                30
            ),
        ]
    finally:
        producer.close()
    offset = first.offset
    assert [m.offset for m in sent] == [offset, offset + 1, offset + 2]

    await wait_handled(client, employee, f"cr-{kind}-same-key")
    await wait_handled(client, other, f"cr-{kind}-other-key")
    history = [h.event_id for h in (await state_of(client, employee)).history]
    assert f"cr-{kind}-corrupt" not in history
    assert bridge.stats.dead_lettered - before == 1

    letters = await asyncio.to_thread(read_dead_letters, own)
    (letter,) = [d for d in letters if d.source_offset == offset and d.source_partition == 1]
    assert letter.reason == "corrupt-record"
    assert letter.detail.startswith(
        f"offset {offset} unreadable (the value is the record batch's bytes): "
    )
    expected = "failed crc check" if kind == "crc" else "invalid number of record headers -1"
    assert expected in letter.detail
    # What can be read of it: the batch as the broker served it, the record's bytes inside.
    assert letter.key is None and corrupt in letter.value
    assert letter.source_topic == own.topic_reviews

    await eventually(
        lambda: asyncio.to_thread(committed, own, 1),
        30,
        interval=1.0,
        until=lambda committed_offset: (
            committed_offset is not None and committed_offset >= offset + 3
        ),
        message=lambda committed_offset: f"committed {committed_offset}",
    )
