"""Per-key chains: one task per key with queued records, working through them in order.

Records of one key (one employee) are handled strictly in order; records of different keys
concurrently. A chain is keyed by the partition's offset tracker too, so that after a revoke
and a re-assignment the partition's records start new chains instead of joining a cancelled
one. Runs on the asyncio loop; `cancel` is the one call made from the consumer thread.

The handler does not raise (the bridge dead-letters what it cannot deliver); should it raise
all the same, the error is logged and the chain goes on with the key's next record: a key's
records are never dropped behind one that failed. (That record is not marked handled, so the
partition's commits stay before it: it is read again after a rebalance or a restart.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from talentloop.service.bridge.offsets import OffsetTracker

log = logging.getLogger("talentloop.service.bridge")

Handler = Callable[[TopicPartition, OffsetTracker, ConsumerRecord], Awaitable[None]]
"""Handles one record of a partition (its tracker is the one it was dispatched under)."""


class KeyChains:
    """The running chains and their tasks, by partition.

    Args:
        handle: What each record goes through, in its key's order.

    """

    def __init__(self, handle: Handler) -> None:
        self._handle = handle
        self._chains: dict[tuple[OffsetTracker, bytes], deque[ConsumerRecord]] = {}
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}

    def dispatch(self, tp: TopicPartition, tracker: OffsetTracker, record: ConsumerRecord) -> None:
        """Queue a record behind the earlier ones of its key; start the key's chain if idle."""
        chain = (tracker, record.key or b"")
        queue = self._chains.get(chain)
        if queue is not None:
            queue.append(record)
            return
        queue = self._chains[chain] = deque((record,))
        tasks = self._tasks.setdefault(tp, set())
        task = asyncio.create_task(self._run(tp, tracker, chain, queue))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def tasks(self) -> list[asyncio.Task[None]]:
        """Every running chain's task."""
        return [t for group in self._tasks.values() for t in group]

    def cancel(self, partitions: Iterable[TopicPartition], loop: asyncio.AbstractEventLoop) -> None:
        """From the consumer thread: cancel the chains of `partitions` (redelivered later)."""
        for tp in partitions:
            for task in list(self._tasks.pop(tp, set())):
                loop.call_soon_threadsafe(task.cancel)

    async def _run(
        self,
        tp: TopicPartition,
        tracker: OffsetTracker,
        chain: tuple[OffsetTracker, bytes],
        queue: deque[ConsumerRecord],
    ) -> None:
        """Handle one key's records in order until none is queued."""
        try:
            while queue:
                record = queue[0]
                try:
                    await self._handle(tp, tracker, record)
                except Exception as err:
                    # Only the type: the message may quote the record (personal data).
                    log.error(
                        "the handler of %s/%d@%d raised %s; going on with the key's next record",
                        record.topic,
                        record.partition,
                        record.offset,
                        type(err).__name__,
                    )
                queue.popleft()
        finally:
            if self._chains.get(chain) is queue:
                del self._chains[chain]
