"""One Kafka record to one event: the CloudEvents decoder, with nothing left to raise."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from kafka.consumer.fetcher import ConsumerRecord

from schemas.events import InboundEvent
from schemas.rollout import ObjectiveSetEvent
from talentloop.service.cloudevents import DateWindow, InvalidEvent, decode, record_time_of
from talentloop.service.kafka_records import UnreadableRecord, invalid_header_keys

log = logging.getLogger("talentloop.service.bridge")


def decode_record(
    record: ConsumerRecord,
    max_bytes: int,
    expected_topics: Mapping[str, str] | None = None,
    window: DateWindow | None = None,
) -> InboundEvent | ObjectiveSetEvent:
    """The event a record carries.

    Args:
        record: The consumed record.
        max_bytes: Larger values are "oversized".
        expected_topics: The topic of each inbound event type (`inbound_topics`): an event
            on another type's topic is "wrong-topic". None checks nothing.
        window: How far the event's dates may lie from the record's time (None: defaults).

    Raises:
        InvalidEvent: With the reason the record goes to the DLQ for, also for anything the
            decoder did not foresee ("undecodable"): raised as itself, it would end its key's
            task and hold back its partition's commits for good. An employee's event under
            another employee's key is "key-mismatch": the key decides the partition, and so the
            order the employee's events are applied in. A record with a header key
            that is not UTF-8 is "corrupt-record" (see `talentloop.service.kafka_records`):
            its headers reach the DLQ with each such key as ``x-invalid-utf8-key-<hex>``, an
            ASCII ``str`` a producer can publish, and the detail names the keys in hex. So is
            an `UnreadableRecord`, the stand-in for records kafka-python could not read (a
            batch whose CRC does not match, a record of an invalid structure): its value, the
            batch's bytes, reaches the DLQ, and the detail names the offsets and the error.

    """
    if isinstance(record, UnreadableRecord):
        raise InvalidEvent("corrupt-record", _unreadable_detail(record))
    bad_keys = invalid_header_keys(record.headers)
    if bad_keys:
        log.error(
            "%s/%d@%d has %d header key(s) that are not UTF-8",
            record.topic,
            record.partition,
            record.offset,
            len(bad_keys),
        )
        raise InvalidEvent("corrupt-record", _corrupt_detail(bad_keys))
    try:
        event = decode(
            record.value,
            record.headers or [],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            max_bytes=max_bytes,
            record_time=record_time_of(record.timestamp),
            expected_topics=expected_topics,
            window=window or DateWindow(),
        )
    except InvalidEvent:
        raise
    except Exception as err:
        # Only the error's type is logged: its message may quote the record (personal data).
        log.error(
            "decoding %s/%d@%d failed: %s",
            record.topic,
            record.partition,
            record.offset,
            type(err).__name__,
        )
        raise InvalidEvent("undecodable", type(err).__name__) from err
    if (
        isinstance(event, InboundEvent)
        and record.key is not None
        and record.key != event.employee_id.encode()
    ):
        raise InvalidEvent("key-mismatch", "the record's key is not the event's employee id")
    return event


def _corrupt_detail(bad_keys: list[bytes], limit: int = 500) -> str:
    """The DLQ detail of a record whose header keys ``bad_keys`` are not UTF-8, in hex."""
    keys = ", ".join(k.hex() for k in bad_keys)
    if len(keys) > limit:
        keys = keys[: limit - 3] + "..."
    return f"header key not UTF-8 (hex): {keys}"


def _unreadable_detail(record: UnreadableRecord) -> str:
    """The DLQ detail of a stand-in for records kafka-python could not read."""
    first, last = record.first_offset, record.offset
    where = f"offset {last}" if first == last else f"offsets {first}..{last}"
    return f"{where} unreadable (the value is the record batch's bytes): {record.error}"
