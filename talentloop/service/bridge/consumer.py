"""The bridge's consumer loop: poll, dispatch to per-key chains, flow control, commits, stop.

See the package docstring for the rules every module of the bridge keeps (order per key,
commits, DLQ, rebalances, threading).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from temporalio.client import Client

from schemas.events import InboundEvent
from talentloop.service import metrics
from talentloop.service.bridge.chains import KeyChains
from talentloop.service.bridge.deadletters import PRODUCER_MAX_REQUEST, DeadLetters
from talentloop.service.bridge.delivery import Delivery
from talentloop.service.bridge.directory import (
    KnownEmployee,
    UnknownSkills,
    check_employee,
    check_skills,
)
from talentloop.service.bridge.offsets import OffsetTracker
from talentloop.service.bridge.partitions import Partitions, RebalanceListener
from talentloop.service.bridge.records import decode_record
from talentloop.service.bridge.stats import BridgeStats
from talentloop.service.cloudevents import InvalidEvent, inbound_topics, window_of
from talentloop.service.config import Settings
from talentloop.service.kafka import make_consumer, make_producer

log = logging.getLogger("talentloop.service.bridge")
T = TypeVar("T")


class Bridge:
    """Moves events from the inbound topics to the employees' workflows."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        group_id: str | None = None,
        known_employee: KnownEmployee | None = None,
        unknown_skills: UnknownSkills | None = None,
        max_in_flight: int = 2000,
        poll_ms: int = 100,
        max_records: int = 500,
        commit_interval: float = 0.5,
        drain_timeout: float = 30.0,
        max_calls: int = 200,
    ) -> None:
        """Build a bridge; nothing connects until `run`.

        Args:
            settings: Topics, group, limits.
            client: A Temporal client using the pydantic data converter.
            group_id: Consumer group; default the settings'.
            known_employee: Directory check; events for unknown employees go to the DLQ.
                None accepts every employee id.
            unknown_skills: Skills check of goals; a goal naming a skill the framework does
                not hold goes to the DLQ ("unknown-skill"). None accepts every skill id.
            max_in_flight: Records waiting for Temporal before the partitions are paused.
            poll_ms: Longest wait of one poll.
            max_records: Largest batch of one poll.
            commit_interval: Seconds between offset commits.
            drain_timeout: Seconds in-flight records get to finish when stopping.
            max_calls: Temporal calls at once: `max_in_flight` records are buffered, but only
                this many calls load the server at a time.
        """
        self._settings = settings
        self._client = client
        self._group_id = group_id
        self._known_employee = known_employee
        self._unknown_skills = unknown_skills
        self._max_in_flight = max_in_flight
        self._poll_ms = poll_ms
        self._max_records = max_records
        self._commit_interval = commit_interval
        self._drain_timeout = drain_timeout
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        self._consumer: KafkaConsumer | None = None
        self._producer: Any = None
        self._dead_letters: DeadLetters | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused = False
        self.stats = BridgeStats()
        self.partitions = Partitions()
        self._chains = KeyChains(self._handle)
        self._delivery = Delivery(settings, client, self.stats, max_calls)
        self._topics = inbound_topics(settings)
        self._window = window_of(settings)
        self.assigned = asyncio.Event()

    @property
    def in_flight(self) -> int:
        """Records handed out and not yet accepted by Temporal or dead-lettered."""
        return self.partitions.in_flight

    def lag(self) -> dict[tuple[str, int], int]:
        """Records behind on each held partition, by (topic, partition), for the metrics.

        The high watermark the last fetch saw, less the first record not yet handled (only
        partitions this member has handed records out of; read without a broker call).
        """
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[tuple[str, int], int] = {}
        for tp, tracker in list(self.partitions.trackers.items()):
            start = tracker.resume_offset()
            high = consumer.highwater(tp) if tp in consumer.assignment() else None
            if start is not None and high is not None:
                out[(tp.topic, tp.partition)] = max(0, high - start)
        return out

    async def _on_consumer_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, partial(fn, *args, **kwargs))

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; then finish what is in flight, commit and leave."""
        settings = self._settings
        self._loop = asyncio.get_running_loop()
        consumer = await self._on_consumer_thread(make_consumer, settings, self._group_id)
        self._producer = await asyncio.to_thread(
            make_producer, settings, max_request_size=PRODUCER_MAX_REQUEST
        )
        self._dead_letters = DeadLetters(self._producer, settings.topic_dlq, self.stats)
        self._consumer = consumer
        exporter = metrics.serve(
            settings.metrics_bridge_port, metrics.BridgeCollector(self), host=settings.metrics_host
        )
        loop = self._loop

        def signal_assigned() -> None:
            loop.call_soon_threadsafe(self.assigned.set)

        listener = RebalanceListener(self._revoke, self._on_assigned, signal_assigned)
        await self._on_consumer_thread(
            consumer.subscribe, settings.inbound_topics, listener=listener
        )
        log.info("bridge consuming %s", ", ".join(settings.inbound_topics))
        last_commit = time.monotonic()
        try:
            while not stop.is_set():
                await self._flow_control(consumer)
                try:
                    batch: dict[
                        TopicPartition, list[ConsumerRecord]
                    ] = await self._on_consumer_thread(
                        consumer.poll, timeout_ms=self._poll_ms, max_records=self._max_records
                    )
                except KafkaError as err:
                    log.warning("poll failed (%s); polling again", err)
                    await asyncio.sleep(0.5)
                    continue
                for tp, records in batch.items():
                    for record in records:
                        self._dispatch(tp, record)
                idle = not batch and self.in_flight == 0
                if idle or time.monotonic() - last_commit >= self._commit_interval:
                    await self._commit()
                    last_commit = time.monotonic()
                await asyncio.sleep(0)
            await self._drain()
        finally:
            await self._on_consumer_thread(consumer.close)
            await asyncio.to_thread(self._producer.close, 10)
            self._io.shutdown(wait=True)
            if exporter is not None:
                exporter.close()
            log.info("bridge stopped: %s", self.stats)

    async def _flow_control(self, consumer: KafkaConsumer) -> None:
        """Pause every partition while too much waits for Temporal; resume when it drains."""
        backlog = self.in_flight
        # Pause one batch early, so that a poll never overshoots the limit.
        if not self._paused and backlog >= self._max_in_flight - self._max_records:
            await self._on_consumer_thread(lambda: consumer.pause(*consumer.assignment()))
            self._paused = True
            self.stats.pauses += 1
            log.warning("paused consumption: %d records wait for Temporal", backlog)
        elif self._paused and backlog <= self._max_in_flight // 2:
            await self._on_consumer_thread(lambda: consumer.resume(*consumer.paused()))
            self._paused = False
            log.info("resumed consumption")

    async def _drain(self) -> None:
        """Let in-flight records finish (bounded), then commit what is done."""
        tasks = self._chains.tasks()
        log.info(
            "stopping: %d records in flight get up to %g s to finish",
            self.in_flight,
            self._drain_timeout,
        )
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=self._drain_timeout)
            for task in late:
                task.cancel()
            if late:
                log.warning(
                    "%d records not handled before stop; they will be redelivered", len(late)
                )
        await self._commit()

    def _dispatch(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        """Hand a record to its key's chain, noting it in its partition's tracker."""
        self.stats.consumed += 1
        self.stats.consumed_by_topic[tp.topic] += 1
        tracker = self.partitions.tracker(tp)
        tracker.dispatched(record.offset)
        self._chains.dispatch(tp, tracker, record)

    async def _handle(
        self, tp: TopicPartition, tracker: OffsetTracker, record: ConsumerRecord
    ) -> None:
        """Decode, check, deliver or dead-letter one record; then mark it handled.

        Raises nothing but cancellation: an exception nobody foresaw dead-letters the record as
        "internal-error" with the exception's type (never its message, which may quote personal
        data), and the key's chain goes on.
        """
        try:
            await self._deliver_or_dead_letter(record)
        except Exception as err:
            self.stats.internal_errors += 1
            log.error(
                "handling %s/%d@%d failed: %s (%d internal errors so far)",
                record.topic,
                record.partition,
                record.offset,
                type(err).__name__,
                self.stats.internal_errors,
            )
            await self._dead_letter(record, InvalidEvent("internal-error", type(err).__name__))
        if self.partitions.holds(tp, tracker):
            tracker.finished(record.offset)

    async def _deliver_or_dead_letter(self, record: ConsumerRecord) -> None:
        """The record's event to Temporal, or the record to the DLQ with the reason."""
        try:
            event = decode_record(
                record, self._settings.max_event_bytes, self._topics, self._window
            )
            if isinstance(event, InboundEvent):
                await check_employee(event, self._known_employee, self.stats)
                await check_skills(event, self._unknown_skills, self.stats)
            await self._delivery.deliver(event)
        except InvalidEvent as err:
            await self._dead_letter(record, err)

    async def _dead_letter(self, record: ConsumerRecord, err: InvalidEvent) -> None:
        assert self._dead_letters is not None
        await self._dead_letters.send(record, err)

    async def _commit(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        offsets = self.partitions.committable()
        if not offsets:
            return
        try:
            await self._on_consumer_thread(consumer.commit, offsets)
        except KafkaError as err:
            # The partitions moved to another member: it re-reads from the last commit, and
            # the workflows drop the events they saw already.
            log.warning("commit failed, records will be redelivered: %s", err)
            return
        self.stats.commits += 1
        self.partitions.committed(offsets)

    def _revoke(self, revoked: list[TopicPartition]) -> None:
        """On the consumer thread: commit (without blocking) what is done of `revoked`.

        Records still in flight for those partitions are cancelled. Another owner reads them
        again from the committed offset; this member, if it gets a partition back, from the
        first unhandled record (`_on_assigned`). The workflows drop what they saw.
        """
        self.stats.rebalances += 1
        offsets = self.partitions.revoke(revoked)
        if offsets and self._consumer is not None:
            self._consumer.commit_async(offsets)
        if self._loop is not None:
            self._chains.cancel(revoked, self._loop)

    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        """On the consumer thread: rewind kept partitions; pause assigned ones while paused.

        A kept partition resumes at its first unhandled record. A partition new to this member
        arrives unpaused: without the pause, it would be fetched from until the backlog drains,
        past `max_in_flight`. (That takes incremental rebalancing, where kept partitions keep
        their backlog; an eager rebalance revokes everything first, and the backlog with it.)
        """
        resume = self.partitions.rewind(assigned)
        consumer = self._consumer
        if consumer is None:
            return
        for tp, offset in resume.items():
            consumer.seek(tp, offset)
        if self._paused and assigned:
            consumer.pause(*assigned)
            log.info("paused %d assigned partitions: the backlog is full", len(assigned))
