"""The bridge: Kafka consumer group -> validated CloudEvents -> Temporal signal-with-start.

Offsets are committed per partition only up to the last record whose signal Temporal accepted
or which went to the DLQ. Partitions are handled concurrently, records of one partition in
order. All consumer calls run on one dedicated thread (kafka-python is not thread-safe);
Temporal calls stay on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from temporalio.client import Client
from temporalio.service import RPCError

from schemas.events import InboundEvent
from schemas.learning import EmployeeWorkflowInput
from talentloop.cloudevents import InvalidEvent, decode
from talentloop.config import Settings
from talentloop.kafka import make_consumer, make_producer
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class BridgeStats:
    """Counters of what the bridge did since it started."""

    consumed: int = 0
    signalled: int = 0
    dead_lettered: int = 0
    temporal_retries: int = 0
    commits: int = 0


class Bridge:
    """Moves events from the inbound topics to the employees' workflows."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        group_id: str | None = None,
        poll_ms: int = 200,
        max_records: int = 500,
    ) -> None:
        """Build a bridge; nothing connects until `run`."""
        self._settings = settings
        self._client = client
        self._group_id = group_id
        self._poll_ms = poll_ms
        self._max_records = max_records
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self.stats = BridgeStats()
        self.assigned = asyncio.Event()

    async def _on_consumer_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, partial(fn, *args, **kwargs))

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; then finish what is in flight, commit and leave."""
        settings = self._settings
        consumer = await self._on_consumer_thread(make_consumer, settings, self._group_id)
        producer = await asyncio.to_thread(make_producer, settings)
        self._consumer, self._producer = consumer, producer
        await self._on_consumer_thread(consumer.subscribe, settings.inbound_topics)
        log.info("bridge consuming %s", ", ".join(settings.inbound_topics))
        try:
            while not stop.is_set():
                batch: dict[TopicPartition, list[ConsumerRecord]] = await self._on_consumer_thread(
                    consumer.poll, timeout_ms=self._poll_ms, max_records=self._max_records
                )
                if not self.assigned.is_set() and consumer.assignment():
                    self.assigned.set()
                if not batch:
                    continue
                done = await asyncio.gather(
                    *(self._partition(tp, records, stop) for tp, records in batch.items())
                )
                offsets = {
                    tp: OffsetAndMetadata(last + 1, "", -1) for tp, last in done if last is not None
                }
                await self._commit(offsets)
        finally:
            await self._on_consumer_thread(consumer.close)
            await asyncio.to_thread(producer.close, 10)
            self._io.shutdown(wait=True)
            log.info("bridge stopped: %s", self.stats)

    async def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not offsets or self._consumer is None:
            return
        try:
            await self._on_consumer_thread(self._consumer.commit, offsets)
            self.stats.commits += 1
        except KafkaError as err:
            # Partitions moved to another member: it re-reads from the last commit, and
            # the workflows drop the events they saw already.
            log.warning("commit failed, records will be redelivered: %s", err)

    async def _partition(
        self, tp: TopicPartition, records: list[ConsumerRecord], stop: asyncio.Event
    ) -> tuple[TopicPartition, int | None]:
        """Handle one partition's records in order; return the last offset fully handled."""
        last: int | None = None
        for record in records:
            self.stats.consumed += 1
            try:
                event = decode(
                    record.value,
                    record.headers or [],
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    max_bytes=self._settings.max_event_bytes,
                )
            except InvalidEvent as err:
                log.warning(
                    "dead-lettering %s/%d@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    err.reason,
                )
                await self._dead_letter(record, err)
                last = record.offset
                continue
            if not await self._deliver(event, stop):
                break
            last = record.offset
        return tp, last

    async def _deliver(self, event: InboundEvent, stop: asyncio.Event) -> bool:
        """Signal-with-start the employee's workflow; retry until accepted or told to stop."""
        delay = 0.5
        while True:
            try:
                await self._client.start_workflow(
                    EmployeeLearningWorkflow.run,
                    EmployeeWorkflowInput(
                        employee_id=event.employee_id,
                        due_days=self._settings.enrollment_due_days,
                    ),
                    id=workflow_id_for(event.employee_id),
                    task_queue=self._settings.task_queue,
                    start_signal="event",
                    start_signal_args=[event],
                )
                self.stats.signalled += 1
                return True
            except RPCError as err:
                self.stats.temporal_retries += 1
                log.warning("temporal refused event %s (%s); retrying", event.event_id, err)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    return False
                except TimeoutError:
                    delay = min(delay * 2, 10.0)

    async def _dead_letter(self, record: ConsumerRecord, err: InvalidEvent) -> None:
        """Publish the original bytes to the DLQ with the reason and the source position."""
        assert self._producer is not None
        headers = [
            *(record.headers or []),
            ("dlq.reason", err.reason.encode()),
            ("dlq.detail", err.detail[:1000].encode()),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.time", datetime.now(UTC).isoformat().encode()),
        ]
        future = self._producer.send(
            self._settings.topic_dlq, key=record.key, value=record.value, headers=headers
        )
        await asyncio.to_thread(future.get, 30)
        self.stats.dead_lettered += 1
