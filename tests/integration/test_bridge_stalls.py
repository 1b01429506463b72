"""Records that used to stall the bridge (issue 13): each is dead-lettered once with its
reason, the records behind it, of its key and of other keys, are delivered, and the
partition's commits move on. Real broker, real Temporal dev server.

Each scenario sends the poison record, then a valid record of the same key and one of another
key, on a partition of its own. A permanent Temporal refusal is checked on `Delivery` alone (a
client on a namespace that does not exist). A partition assigned while the bridge is paused is
checked by driving the paused state directly with a real consumer group; the whole run,
Temporal unreachable and a member leaving, is `slow` (about 20 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from support.delivery import (
    assert_exactly_once_in_order,
    committed,
    moves,
    wait_all_handled,
)
from support.delivery import wait_handled as _wait_handled
from support.events import cloudevent, example_data, review_event
from support.kafka_wire import null_header_values
from support.polling import eventually, wait_until
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from activities.directory import DirectoryActivities
from schemas.events import OBJECTIVES_CHANGED
from schemas.rollout import RolloutProgress
from talentloop.dev.teststack import free_ports, lane
from talentloop.service.bridge import Bridge, KnownEmployee, directory_check
from talentloop.service.bridge.delivery import Delivery
from talentloop.service.bridge.partitions import RebalanceListener
from talentloop.service.bridge.stats import BridgeStats
from talentloop.service.cloudevents import InvalidEvent, decode
from talentloop.service.config import Settings
from talentloop.service.dlq import DeadLetter, read_dead_letters
from talentloop.service.kafka import make_consumer
from talentloop.service.publishing import publish_events
from workflows.rollout import StrategyRolloutWorkflow

pytestmark = pytest.mark.integration

WAIT = 30.0
"""How long a record behind a poison may take (a stalled key never comes)."""


async def wait_handled(client: Client, employee_id: str, event_id: str) -> None:
    await _wait_handled(client, employee_id, event_id, timeout=WAIT)


class Unanswerable:
    """What a buggy directory answers: an object that cannot say whether it is true."""

    def __bool__(self) -> bool:
        raise RuntimeError("E00039 Jane Doe: the directory answered nonsense")


def buggy_once_for_e00030(check: KnownEmployee) -> KnownEmployee:
    """`check`, except that the first time E00039 is asked for it answers `Unanswerable()`."""
    failed = False

    async def known(employee_id: str) -> Any:
        nonlocal failed
        if employee_id == "E00039" and not failed:
            failed = True
            return Unanswerable()
        return await check(employee_id)

    return known


@pytest.fixture(scope="module")
async def stalls(
    settings: Settings, client: Client, sessions: sessionmaker[Session], worker: None
) -> AsyncIterator[tuple[Settings, Bridge]]:
    own = lane(settings, "stalls")
    known = buggy_once_for_e00030(directory_check(DirectoryActivities(sessions).lookup))
    bridge = Bridge(own, client, known_employee=known, commit_interval=0.2)
    async with running(bridge):
        yield own, bridge


def producer_for(own: Settings) -> KafkaProducer:
    """A producer that sends records up to 16 MiB (larger than the bridge's producer takes)."""
    return KafkaProducer(bootstrap_servers=own.kafka_servers, max_request_size=16 << 20)


def send(
    producer: KafkaProducer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]] | None = None,
    *,
    partition: int,
) -> int:
    """Send one record to `topic`/`partition`; its offset.

    kafka-python's `send` refuses a header without a value and a record with neither key nor
    value, both of which Kafka allows: those are appended to the producer's batch directly.
    """
    headers = headers or []
    if value is not None and all(v is not None for _k, v in headers):
        future = producer.send(topic, key=key, value=value, headers=headers, partition=partition)
        return int(future.get(30).offset)
    producer.partitions_for(topic)  # the partition's leader, for the sender
    with null_header_values():
        future, *_ = producer._accumulator.append(
            TopicPartition(topic, partition), int(time.time() * 1000), key, value, headers
        )
    producer._sender.wakeup()
    return int(future.get(30).offset)


