"""Static group membership: a bridge consumer restarted after kill -9 with the same instance id
rejoins as that member and consumes what came meanwhile. How much sooner than a dynamic member
is measured by bench/bridge_restart.py, not asserted here (timings belong in benchmarks)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from kafka import KafkaProducer

from talentloop.service.config import Settings
from talentloop.service.kafka import make_consumer

pytestmark = pytest.mark.integration


def _consume(settings: Settings, topic: str, group: str, want: int) -> tuple[float, object]:
    consumer = make_consumer(settings, group_id=group)
    consumer.subscribe([topic])
    start, got = time.monotonic(), 0
    while got < want and time.monotonic() - start < 40:
        got += sum(len(v) for v in consumer.poll(100).values())
    assert got >= want, f"{got} of {want}"
    return time.monotonic() - start, consumer


async def test_a_static_member_killed_and_restarted_rejoins_and_consumes(
    settings: Settings,
) -> None:
    topic, group = f"static-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    static = settings.model_copy(update={"bridge_instance_id": "bridge-under-test"})
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers)

    def send(value: bytes) -> None:
        for n in range(4):
            producer.send(topic, key=f"k{n}".encode(), value=value)
        producer.flush()

    send(b"before")
    _, first = await asyncio.to_thread(_consume, static, topic, group, 4)
    assert first.config["group_instance_id"] == "bridge-under-test"  # type: ignore[attr-defined]
    first.commit()  # type: ignore[attr-defined]
    first._client.close()  # type: ignore[attr-defined]  # gone without leaving, as kill -9
    send(b"after")
    _, second = await asyncio.to_thread(_consume, static, topic, group, 4)
    assert second.config["group_instance_id"] == "bridge-under-test"  # type: ignore[attr-defined]
    second.close()  # type: ignore[attr-defined]
    producer.close()
