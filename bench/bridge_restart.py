"""Bridge restart pause: how long a consumer-group member killed without leaving the group
(kill -9) takes, once restarted, to consume again — dynamic membership (the baseline) against
static membership (`TALENTLOOP_BRIDGE_INSTANCE_ID`), measured in the same run on the embedded
Kafka-protocol broker (Tansu) with the bridge's own consumer settings (`make_consumer`).

Usage: python bench/bridge_restart.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from talentloop.dev.devstack import DevStack
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.kafka import make_consumer

TOPIC = "restart-bench"


def consume(consumer: KafkaConsumer, want: int, limit: float = 60.0) -> float:
    """Seconds until `consumer` has read `want` records (from its first poll)."""
    start, got = time.monotonic(), 0
    while got < want and time.monotonic() - start < limit:
        got += sum(len(v) for v in consumer.poll(100).values())
    if got < want:
        raise SystemExit(f"only {got} of {want} records within {limit:.0f} s")
    return time.monotonic() - start


def restart_pause(settings: Settings, producer: KafkaProducer, group: str) -> float:
    """Join, read, die without leaving (as kill -9 does), restart: the restarted member's wait."""
    first = make_consumer(settings, group_id=group)
    first.subscribe([TOPIC])
    for n in range(4):
        producer.send(TOPIC, key=f"k{n}".encode(), value=b"before")
    producer.flush()
    consume(first, 4)
    first.commit()
    first._client.close()  # gone without a LeaveGroup: the broker still counts it as a member
    for n in range(4):
        producer.send(TOPIC, key=f"k{n}".encode(), value=b"after")
    producer.flush()
    second = make_consumer(settings, group_id=group)
    second.subscribe([TOPIC])
    try:
        return consume(second, 4)
    finally:
        second.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="restart-bench-"))
    settings = private_settings(state)
    stack = DevStack(settings)
    stack.up(only=("kafka",))
    try:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_servers)
        results: dict[str, list[float]] = {"dynamic": [], "static": []}
        for n in range(args.rounds):
            dynamic = settings.model_copy(update={"bridge_instance_id": None})
            static = settings.model_copy(update={"bridge_instance_id": f"bench-bridge-{n}"})
            results["dynamic"].append(restart_pause(dynamic, producer, f"dyn-{n}"))
            results["static"].append(restart_pause(static, producer, f"static-{n}"))
        print(f"bridge restart pause after kill -9 ({args.rounds} rounds, session timeout 10 s)")
        for name, values in results.items():
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(f"  {name:<8} median {statistics.median(values):6.2f} s   ({runs})")
        base, new = statistics.median(results["dynamic"]), statistics.median(results["static"])
        print(f"  static / dynamic = {new / base:.0%} (baseline: dynamic membership, same run)")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
