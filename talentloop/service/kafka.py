"""Kafka clients built from the settings: consumer, idempotent producer, topic creation."""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.events import EVENT_TYPES
from talentloop.service import kafka_records  # noqa: F401  (patches record parsing: issue 13)
from talentloop.service.config import Settings


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


def make_producer(settings: Settings, *, max_request_size: int = 1_048_576) -> KafkaProducer:
    """An idempotent producer: acks from all replicas, no duplicates on retry.

    Args:
        settings: The brokers.
        max_request_size: The largest record it sends (kafka-python's default, 1 MiB; the
            bridge's DLQ producer takes a little more: a 1 MiB value and its headers).
    """
    return KafkaProducer(
        bootstrap_servers=settings.kafka_servers,
        client_id="talentloop",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        bootstrap_timeout_ms=settings.kafka_connect_timeout_ms,
        max_request_size=max_request_size,
    )


def make_admin(settings: Settings, *, timeout_ms: int = 10_000) -> KafkaAdminClient:
    """An admin client of the configured cluster; it gives up after ``timeout_ms``.

    Raises:
        KafkaError: If no bootstrap server answers within ``timeout_ms``.
    """
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_servers,
        client_id="talentloop-admin",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def wanted_topics(settings: Settings) -> list[str]:
    """Every topic the product uses: the inbound ones, the outbound events and the DLQ."""
    topics = [*settings.inbound_topics, settings.topic_outbound, settings.topic_dlq]
    return list(dict.fromkeys(topics))


@dataclass(frozen=True)
class TopicsReport:
    """What `ensure_topics` found and did.

    Attributes:
        created: Topics that did not exist and were created.
        partitions: The partition count of every wanted topic, after creation.

    """

    created: list[str]
    partitions: dict[str, int]

    def mismatched(self, wanted: int) -> dict[str, int]:
        """Topics whose partition count is not ``wanted`` (Kafka never lowers a count)."""
        return {name: n for name, n in self.partitions.items() if n != wanted}


def topic_partitions(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """The partition count of each of ``topics`` that exists."""
    described = admin.describe_topics(topics)
    return {
        t["name"]: len(t["partitions"])
        for t in described
        if t.get("error_code", 0) == 0 and t.get("partitions")
    }


def ensure_topics(settings: Settings, *, timeout_ms: int = 10_000) -> TopicsReport:
    """Create the product's topics that do not exist yet, with the configured partitions.

    Existing topics are left as they are: adding partitions would move keys to other
    partitions and break the per-employee order, so a different count is only reported.

    Returns:
        The topics created and every topic's partition count.

    Raises:
        KafkaError: If the cluster cannot be reached or refuses; RuntimeError if a topic is
            still missing after its creation.

    """
    wanted = wanted_topics(settings)
    admin = make_admin(settings, timeout_ms=timeout_ms)
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
        absent = sorted(set(wanted) - set(admin.list_topics()))
        if absent:
            raise RuntimeError(f"topics missing after creation: {', '.join(absent)}")
        return TopicsReport(created=created, partitions=topic_partitions(admin, wanted))
    finally:
        admin.close()
