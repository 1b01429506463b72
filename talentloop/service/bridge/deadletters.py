"""Dead letters: a refused record's original bytes on the DLQ topic, with the reason.

The reason and the source position go in headers; publishing is retried until the broker
takes it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from talentloop.service.bridge.stats import Backoff, BridgeStats
from talentloop.service.cloudevents import InvalidEvent

log = logging.getLogger("talentloop.service.bridge")


def dead_letter_headers(
    record: ConsumerRecord, err: InvalidEvent, now: datetime
) -> list[tuple[str, bytes]]:
    """The record's own headers, then ``dlq.reason``, ``dlq.detail``, its source and the time."""
    return [
        *(record.headers or []),
        ("dlq.reason", err.reason.encode()),
        ("dlq.detail", err.detail[:1000].encode()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.time", now.isoformat().encode()),
    ]


class DeadLetters:
    """Publishes refused records to the DLQ topic through one producer.

    Args:
        producer: A kafka-python producer (the bridge's idempotent one).
        topic: The DLQ topic.
        stats: Counts what was dead-lettered.

    """

    def __init__(self, producer: Any, topic: str, stats: BridgeStats) -> None:
        self._producer = producer
        self._topic = topic
        self._stats = stats

    async def send(self, record: ConsumerRecord, err: InvalidEvent) -> None:
        """Publish the original bytes with the reason; returns once the broker has them."""
        log.warning(
            "dead-lettering %s/%d@%d: %s", record.topic, record.partition, record.offset, err.reason
        )
        headers = dead_letter_headers(record, err, datetime.now(UTC))
        backoff = Backoff()
        while True:
            try:
                future = self._producer.send(
                    self._topic, key=record.key, value=record.value, headers=headers
                )
                await asyncio.to_thread(future.get, 30)
                self._stats.dead_lettered += 1
                return
            except KafkaError as kerr:
                log.warning("DLQ publish failed (%s); retrying", kerr)
                await backoff.wait()
