"""The projection service: read the outbound and DLQ topics into the read model, continuously.

The consumer has no consumer group: it assigns every partition of the two topics and seeks to
the positions stored in the read model (written in the same transaction as the rows), so a
restart resumes exactly where it stopped and two projectors on one database apply each event
once. After each batch the plans of the employees it touched are re-read from their workflows
(the ``state`` query); every `sweep` the plans with an approval pending are too (approval
requests emit no outbound event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.orm import Session, sessionmaker

from activities.store.projector import BatchResult, Projector, Record
from talentloop.console.plans import TemporalPlans
from talentloop.service.config import Settings
from talentloop.service.kafka import connection_config

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What a catch-up or run did so far."""

    applied: int = 0
    duplicates: int = 0
    unreadable: int = 0
    dead_letters: int = 0
    plans: int = 0


class ProjectionRunner:
    """Feeds the read model from Kafka (and plans from Temporal, when given a client).

    Args:
        settings: Topics, broker address and timings.
        sessions: Session factory on the app database.
        plans: The workflows' plans; None leaves plan snapshots out (events only).
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        plans: TemporalPlans | None = None,
    ) -> None:
        self._settings = settings
        self._projector = Projector(sessions)
        self._plans = plans
        self._topics = (settings.topic_outbound, settings.topic_dlq)
        self.progress = Progress()

    @property
    def projector(self) -> Projector:
        """The projector the runner applies records with."""
        return self._projector

    def _consumer(self) -> KafkaConsumer:
        consumer = KafkaConsumer(
            **connection_config(self._settings),
            enable_auto_commit=False,
            bootstrap_timeout_ms=self._settings.kafka_connect_timeout_ms,
        )
        assigned: list[TopicPartition] = []
        for topic in self._topics:
            for p in sorted(consumer.partitions_for_topic(topic) or set()):
                assigned.append(TopicPartition(topic, p))
        consumer.assign(assigned)
        for tp in assigned:
            pos = self._projector.positions(tp.topic).get(tp.partition)
            if pos is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, pos)
        return consumer

    def _apply(self, batch: dict[TopicPartition, list[object]]) -> BatchResult:
        outbound: list[Record] = []
        dlq: list[Record] = []
        for tp, records in batch.items():
            for r in records:
                rec = Record(
                    tp.topic,
                    tp.partition,
                    r.offset,  # type: ignore[attr-defined]
                    r.value,  # type: ignore[attr-defined]
                    list(r.headers or []),  # type: ignore[attr-defined]
                    r.timestamp,  # type: ignore[attr-defined]
                )
                (dlq if tp.topic == self._settings.topic_dlq else outbound).append(rec)
        result = self._projector.apply_outbound(outbound) if outbound else BatchResult()
        self.progress.applied += result.applied
        self.progress.duplicates += result.duplicates
        self.progress.unreadable += result.unreadable
        if dlq:
            self.progress.dead_letters += self._projector.apply_dead_letters(dlq)
        return result

    def catch_up(self) -> set[str]:
        """Apply everything up to the topics' current ends; the employees touched."""
        consumer = self._consumer()
        touched: set[str] = set()
        try:
            ends = consumer.end_offsets(list(consumer.assignment()))
            while any(consumer.position(tp) < end for tp, end in ends.items()):
                batch = consumer.poll(timeout_ms=1000, max_records=2000)
                touched |= self._apply(batch).employees
        finally:
            consumer.close()
        return touched

    async def refresh_plans(self, employees: set[str]) -> None:
        """Re-read the plans of `employees` from their workflows into the read model."""
        if self._plans is None or not employees:
            return
        for state in await self._plans.states(employees):
            await asyncio.to_thread(self._projector.apply_plan, state)
            self.progress.plans += 1

    async def sweep(self) -> None:
        """Re-read the plans with an approval pending (they emit no outbound event)."""
        if self._plans is None:
            return
        try:
            await self.refresh_plans(await self._plans.awaiting_approval())
        except Exception as err:  # the next sweep tries again
            log.warning("approval sweep failed: %s", type(err).__name__)

    async def rebuild(self) -> Progress:
        """Empty the read model and project everything again from the beginning."""
        self._projector.reset()
        self.progress = Progress()
        touched = await asyncio.to_thread(self.catch_up)
        await self.refresh_plans(touched)
        await self.sweep()
        return self.progress

    async def run(self, stop: asyncio.Event) -> None:
        """Project continuously until `stop` is set."""
        consumer = await asyncio.to_thread(self._consumer)
        last_sweep = 0.0
        poll_ms = int(self._settings.projection_poll_seconds * 1000)
        try:
            while not stop.is_set():
                batch = await asyncio.to_thread(consumer.poll, poll_ms, 2000)
                if batch:
                    result = await asyncio.to_thread(self._apply, batch)
                    await self.refresh_plans(result.employees)
                if time.monotonic() - last_sweep >= self._settings.projection_sweep_seconds:
                    last_sweep = time.monotonic()
                    await self.sweep()
        finally:
            await asyncio.to_thread(consumer.close)

    async def run_forever(self, stop: asyncio.Event, retry_s: float = 5.0) -> None:
        """`run` until `stop` is set, starting again `retry_s` after a failure.

        Kafka or the database down stops the projection for a while, never the console: it
        keeps serving what the read model has.
        """
        while not stop.is_set():
            try:
                await self.run(stop)
            except Exception as err:
                log.warning("projector stopped (%s); retrying", type(err).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_s)
