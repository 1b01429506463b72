"""Test helpers: free loopback ports and settings for a private dev stack."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from talentloop.config import Settings


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports, free now, below the kernel's ephemeral range.

    Servers such as Temporal's dev server bind extra ephemeral ports of their own; picking
    ours outside that range keeps them from racing for the same port.
    """
    low, _high = (
        int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
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


def stack_settings(state_dir: Path, **over: object) -> Settings:
    """Settings for a dev stack of its own: free ports, state in `state_dir`."""
    temporal, ui, kafka, smtp = free_ports(4)
    values: dict[str, object] = {
        "state_dir": state_dir,
        "host": "127.0.0.1",
        "temporal_port": temporal,
        "temporal_ui_port": ui,
        "kafka_port": kafka,
        "smtp_port": smtp,
        "topic_partitions": 3,
        **over,
    }
    return Settings(**values)  # type: ignore[arg-type]
