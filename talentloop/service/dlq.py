"""The dead-letter queue: list what was refused and why; replay chosen records after a fix."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from talentloop.service.config import Settings
from talentloop.service.kafka import connection_config, make_producer


@dataclass(frozen=True)
class DeadLetter:
    """One record of the DLQ topic, with where it came from and why it is there."""

    id: str
    reason: str
    detail: str
    time: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int | None = None
    """The original record's timestamp (the dead letter keeps it; a replay sends it again)."""

    @property
    def source(self) -> str:
        """`topic/partition@offset` of the original record."""
        return f"{self.source_topic}/{self.source_partition}@{self.source_offset}"


def _parse(
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    timestamp_ms: int | None = None,
) -> DeadLetter:
    h = {k: v.decode("utf-8", errors="replace") for k, v in headers if k.startswith("dlq.")}
    return DeadLetter(
        id=f"{partition}:{offset}",
        reason=h.get("dlq.reason", "?"),
        detail=h.get("dlq.detail", ""),
        time=h.get("dlq.time", ""),
        source_topic=h.get("dlq.topic", ""),
        source_partition=int(h.get("dlq.partition", "-1")),
        source_offset=int(h.get("dlq.offset", "-1")),
        key=key,
        value=value,
        headers=[(k, v) for k, v in headers if not k.startswith("dlq.")],
        timestamp_ms=timestamp_ms if timestamp_ms is not None and timestamp_ms >= 0 else None,
    )


def read_dead_letters(settings: Settings, idle_ms: int = 1500) -> list[DeadLetter]:
    """Every record of the DLQ topic, oldest first per partition (read until it goes quiet)."""
    consumer = KafkaConsumer(
        **connection_config(settings),
        enable_auto_commit=False,
        bootstrap_timeout_ms=settings.kafka_connect_timeout_ms,
    )
    try:
        partitions = consumer.partitions_for_topic(settings.topic_dlq) or set()
        consumer.assign([TopicPartition(settings.topic_dlq, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        out: list[DeadLetter] = []
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_ms / 1000:
            batch = consumer.poll(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    out.append(
                        _parse(r.partition, r.offset, r.key, r.value, r.headers or [], r.timestamp)
                    )
                quiet_since = time.monotonic()
        return sorted(out, key=lambda d: (d.time, d.id))
    finally:
        consumer.close()


def replay(settings: Settings, letters: Iterable[DeadLetter]) -> int:
    """Publish each record again to its source topic, original key, value and headers.

    The replayed record carries `dlq.replayed-from` so that its path can be followed; its
    CloudEvent id is unchanged, so replaying one that already went through has no effect. It
    keeps the original record's timestamp, so the contract's date window decides as it did.
    """
    producer = make_producer(settings)
    try:
        futures = [
            producer.send(
                d.source_topic,
                key=d.key,
                value=d.value,
                headers=[*d.headers, ("dlq.replayed-from", d.id.encode())],
                timestamp_ms=d.timestamp_ms,
            )
            for d in letters
        ]
        for f in futures:
            f.get(timeout=30)
        return len(futures)
    finally:
        producer.close(timeout=10)
