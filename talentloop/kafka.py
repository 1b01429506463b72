"""Kafka clients built from the settings: consumer, idempotent producer, topic creation."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.events import EVENT_TYPES
from talentloop.config import Settings


def topic_for_type(settings: Settings, event_type: str) -> str | None:
    """The inbound topic an event type is published on, if it is an inbound type."""
    spec = EVENT_TYPES.get(event_type)
    return spec.topic(settings) if spec is not None and spec.direction == "inbound" else None


def make_consumer(settings: Settings, group_id: str | None = None) -> KafkaConsumer:
    """A consumer-group member that commits offsets only when told to.

    The one-second heartbeat makes a new member join in about three seconds.
    """
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=group_id or settings.consumer_group,
        client_id="talentloop-bridge",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        heartbeat_interval_ms=1000,
        session_timeout_ms=10_000,
        max_poll_interval_ms=60_000,
        max_partition_fetch_bytes=max(1_048_576, settings.max_event_bytes * 2),
    )


def make_producer(settings: Settings) -> KafkaProducer:
    """An idempotent producer: acks from all replicas, no duplicates on retry."""
    return KafkaProducer(
        bootstrap_servers=settings.kafka_servers,
        client_id="talentloop",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        bootstrap_timeout_ms=settings.kafka_connect_timeout_ms,
    )


def ensure_topics(settings: Settings) -> list[str]:
    """Create the inbound, outbound and DLQ topics that do not exist yet; return those created."""
    wanted = [*settings.inbound_topics, settings.topic_outbound, settings.topic_dlq]
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, client_id="talentloop")
    try:
        existing = set(admin.list_topics())
        created = []
        for name in wanted:
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, settings.topic_partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
