"""Kafka clients built from the settings: consumer, idempotent producer, topic creation.

Every kafka-python client the project makes takes its connection arguments from
`connection_config`: the bootstrap servers and the security (TLS, SASL PLAIN or SCRAM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


class MaskedSecret(str):
    """A secret kafka-python needs as a ``str``, shown as ``'***'`` by `repr`.

    kafka-python logs its whole configuration at DEBUG (``Starting KafkaAdminClient with
    configuration: {...}``); the dict's repr then masks the password, while the client still
    uses the real characters.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def security_config(settings: Settings) -> dict[str, Any]:
    """The kafka-python security arguments the settings ask for.

    PLAINTEXT gives none; SSL and SASL_SSL add the CA, the client certificate and key (mTLS)
    and the hostname check; SASL_PLAINTEXT and SASL_SSL add the mechanism (PLAIN,
    SCRAM-SHA-256 or SCRAM-SHA-512) and its user name and password. They suit
    ``KafkaConsumer``, ``KafkaProducer`` and ``KafkaAdminClient`` alike.
    """
    protocol = settings.kafka_security_protocol
    config: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
        for key, path in (
            ("ssl_cafile", settings.kafka_ssl_ca_path),
            ("ssl_certfile", settings.kafka_ssl_cert_path),
            ("ssl_keyfile", settings.kafka_ssl_key_path),
        ):
            if path is not None:
                config[key] = str(path)
        if settings.kafka_ssl_key_password is not None:
            config["ssl_password"] = MaskedSecret(
                settings.kafka_ssl_key_password.get_secret_value()
            )
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        assert settings.kafka_sasl_password is not None  # the settings refuse it otherwise
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = MaskedSecret(
            settings.kafka_sasl_password.get_secret_value()
        )
    return config


def connection_config(settings: Settings) -> dict[str, Any]:
    """The bootstrap servers and security arguments every client of the cluster gets."""
    return {"bootstrap_servers": settings.kafka_servers, **security_config(settings)}


def make_consumer(settings: Settings, group_id: str | None = None) -> KafkaConsumer:
    """A consumer-group member that commits offsets only when told to.

    The one-second heartbeat makes a new member join in about three seconds. With
    `bridge_instance_id` set, the member is static (``group.instance.id``): restarted with the
    same id, it takes its partitions back without waiting for the session timeout.
    """
    static = (
        {"group_instance_id": settings.bridge_instance_id} if settings.bridge_instance_id else {}
    )
    return KafkaConsumer(
        **connection_config(settings),
        **static,
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
        **connection_config(settings),
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
        **connection_config(settings),
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
