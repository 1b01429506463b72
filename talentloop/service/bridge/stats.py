"""The bridge's counters, and the back-off its retry loops share."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class BridgeStats:
    """Counters of what the bridge did since it started.

    Attributes:
        consumed: Records polled.
        signalled: Events Temporal accepted.
        dead_lettered: Records written to the DLQ (whole or cut down).
        temporal_retries: Temporal calls that failed transiently and were retried.
        directory_retries: Directory checks that failed and were retried.
        commits: Offset commits.
        pauses: Times consumption was paused for the backlog.
        rebalances: Partition revocations.
        internal_errors: Records dead-lettered as ``internal-error`` (an unforeseen exception).
        temporal_refused: Events Temporal refused for good (``temporal-refused``).
        conflicting_duplicates: Objective-set versions re-sent with other content.
        dead_letters_truncated: Dead letters written cut down (``dlq.truncated``).
        dead_letter_refusals: Dead-letter forms refused for good (each falls back to a smaller).
        dead_letter_retries: DLQ publishes that failed and were retried.
        consumed_by_topic: Records polled, by source topic (for the metrics).
        dead_lettered_by: Records dead-lettered, by (source topic, reason) (for the metrics).
    """

    consumed: int = 0
    signalled: int = 0
    dead_lettered: int = 0
    temporal_retries: int = 0
    directory_retries: int = 0
    commits: int = 0
    pauses: int = 0
    rebalances: int = 0
    internal_errors: int = 0
    temporal_refused: int = 0
    conflicting_duplicates: int = 0
    dead_letters_truncated: int = 0
    dead_letter_refusals: int = 0
    dead_letter_retries: int = 0
    consumed_by_topic: Counter[str] = field(default_factory=Counter)
    dead_lettered_by: Counter[tuple[str, str]] = field(default_factory=Counter)


class Backoff:
    """Waits between retries: 0.2 s, doubling up to 5 s."""

    def __init__(self) -> None:
        """Start at the shortest wait."""
        self._delay = 0.2

    async def wait(self) -> None:
        """Sleep the current delay, then lengthen it."""
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, 5.0)
