"""One Kafka record to one event: the CloudEvents decoder, with nothing left to raise."""

from __future__ import annotations

import logging

from kafka.consumer.fetcher import ConsumerRecord

from schemas.events import InboundEvent
from schemas.rollout import ObjectiveSetEvent
from talentloop.service.cloudevents import InvalidEvent, decode

log = logging.getLogger("talentloop.service.bridge")


def decode_record(record: ConsumerRecord, max_bytes: int) -> InboundEvent | ObjectiveSetEvent:
    """The event a record carries.

    Raises:
        InvalidEvent: With the reason the record goes to the DLQ for, also for anything the
            decoder did not foresee ("undecodable"): raised as itself, it would end its key's
            task and hold back its partition's commits for good.

    """
    try:
        return decode(
            record.value,
            record.headers or [],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            max_bytes=max_bytes,
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
