"""The bridge: Kafka consumer group -> validated CloudEvents -> Temporal signal-with-start.

- Records with the same Kafka key (the employee id) are handled strictly in order, by one
  task per key that works through the key's queued records (`chains`); records of different
  keys proceed concurrently, so many Temporal calls are in flight at once.
- A failing directory check (the directory database is down) is retried with back-off: the
  record waits, and the later records of its key behind it; nothing is dead-lettered for it
  (`directory`).
- Offsets are committed per partition only up to the contiguous prefix of records that Temporal
  accepted or that went to the DLQ (`offsets`, `partitions`).
- Bad input goes to the DLQ topic with the original bytes and the reason; the bridge goes on
  (`records` decodes, `deadletters` publishes). So do records kafka-python cannot read (a
  header key that is not UTF-8, a batch whose CRC does not match, a record of an invalid
  structure): ``corrupt-record``, with what can be read of them
  (`talentloop.service.kafka_records`). No exception ends a key's chain: anything
  unforeseen dead-letters the record as ``internal-error``. A dead letter too large for the
  producer is cut down (``dlq.truncated``, the original's size and sha256), and only
  retriable broker errors are retried; a permanent Temporal refusal is ``temporal-refused``.
- Temporal unavailable: deliveries back off and retry (`delivery`); once `max_in_flight` records
  wait, the partitions are paused while polling continues (the group membership holds), and
  resumed when the backlog drains. Nothing Temporal did not accept is committed.
- Rebalance: what is handled of the revoked partitions is committed, their records in flight
  are cancelled. A partition this member gets back resumes at its first unhandled record
  (kafka-python keeps its fetch position); a partition new to it, at the committed offset
  (`partitions`, `rebalance`).
- Stop: no more fetching, in-flight records finish (up to ``drain_timeout``; "stopping: ..."
  is logged when the wait begins), offsets are committed, the group is left.

Threading, stated once for every module here: all consumer calls run on one dedicated thread
(kafka-python is not thread-safe), and so do the rebalance callbacks (kafka-python calls them
from inside `poll`); everything else, Temporal calls and the per-key tasks, runs on the asyncio
loop. State the two share (`Partitions`, the chains' tasks) is touched by the consumer thread
only while the loop waits on that thread's `poll`, and tasks are cancelled from it only with
`call_soon_threadsafe`.
"""

from talentloop.service.bridge.consumer import Bridge
from talentloop.service.bridge.directory import (
    KnownEmployee,
    UnknownSkills,
    directory_check,
    skills_check,
)
from talentloop.service.bridge.stats import BridgeStats

__all__ = [
    "Bridge",
    "BridgeStats",
    "KnownEmployee",
    "UnknownSkills",
    "directory_check",
    "skills_check",
]
