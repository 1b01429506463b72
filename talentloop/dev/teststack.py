"""Private stacks for tests and benchmarks: settings on free loopback ports, isolated lanes.

A private stack runs beside the default one (7233, 9092, 1025) without touching it, and a
lane gives one test or benchmark stage topics, a consumer group and a task queue of its own
on a shared stack.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any

from talentloop.service.config import Settings
from talentloop.service.kafka import ensure_topics

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports, free now, below the kernel's ephemeral range.

    Servers such as Temporal's dev server bind extra ephemeral ports of their own; picking
    ours outside that range keeps them from racing for the same port.
    """
    low = int(_EPHEMERAL.read_text().split()[0]) if _EPHEMERAL.exists() else 32768
    rng = random.SystemRandom()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(10_000, low)
        if port in ports:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def private_settings(state_dir: Path, **over: Any) -> Settings:
    """Settings for a stack of its own: free ports, state and database in `state_dir`."""
    temporal, ui, kafka, smtp = free_ports(4)
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "host": "127.0.0.1",
        "temporal_port": temporal,
        "temporal_ui_port": ui,
        "kafka_port": kafka,
        "smtp_port": smtp,
        "database_url": f"sqlite:///{state_dir / 'app.db'}",
        **over,
    }
    return Settings(**values)


def lane(settings: Settings, name: str, **over: Any) -> Settings:
    """The same stack with topics, a consumer group and a task queue named after `name`.

    The topics are created.
    """
    values = settings.model_dump()
    values.update(
        topic_reviews=f"{name}.reviews",
        topic_objectives=f"{name}.objectives",
        topic_completions=f"{name}.completions",
        topic_employees=f"{name}.employees",
        topic_goals=f"{name}.goals",
        topic_outbound=f"{name}.events",
        topic_dlq=f"{name}.dlq",
        consumer_group=f"{name}-bridge",
        **over,
    )
    isolated = Settings(**values)
    ensure_topics(isolated)
    return isolated
