"""Which offset of a partition may be committed: the end of the contiguous handled prefix."""

from __future__ import annotations

import heapq


class OffsetTracker:
    """Tracks records of one partition that are in flight, possibly finishing out of order.

    Records of different employees in one partition are handled concurrently, so they finish
    out of order; the committable offset only moves past a record once every earlier record
    of the partition is handled too.
    """

    def __init__(self) -> None:
        """An empty tracker: nothing dispatched, nothing to commit."""
        self._in_flight: list[int] = []
        self._done: set[int] = set()
        self._next: int | None = None
        self._committed: int | None = None

    def dispatched(self, offset: int) -> None:
        """A record was handed out for handling."""
        heapq.heappush(self._in_flight, offset)

    def finished(self, offset: int) -> None:
        """A record was handled (accepted by Temporal, or dead-lettered)."""
        self._done.add(offset)
        while self._in_flight and self._in_flight[0] in self._done:
            head = heapq.heappop(self._in_flight)
            self._done.discard(head)
            self._next = head + 1

    @property
    def pending(self) -> int:
        """Records dispatched and not yet handled."""
        return len(self._in_flight) - len(self._done)

    def resume_offset(self) -> int | None:
        """The first offset not handled yet (None: nothing was dispatched).

        A consumer that goes on from here skips nothing: every earlier record is handled.
        """
        return self._in_flight[0] if self._in_flight else self._next

    def committable(self) -> int | None:
        """The offset to commit (one past the handled prefix) if it moved since `committed`."""
        return None if self._next == self._committed else self._next

    def committed(self, offset: int) -> None:
        """Record that `offset` was committed."""
        self._committed = offset
