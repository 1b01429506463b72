"""The bridge: Kafka consumer group -> validated CloudEvents -> Temporal signal-with-start.

- Records with the same Kafka key (the employee id) are handled strictly in order, by one
  task per key that works through the key's queued records; records of different keys
  proceed concurrently, so many Temporal calls are in flight at once.
- A failing directory check (the directory database is down) is retried with back-off: the
  record waits, and the later records of its key behind it; nothing is dead-lettered for it.
- Offsets are committed per partition only up to the contiguous prefix of records that Temporal
  accepted or that went to the DLQ (`OffsetTracker`).
- Bad input goes to the DLQ topic with the original bytes and the reason; the bridge goes on.
- Temporal unavailable: deliveries back off and retry; once `max_in_flight` records wait, the
  partitions are paused while polling continues (the group membership holds), and resumed when
  the backlog drains. Nothing Temporal did not accept is committed.
- Rebalance: what is handled of the revoked partitions is committed, their records in flight
  are cancelled. A partition this member gets back resumes at its first unhandled record
  (kafka-python keeps its fetch position); a partition new to it, at the committed offset.
- Stop: no more fetching, in-flight records finish, offsets are committed, the group is left.

All consumer calls run on one dedicated thread (kafka-python is not thread-safe); Temporal calls
stay on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from schemas.events import COURSE_COMPLETED, REVIEW_COMPLETED, InboundEvent
from schemas.rollout import ObjectiveSetEvent
from talentloop.cloudevents import InvalidEvent, decode
from talentloop.config import Settings
from talentloop.kafka import make_consumer, make_producer
from talentloop.offsets import OffsetTracker
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for
from workflows.rollout import StrategyRolloutWorkflow

log = logging.getLogger(__name__)
T = TypeVar("T")

KnownEmployee = Callable[[str], Awaitable[bool]]
"""Answers whether the directory knows an employee id."""


@dataclass
class BridgeStats:
    """Counters of what the bridge did since it started."""

    consumed: int = 0
    signalled: int = 0
    dead_lettered: int = 0
    temporal_retries: int = 0
    directory_retries: int = 0
    commits: int = 0
    pauses: int = 0
    rebalances: int = 0


class _Backoff:
    """Waits between retries: 0.2 s, doubling up to 5 s."""

    def __init__(self) -> None:
        self._delay = 0.2

    async def wait(self) -> None:
        """Sleep the current delay, then lengthen it."""
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, 5.0)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on kafka-python's IO thread when partitions move between members; never raises."""

    def __init__(self, bridge: Bridge, loop: asyncio.AbstractEventLoop) -> None:
        self._bridge = bridge
        self._loop = loop

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        try:
            self._bridge._revoke(revoked)
        except Exception:
            log.exception("handling revoked partitions failed; records will be redelivered")

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        try:
            self._bridge._rewind(assigned)
        except Exception:
            log.exception("rewinding re-assigned partitions failed")
        self._loop.call_soon_threadsafe(self._bridge.assigned.set)


