"""The bridge's counters, and the back-off its retry loops share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class BridgeStats:
    """Counters of what the bridge did since it started."""

    consumed: int = 0
    signalled: int = 0
    dead_lettered: int = 0
    temporal_retries: int = 0
    directory_retries: int = 0
    commits: int = 0
    pauses: int = 0
    rebalances: int = 0


class Backoff:
    """Waits between retries: 0.2 s, doubling up to 5 s."""

    def __init__(self) -> None:
        """Start at the shortest wait."""
        self._delay = 0.2

    async def wait(self) -> None:
        """Sleep the current delay, then lengthen it."""
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, 5.0)
