"""Test helpers: free loopback ports and settings for a private dev stack."""

from __future__ import annotations

import socket
from pathlib import Path

from talentloop.config import Settings


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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
