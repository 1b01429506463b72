"""Offset bookkeeping of the partitions this member holds, through rebalances.

One `OffsetTracker` per partition; commits go up to each tracker's contiguous handled prefix.
On revocation, what is handled is offered for commit and the first unhandled record is noted;
a partition this member gets back resumes there (kafka-python keeps the fetch position of a
re-assigned partition, past the records that were cancelled). Touched by the consumer thread
(rebalance callbacks) only while the loop waits on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition

from talentloop.service.bridge.offsets import OffsetTracker

log = logging.getLogger("talentloop.service.bridge")


class Partitions:
    """The trackers of the held partitions, and where kept partitions resume."""

    def __init__(self) -> None:
        """No partition held."""
        self.trackers: dict[TopicPartition, OffsetTracker] = {}
        self._resume_at: dict[TopicPartition, int] = {}

    def tracker(self, tp: TopicPartition) -> OffsetTracker:
        """The partition's tracker (a new one for a partition new to this member)."""
        tracker = self.trackers.get(tp)
        if tracker is None:
            tracker = self.trackers[tp] = OffsetTracker()
        return tracker

    def holds(self, tp: TopicPartition, tracker: OffsetTracker) -> bool:
        """Whether `tracker` is still the partition's (it was not revoked since)."""
        return self.trackers.get(tp) is tracker

    @property
    def in_flight(self) -> int:
        """Records handed out and not yet accepted by Temporal or dead-lettered."""
        return sum(t.pending for t in self.trackers.values())

    def committable(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """The offsets that may be committed now, by partition."""
        ready = {tp: t.committable() for tp, t in self.trackers.items()}
        return {tp: OffsetAndMetadata(o, "", -1) for tp, o in ready.items() if o is not None}

    def committed(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Note a successful commit."""
        for tp, meta in offsets.items():
            tracker = self.trackers.get(tp)
            if tracker is not None:
                tracker.committed(meta.offset)

    def revoke(self, revoked: list[TopicPartition]) -> dict[TopicPartition, OffsetAndMetadata]:
        """Forget `revoked`; returns what is handled of them, to commit without blocking.

        Their first unhandled records are noted for `rewind`.
        """
        offsets = {}
        self._resume_at = {}
        for tp in revoked:
            tracker = self.trackers.pop(tp, None)
            if tracker is None:
                continue
            if (o := tracker.committable()) is not None:
                offsets[tp] = OffsetAndMetadata(o, "", -1)
            if (resume := tracker.resume_offset()) is not None:
                self._resume_at[tp] = resume
        return offsets

    def rewind(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Where each of `assigned` this member held before must resume (to seek to)."""
        resume_at, self._resume_at = self._resume_at, {}
        return {tp: resume_at[tp] for tp in assigned if tp in resume_at}


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on kafka-python's IO thread when partitions move between members; never raises.

    Args:
        on_revoked: Called with the revoked partitions.
        on_assigned: Called with the assigned partitions.
        after_assigned: Called after `on_assigned`, even when it failed.

    """

    def __init__(
        self,
        on_revoked: Callable[[list[TopicPartition]], None],
        on_assigned: Callable[[list[TopicPartition]], None],
        after_assigned: Callable[[], None],
    ) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned
        self._after_assigned = after_assigned

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Hand the revoked partitions over; a failure only means redelivery."""
        try:
            self._on_revoked(revoked)
        except Exception:
            log.exception("handling revoked partitions failed; records will be redelivered")

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Hand the assigned partitions over, then signal the assignment."""
        try:
            self._on_assigned(assigned)
        except Exception:
            log.exception("handling assigned partitions (rewind, pause) failed")
        self._after_assigned()