def json_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def review(employee_id: str, event_id: str, **data: Any) -> bytes:
    """A valid review of `employee_id` as it goes on the wire (`data`: fields replaced)."""
    return json_bytes(review_event(employee_id, event_id, **data))


def raw_dead_letters(own: Settings) -> list[ConsumerRecord]:
    """Every record of the DLQ topic with all its headers (`read_dead_letters` hides dlq.*)."""
    consumer = KafkaConsumer(bootstrap_servers=own.kafka_servers, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(own.topic_dlq) or set()
        consumer.assign([TopicPartition(own.topic_dlq, p) for p in sorted(parts)])
        consumer.seek_to_beginning()
        out: list[ConsumerRecord] = []
        quiet = time.monotonic()
        while time.monotonic() - quiet < 1.0:
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(records)
                quiet = time.monotonic()
        return out
    finally:
        consumer.close()


def letter_of(letters: list[DeadLetter], topic: str, partition: int, offset: int) -> DeadLetter:
    """The one dead letter of `topic`/`partition`@`offset`."""
    found = [d for d in letters if d.source == f"{topic}/{partition}@{offset}"]
    assert len(found) == 1, f"{len(found)} dead letters of {topic}/{partition}@{offset}"
    return found[0]


def raw_letter_of(
    records: list[ConsumerRecord], topic: str, partition: int, offset: int
) -> dict[str, bytes]:
    """The headers of the one dead letter of `topic`/`partition`@`offset` (its value as
    ``__value__``)."""
    source = (topic.encode(), str(partition).encode(), str(offset).encode())
    found = []
    for r in records:
        h = dict(r.headers or [])
        if (h.get("dlq.topic"), h.get("dlq.partition"), h.get("dlq.offset")) == source:
            found.append(r)
    assert len(found) == 1, f"{len(found)} dead letters of {topic}/{partition}@{offset}"
    return {"__value__": found[0].value, **dict(found[0].headers)}


async def commits_reach(own: Settings, topic: str, partition: int, end: int) -> None:
    """Wait until the group committed `topic`/`partition` up to `end` (one past the last)."""

    def offset() -> int | None:
        consumer = KafkaConsumer(
            bootstrap_servers=own.kafka_servers,
            group_id=own.consumer_group,
            enable_auto_commit=False,
        )
        try:
            return consumer.committed(TopicPartition(topic, partition))
        finally:
            consumer.close()

    await eventually(
        lambda: asyncio.to_thread(offset),
        WAIT,
        until=lambda o: o is not None and o >= end,
        message=lambda o: f"{topic}/{partition} committed {o}, not {end}",
    )


# -- 1. a record the DLQ producer refuses ------------------------------------------------------


async def test_records_too_large_for_a_whole_dead_letter_are_dead_lettered_cut_down(
    stalls: tuple[Settings, Bridge], client: Client
) -> None:
    own, bridge = stalls
    topic, p = own.topic_reviews, 0  # a partition of its own among the tests
    refusals = bridge.stats.dead_letter_refusals
    # A value over 1 MiB: cut down at once. A smaller value with a header that makes the whole
    # letter larger than the DLQ producer takes: refused by it (MessageSizeTooLargeError, not
    # retriable), then written cut down.
    big = review("E00031", "big-0", comments="x" * (3 << 19))
    refused = b"\x01" * (600 << 10)
    assert len(big) > 1 << 20
    producer = producer_for(own)
    try:
        at_big = send(producer, topic, b"E00031", big, partition=p)
        at_refused = send(
            producer, topic, b"E00031", refused, [("trace", b"t" * (600 << 10))], partition=p
        )
        send(producer, topic, b"E00031", review("E00031", "big-1"), partition=p)
        end = 1 + send(producer, topic, b"E00032", review("E00032", "big-2"), partition=p)
    finally:
        producer.close()

    await wait_handled(client, "E00031", "big-1")
    await wait_handled(client, "E00032", "big-2")
    await commits_reach(own, topic, p, end)
    letters = await asyncio.to_thread(read_dead_letters, own)
    raw = await asyncio.to_thread(raw_dead_letters, own)
    for at, original in ((at_big, big), (at_refused, refused)):
        letter = letter_of(letters, topic, p, at)
        assert (letter.reason, letter.key) == ("oversized", b"E00031")
        assert letter.value is not None and 0 < len(letter.value) < len(original)
        assert original.startswith(letter.value)
        headers = raw_letter_of(raw, topic, p, at)
        assert headers["dlq.truncated"] == b"true"
        assert headers["dlq.original-size"] == str(len(original)).encode()
        assert headers["dlq.original-sha256"] == hashlib.sha256(original).hexdigest().encode()
    assert letter_of(letters, topic, p, at_refused).headers == []
    assert raw_letter_of(raw, topic, p, at_refused)["dlq.headers-dropped"] == b"1"
    assert bridge.stats.dead_letter_refusals == refusals + 1


# -- 2. records kafka-python's producer refuses, and errors nobody foresaw --------------------


async def test_null_header_values_and_a_keyless_tombstone_are_dead_lettered(
    stalls: tuple[Settings, Bridge], client: Client
) -> None:
    own, _bridge = stalls
    topic, p = own.topic_reviews, 1
    producer = producer_for(own)
    try:
        with_null = send(
            producer,
            topic,
            b"E00033",
            b"\x00 not json",
            headers=[("traceparent", None), ("origin", b"hr")],
            partition=p,
        )
        tombstone = send(producer, topic, None, None, partition=p)
        send(producer, topic, b"E00033", review("E00033", "nul-1"), partition=p)
        # No key: the same chain as the tombstone's.
        send(producer, topic, None, review("E00034", "nul-2"), partition=p)
        end = 1 + send(producer, topic, b"E00035", review("E00035", "nul-3"), partition=p)
    finally:
        producer.close()

    await wait_handled(client, "E00033", "nul-1")
    await wait_handled(client, "E00034", "nul-2")
    await wait_handled(client, "E00035", "nul-3")
    await commits_reach(own, topic, p, end)
    letters = await asyncio.to_thread(read_dead_letters, own)
    # A null header value may come to be refused as corrupt-record before the body is read.
    assert letter_of(letters, topic, p, with_null).reason in ("not-json", "corrupt-record")
    assert letter_of(letters, topic, p, tombstone).reason == "empty"
    raw = await asyncio.to_thread(raw_dead_letters, own)
    nulled = raw_letter_of(raw, topic, p, with_null)
    assert nulled["__value__"] == b"\x00 not json"
    assert nulled["traceparent"] == b"" and nulled["origin"] == b"hr"
    assert nulled["dlq.null-headers"] == b"traceparent"
    empty = raw_letter_of(raw, topic, p, tombstone)
    assert empty["__value__"] == b"" and empty["dlq.null-value"] == b"true"


async def test_an_unexpected_error_dead_letters_the_record_as_internal_error(
    stalls: tuple[Settings, Bridge], client: Client
) -> None:
    own, bridge = stalls
    topic, p = own.topic_reviews, 2
    before = bridge.stats.internal_errors
    poison = review("E00039", "int-0")
    producer = producer_for(own)
    try:
        # The directory's first answer about E00039 raises when the bridge looks at it.
        at = send(producer, topic, b"E00039", poison, partition=p)
        send(producer, topic, b"E00039", review("E00039", "int-1"), partition=p)
        end = 1 + send(producer, topic, b"E00037", review("E00037", "int-2"), partition=p)
    finally:
        producer.close()

    await wait_handled(client, "E00039", "int-1")
    await wait_handled(client, "E00037", "int-2")
    await commits_reach(own, topic, p, end)
    letter = letter_of(await asyncio.to_thread(read_dead_letters, own), topic, p, at)
    assert (letter.reason, letter.detail) == ("internal-error", "RuntimeError")
    assert letter.value == poison
    # The exception's message (it quotes a name) is nowhere in the dead letter.
    headers = raw_letter_of(await asyncio.to_thread(raw_dead_letters, own), topic, p, at)
    assert not [k for k, v in headers.items() if k != "__value__" and b"Jane" in v]
    assert bridge.stats.internal_errors == before + 1


async def test_a_permanent_temporal_refusal_is_dead_lettered_not_retried(
    settings: Settings, client: Client
) -> None:
    """A namespace that does not exist: NOT_FOUND, which no retry will change."""
    wrong = await Client.connect(
        settings.temporal_target,
        namespace="no-such-namespace",
        data_converter=pydantic_data_converter,
    )
    stats = BridgeStats()
    delivery = Delivery(settings, wrong, stats, max_calls=4)
    event = decode(
        review("E00038", "ns-0"),
        [],
        topic=settings.topic_reviews,
        partition=0,
        offset=0,
        max_bytes=settings.max_event_bytes,
    )
    with pytest.raises(InvalidEvent) as refused:
        await asyncio.wait_for(delivery.deliver(event), 10)
    assert (refused.value.reason, refused.value.detail) == ("temporal-refused", "NOT_FOUND")
    assert stats.temporal_retries == 0 and stats.signalled == 0


# -- 3. an objective-set version re-sent with other content ------------------------------------


async def test_an_objective_set_version_resent_with_other_content_is_a_conflict(
    stalls: tuple[Settings, Bridge], client: Client
) -> None:
    own, _bridge = stalls
    topic, p = own.topic_objectives, 0
    set_id = f"stalls-{time.time_ns()}"
    data = example_data(OBJECTIVES_CHANGED, objective_set_id=set_id, version=1)
    other = {**data, "effective_from": "2027-02-01"}
    v2 = {**data, "version": 2}

    def objectives(event_id: str, body: dict[str, Any]) -> bytes:
        return json_bytes(cloudevent(OBJECTIVES_CHANGED, event_id, body))

    another = {**data, "objective_set_id": f"{set_id}-other"}  # another key
    key = set_id.encode()
    producer = producer_for(own)
    try:
        send(producer, topic, key, objectives("set-1", data), partition=p)
        conflict = send(producer, topic, key, objectives("set-2", other), partition=p)
        same = send(producer, topic, key, objectives("set-3", data), partition=p)  # a duplicate
        send(producer, topic, key, objectives("set-4", v2), partition=p)
        other_key = another["objective_set_id"].encode()
        end = 1 + send(producer, topic, other_key, objectives("set-5", another), partition=p)
    finally:
        producer.close()

    async def rollout(name: str) -> RolloutProgress:
        handle = client.get_workflow_handle_for(StrategyRolloutWorkflow.run, f"rollout-{name}")
        # An RPCError while the rollout has not started yet; it then waits for an approver.
        progress: RolloutProgress = await eventually(
            lambda: handle.query(StrategyRolloutWorkflow.progress),
            WAIT,
            until=lambda got: got is not None,
            ignoring=(RPCError,),
        )
        return progress

    assert (await rollout(f"{set_id}-v2")).event_id == "set-4"
    assert (await rollout(f"{set_id}-other-v1")).event_id == "set-5"
    assert (await rollout(f"{set_id}-v1")).event_id == "set-1"  # the first one wins
    await commits_reach(own, topic, p, end)
    letters = await asyncio.to_thread(read_dead_letters, own)
    assert letter_of(letters, topic, p, conflict).reason == "conflicting-duplicate"
    assert not [d for d in letters if d.source == f"{topic}/{p}@{same}"]


# -- 4. a partition assigned while the bridge is paused ----------------------------------------


async def test_partitions_assigned_while_paused_arrive_paused(
    settings: Settings, client: Client
) -> None:
    """The paused state driven directly: a bridge's rebalance callbacks on a real consumer that
    joins a real group while the bridge counts as paused. Nothing may be fetched.

    (Through a whole bridge, the overshoot does not show: an eager rebalance, what
    kafka-python's default assignors do, revokes every partition first and the backlog with
    it, so the bridge resumes anyway; see
    `test_temporal_down_and_a_rebalance_keep_the_backlog_bounded`. Incremental rebalancing,
    where it would show, did not finish its second round on Tansu 0.6.0 when tried.)
    """
    own = lane(settings, "assign-paused")
    await asyncio.to_thread(publish, own, moves("ap", 1))
    bridge = Bridge(own, client)
    consumer = make_consumer(own)
    bridge._consumer = consumer
    bridge._paused = True
    listener = RebalanceListener(bridge._revoke, bridge._on_assigned, lambda: None)
    consumer.subscribe(own.inbound_topics, listener=listener)
    fetched = 0

    def assigned() -> set[TopicPartition]:
        nonlocal fetched
        fetched += sum(len(r) for r in consumer.poll(timeout_ms=100).values())
        return consumer.assignment()

    try:
        parts = await asyncio.to_thread(wait_until, assigned, 30, interval=0)
        for _ in range(10):
            await asyncio.to_thread(assigned)
        assert consumer.paused() == parts
        assert fetched == 0
    finally:
        await asyncio.to_thread(consumer.close)


class Outage:
    """A TCP relay to the Temporal frontend: cut it and Temporal is unreachable to the clients
    connected through it (calls fail UNAVAILABLE), restore it and they reconnect."""

    def __init__(self, target: str) -> None:
        self._target = target.rsplit(":", 1)
        self.address = f"127.0.0.1:{free_ports(1)[0]}"
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        """Relay connections."""
        host, port = self.address.rsplit(":", 1)
        self._server = await asyncio.start_server(self._relay, host, int(port))

    async def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            far_reader, far_writer = await asyncio.open_connection(
                self._target[0], int(self._target[1])
            )
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, far_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()
                self._open.discard(dst)

        await asyncio.gather(pipe(reader, far_writer), pipe(far_reader, writer))


def hold_member(own: Settings, leave: threading.Event, joined: threading.Event) -> None:
    """A second group member that takes partitions and never handles or commits anything."""
    member = make_consumer(own)
    member.subscribe(own.inbound_topics)
    try:
        while not leave.is_set():
            member.poll(timeout_ms=100)
            if member.assignment():
                joined.set()
    finally:
        member.close()


@pytest.mark.slow
async def test_temporal_down_and_a_rebalance_keep_the_backlog_bounded(
    settings: Settings, client: Client, worker: None
) -> None:
    """Temporal unreachable, the bridge paused at its limit, then the other member leaves and
    its partitions come to the paused bridge: the backlog never passes `max_in_flight`, nothing
    is committed, and once Temporal is back everything is delivered once, in order (~20 s)."""
    own = lane(settings, "paused-rebalance")
    outage = Outage(own.temporal_target)
    await outage.up()
    relayed = await Client.connect(outage.address, data_converter=pydantic_data_converter)
    leave, joined = threading.Event(), threading.Event()
    member = asyncio.create_task(asyncio.to_thread(hold_member, own, leave, joined))
    limit = 12
    stop = asyncio.Event()
    bridge = Bridge(own, relayed, max_in_flight=limit, max_records=4, poll_ms=50)
    task: asyncio.Task[None] | None = None
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, bridge.in_flight)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        assert await asyncio.to_thread(joined.wait, 30)
        task = asyncio.create_task(bridge.run(stop))
        await asyncio.wait_for(bridge.assigned.wait(), 60)
        await outage.down()
        await asyncio.to_thread(publish, own, moves("pr", 3))
        await eventually(lambda: bridge.stats.pauses >= 1, WAIT, message="never paused")
        bridge.assigned.clear()
        leave.set()  # the member leaves: its partitions come to the paused bridge
        await member
        await asyncio.wait_for(bridge.assigned.wait(), 30)
        await asyncio.sleep(1)
        assert peak <= limit
        assert sum(o or 0 for o in committed(own).values()) == 0
        await outage.up()
        seen = await wait_all_handled(client, "pr", 3, timeout=60)
        assert_exactly_once_in_order(seen, "pr", 3)
        assert peak <= limit
    finally:
        sampler.cancel()
        leave.set()
        stop.set()
        if task is not None:
            await task
        await outage.down()


def publish(own: Settings, events: list[dict[str, Any]]) -> None:
    publish_events(own, events)
