"""Outbound-events activity: publish a CloudEvent on the outbound topic, keyed, acknowledged.

The producer is kafka-python's idempotent producer (``enable_idempotence=True``,
``acks="all"``): a retry inside the producer never writes a duplicate record. A retried
*activity* may write the record again, but with the same CloudEvent id (ids are derived from
the causing event, see ``schemas.outbound.outbound_event``), so consumers deduplicate on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from pydantic import ValidationError
from temporalio import activity

from activities.errors import FailureType, permanent
from schemas.envelope import STRUCTURED_CONTENT_TYPE, AnyCloudEvent
from schemas.events import EVENT_TYPES, EventSpec
from schemas.outbound import PublishBatch, PublishRequest, PublishResult


class OutboundActivities:
    """Publishes outbound events through one Kafka producer onto one topic.

    Args:
        producer: A ``kafka.KafkaProducer`` built with ``enable_idempotence=True`` and
            ``acks="all"``, or a function making one (e.g.
            ``talentloop.service.kafka.make_producer`` bound to the settings), called on the
            first publish so that a worker starts even while the broker is down.
        topic: The outbound topic name (``Settings.topic_outbound``).
        ack_timeout_s: How long to wait for the broker's acknowledgement of one record.

    """

    def __init__(
        self,
        producer: KafkaProducer | Callable[[], KafkaProducer],
        topic: str,
        *,
        ack_timeout_s: float = 30.0,
    ) -> None:
        self._producer: KafkaProducer | None = (
            producer if isinstance(producer, KafkaProducer) else None
        )
        self._make_producer = producer if not isinstance(producer, KafkaProducer) else None
        self._lock = threading.Lock()
        self._topic = topic
        self._ack_timeout_s = ack_timeout_s

    def _connected(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                assert self._make_producer is not None
                self._producer = self._make_producer()
            return self._producer

    def close(self) -> None:
        """Flush and close the producer, if one was made."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=10)
                self._producer = None

    @activity.defn(name="events.publish")
    async def publish(self, req: PublishRequest) -> PublishResult:
        """Validate the event against its type's contract, send it and wait for the ack.

        The record is a structured-mode CloudEvent (JSON value, ``content-type`` header), keyed
        by the type's key field: the employee id, or the objective set id.

        Args:
            req: The envelope to publish.

        Returns:
            Where the broker stored it.

        Raises:
            ApplicationError: Non-retryable, when the event is not an outbound type or does not
                match its schema. Broker errors propagate and are retried by Temporal.
        """
        (result,) = await self._send([req.event])
        return result

    @activity.defn(name="events.publish_many")
    async def publish_many(self, batch: PublishBatch) -> list[PublishResult]:
        """Publish several events (in order, one wait for all the acks), as `publish` does each.

        Every event is validated before any is sent: one invalid event fails the batch
        without retries and sends nothing.
        """
        return await self._send(batch.events)

    async def _send(self, events: list[AnyCloudEvent]) -> list[PublishResult]:
        records = [_record(e) for e in events]
        headers = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]

        def send_and_wait() -> list[Any]:
            producer = self._connected()
            futures = [
                producer.send(self._topic, key=key.encode(), value=value, headers=headers)
                for _spec, _event, key, value in records
            ]
            return [f.get(timeout=self._ack_timeout_s) for f in futures]

        metas = await asyncio.to_thread(send_and_wait) if records else []
        results = []
        for (spec, event, key, _value), meta in zip(records, metas, strict=True):
            activity.logger.info(
                "published %s %s to %s/%d@%d",
                spec.type,
                event.id,
                meta.topic,
                meta.partition,
                meta.offset,
            )
            results.append(
                PublishResult(
                    event_id=event.id,
                    type=spec.type,
                    key=key,
                    topic=meta.topic,
                    partition=meta.partition,
                    offset=meta.offset,
                )
            )
        return results


def _record(envelope: AnyCloudEvent) -> tuple[EventSpec, Any, str, bytes]:
    """The event's spec, its typed envelope, the Kafka key and the record value.

    Raises:
        ApplicationError: Non-retryable, when the event is not an outbound type or does not
            match its schema.
    """
    spec = EVENT_TYPES.get(envelope.type)
    if spec is None or spec.direction != "outbound":
        raise permanent(
            f"{envelope.type!r} is not an outbound event type", FailureType.NOT_OUTBOUND
        )
    raw = envelope.model_dump_json(exclude_none=True)
    try:
        event = spec.envelope.model_validate_json(raw)
    except ValidationError as err:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5]
        )
        raise permanent(
            f"{spec.type} does not match its schema: {fields}", FailureType.SCHEMA_INVALID
        ) from err
    key = spec.key(event.data)
    return spec, event, key, event.model_dump_json(exclude_none=True).encode()