class Bridge:
    """Moves events from the inbound topics to the employees' workflows."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        group_id: str | None = None,
        known_employee: KnownEmployee | None = None,
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
        self._max_in_flight = max_in_flight
        self._poll_ms = poll_ms
        self._max_records = max_records
        self._commit_interval = commit_interval
        self._drain_timeout = drain_timeout
        self._calls = asyncio.Semaphore(max_calls)
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        self._consumer: KafkaConsumer | None = None
        self._producer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trackers: dict[TopicPartition, OffsetTracker] = {}
        self._chains: dict[tuple[OffsetTracker, bytes], deque[ConsumerRecord]] = {}
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._paused = False
        self._resume_at: dict[TopicPartition, int] = {}
        self._start_input = settings.employee_workflow_input("")
        self.stats = BridgeStats()
        self.assigned = asyncio.Event()

    @property
    def in_flight(self) -> int:
        """Records handed out and not yet accepted by Temporal or dead-lettered."""
        return sum(t.pending for t in self._trackers.values())

    async def _on_consumer_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, partial(fn, *args, **kwargs))

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; then finish what is in flight, commit and leave."""
        settings = self._settings
        self._loop = asyncio.get_running_loop()
        consumer = await self._on_consumer_thread(make_consumer, settings, self._group_id)
        self._producer = await asyncio.to_thread(make_producer, settings)
        self._consumer = consumer
        await self._on_consumer_thread(
            consumer.subscribe, settings.inbound_topics, listener=_Rebalance(self, self._loop)
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
        tasks = [t for group in self._tasks.values() for t in group]
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
        """Queue a record behind the earlier ones of its key; start the key's chain if idle."""
        self.stats.consumed += 1
        tracker = self._trackers.get(tp)
        if tracker is None:
            tracker = self._trackers[tp] = OffsetTracker()
        tracker.dispatched(record.offset)
        # Keyed by the tracker too: after the partition was revoked and assigned again, its
        # records start new chains instead of joining a cancelled one.
        chain = (tracker, record.key or b"")
        queue = self._chains.get(chain)
        if queue is not None:
            queue.append(record)
            return
        queue = self._chains[chain] = deque((record,))
        tasks = self._tasks.setdefault(tp, set())
        task = asyncio.create_task(self._run_chain(tp, tracker, chain, queue))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _run_chain(
        self,
        tp: TopicPartition,
        tracker: OffsetTracker,
        chain: tuple[OffsetTracker, bytes],
        queue: deque[ConsumerRecord],
    ) -> None:
        """Handle one key's records in order until none is queued."""
        try:
            while queue:
                await self._handle(tp, tracker, queue[0])
                queue.popleft()
        finally:
            if self._chains.get(chain) is queue:
                del self._chains[chain]

    async def _handle(
        self, tp: TopicPartition, tracker: OffsetTracker, record: ConsumerRecord
    ) -> None:
        try:
            event = self._decode(record)
            if isinstance(event, InboundEvent):
                await self._check_employee(event)
        except InvalidEvent as err:
            log.warning(
                "dead-lettering %s/%d@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                err.reason,
            )
            await self._dead_letter(record, err)
        else:
            if isinstance(event, ObjectiveSetEvent):
                await self._until_accepted(partial(self._start_rollout, event), event.event_id)
            else:
                await self._until_accepted(partial(self._signal_employee, event), event.event_id)
        if self._trackers.get(tp) is tracker:
            tracker.finished(record.offset)

    def _decode(self, record: ConsumerRecord) -> InboundEvent | ObjectiveSetEvent:
        try:
            return decode(
                record.value,
                record.headers or [],
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                max_bytes=self._settings.max_event_bytes,
            )
        except InvalidEvent:
            raise
        except Exception as err:
            # A record the decoder did not foresee goes to the DLQ too: raised here, it would
            # end its key's task and hold back its partition's commits for good. Only the
            # error's type is logged: its message may quote the record (personal data).
            log.error(
                "decoding %s/%d@%d failed: %s",
                record.topic,
                record.partition,
                record.offset,
                type(err).__name__,
            )
            raise InvalidEvent("undecodable", type(err).__name__) from err

    async def _check_employee(self, event: InboundEvent) -> None:
        needs_known = event.type in (REVIEW_COMPLETED, COURSE_COMPLETED) or (
            event.employee_update is not None and event.employee_update.change != "joined"
        )
        check = self._known_employee
        if not needs_known or check is None:
            return
        backoff = _Backoff()
        while True:
            try:
                known = await check(event.employee_id)
                break
            except Exception as err:
                # The directory is down: the event waits (and its key with it), it is not lost.
                self.stats.directory_retries += 1
                log.warning(
                    "directory check of event %s failed (%s); retrying", event.event_id, err
                )
                await backoff.wait()
        if not known:
            raise InvalidEvent("unknown-employee", f"employee {event.employee_id} is unknown")

    async def _until_accepted(self, call: Callable[[], Awaitable[None]], event_id: str) -> None:
        """Make a Temporal call until the server accepts it, backing off while it cannot."""
        backoff = _Backoff()
        while True:
            try:
                async with self._calls:
                    await call()
                self.stats.signalled += 1
                return
            except RPCError as err:
                self.stats.temporal_retries += 1
                log.warning("temporal refused event %s (%s); retrying", event_id, err.status)
                await backoff.wait()

    async def _signal_employee(self, event: InboundEvent) -> None:
        """Signal-with-start the employee's workflow; the workflow drops a seen event id."""
        await self._client.start_workflow(
            EmployeeLearningWorkflow.run,
            self._start_input.model_copy(update={"employee_id": event.employee_id}),
            id=workflow_id_for(event.employee_id),
            task_queue=self._settings.task_queue,
            start_signal="event",
            start_signal_args=[event],
        )

    async def _start_rollout(self, event: ObjectiveSetEvent) -> None:
        """Start the version's rollout once: a second start of the same id is refused."""
        try:
            await self._client.start_workflow(
                StrategyRolloutWorkflow.run,
                event,
                id=event.workflow_id,
                task_queue=self._settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            log.info(
                "rollout %s exists; event %s is a duplicate", event.workflow_id, event.event_id
            )

    async def _dead_letter(self, record: ConsumerRecord, err: InvalidEvent) -> None:
        """Publish the original bytes to the DLQ with the reason and the source position."""
        headers = [
            *(record.headers or []),
            ("dlq.reason", err.reason.encode()),
            ("dlq.detail", err.detail[:1000].encode()),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.time", datetime.now(UTC).isoformat().encode()),
        ]
        backoff = _Backoff()
        while True:
            try:
                future = self._producer.send(
                    self._settings.topic_dlq, key=record.key, value=record.value, headers=headers
                )
                await asyncio.to_thread(future.get, 30)
                self.stats.dead_lettered += 1
                return
            except KafkaError as kerr:
                log.warning("DLQ publish failed (%s); retrying", kerr)
                await backoff.wait()

    async def _commit(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        ready = {tp: t.committable() for tp, t in self._trackers.items()}
        offsets = {tp: OffsetAndMetadata(o, "", -1) for tp, o in ready.items() if o is not None}
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
        for tp, meta in offsets.items():
            tracker = self._trackers.get(tp)
            if tracker is not None:
                tracker.committed(meta.offset)

    def _revoke(self, revoked: list[TopicPartition]) -> None:
        """On the IO thread: commit (without blocking) what is done of `revoked`, drop the rest.

        Records still in flight for those partitions are cancelled. Another owner reads them
        again from the committed offset; this member, if it gets a partition back, from the
        first unhandled record noted here (`_rewind`). The workflows drop what they saw.
        """
        self.stats.rebalances += 1
        offsets = {}
        self._resume_at = {}
        for tp in revoked:
            tracker = self._trackers.pop(tp, None)
            if tracker is None:
                continue
            if (o := tracker.committable()) is not None:
                offsets[tp] = OffsetAndMetadata(o, "", -1)
            if (resume := tracker.resume_offset()) is not None:
                self._resume_at[tp] = resume
        if offsets and self._consumer is not None:
            self._consumer.commit_async(offsets)
        loop = self._loop
        if loop is not None:
            for tp in revoked:
                for task in list(self._tasks.pop(tp, set())):
                    loop.call_soon_threadsafe(task.cancel)

    def _rewind(self, assigned: list[TopicPartition]) -> None:
        """On the IO thread: go back to the first unhandled record of partitions we kept.

        kafka-python keeps the fetch position of a partition that is assigned to this member
        again after a rebalance. The records in flight at the revocation were cancelled, and
        the position is past them: without this, they would be skipped, and the next commit
        would pass them. Partitions new to this member start from the committed offset.
        """
        consumer = self._consumer
        resume_at, self._resume_at = self._resume_at, {}
        if consumer is None:
            return
        for tp in assigned:
            offset = resume_at.get(tp)
            if offset is not None:
                consumer.seek(tp, offset)


def directory_check(
    lookup: Callable[[str], object | None],
    *,
    ttl: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> KnownEmployee:
    """A `KnownEmployee` over a blocking directory look-up, trusting a found id for `ttl` s.

    Ids that were found are not looked up again for `ttl` seconds; an employee who left (the
    look-up answers None for them) is refused at the latest `ttl` seconds later. Ids that were
    not found are always asked again: they may join any moment.
    """
    found_at: dict[str, float] = {}

    async def check(employee_id: str) -> bool:
        seen = found_at.get(employee_id)
        if seen is not None and clock() - seen < ttl:
            return True
        if await asyncio.to_thread(lookup, employee_id) is None:
            found_at.pop(employee_id, None)
            return False
        found_at[employee_id] = clock()
        return True

    return check
