"""Dead letters: a refused record on the DLQ topic with the reason, whole or cut down, always.

A dead letter carries the record's key, value and headers, then ``dlq.reason``,
``dlq.detail``, its source (``dlq.topic``, ``dlq.partition``, ``dlq.offset``) and ``dlq.time``.
What Kafka allows and kafka-python's producer refuses is made sendable and noted: a header
value that is null goes as b"" (its name in ``dlq.null-headers``); a record with neither key
nor value goes with the value b"" (``dlq.null-value``).

A value over `MAX_WHOLE_VALUE` (the broker's default record size), or a letter the producer or
the broker refuses for good, is written cut down instead: the value's first `TRUNCATED_VALUE`
bytes with ``dlq.truncated``, ``dlq.original-size`` and ``dlq.original-sha256`` (the key and
the headers too, unless they are large: ``dlq.key-dropped``, ``dlq.headers-dropped``); if that
is refused too, the ``dlq.*`` headers alone. Errors kafka-python calls retriable (broker
unreachable, timeouts) are retried with back-off; any other error moves on to the next,
smaller form, so nothing in a record can hold its key back. The last form holds nothing of the
record but its position and sizes: if even that is refused, the DLQ itself is unusable
(authorisation, a missing topic), and it is retried with back-off, like Temporal being down,
rather than losing the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from talentloop.service.bridge.stats import Backoff, BridgeStats
from talentloop.service.cloudevents import InvalidEvent

log = logging.getLogger("talentloop.service.bridge")

MAX_WHOLE_VALUE = 1 << 20
"""The largest value a dead letter carries whole: 1 MiB, the broker's default record size."""

TRUNCATED_VALUE = 64 << 10
"""What a cut-down dead letter keeps of the value: its first 64 KiB."""

MAX_KEPT_KEY = 1 << 10
"""A cut-down dead letter keeps a key up to 1 KiB (an employee id), else drops it."""

MAX_KEPT_HEADERS = 16 << 10
"""A cut-down dead letter keeps the record's headers up to 16 KiB in all, else drops them."""

PRODUCER_MAX_REQUEST = MAX_WHOLE_VALUE + (64 << 10)
"""The DLQ producer's ``max_request_size``: a whole value and 64 KiB of key and headers."""

MAX_DETAIL = 1000
"""Characters of `InvalidEvent.detail` (and of the list of null headers) a letter carries."""

Header = tuple[str, bytes]


@dataclass(frozen=True)
class Letter:
    """One form of a dead letter, as it is handed to the producer.

    Attributes:
        key: The record's key (None: none, or dropped).
        value: The record's value, whole or its first bytes (None: a tombstone with a key).
        headers: The record's sendable headers, then the ``dlq.*`` ones.
        truncated: Whether this is a cut-down form (``dlq.truncated``).

    """

    key: bytes | None
    value: bytes | None
    headers: list[Header]
    truncated: bool


def sanitized_headers(
    headers: Iterable[tuple[str, bytes | bytearray | memoryview | None]] | None,
) -> tuple[list[Header], list[str]]:
    """The headers as kafka-python's producer takes them: null values as b"".

    Returns:
        The headers in their order, every value bytes; and the names whose value was null.

    """
    out: list[Header] = []
    nulled: list[str] = []
    for name, value in headers or ():
        if value is None:
            nulled.append(name)
            out.append((name, b""))
        else:
            out.append((name, bytes(value)))
    return out, nulled


def _text(value: str, limit: int = MAX_DETAIL) -> bytes:
    """`value`, at most `limit` characters, as UTF-8 (what cannot be encoded replaced)."""
    return value[:limit].encode("utf-8", errors="replace")


def _source_headers(record: ConsumerRecord, err: InvalidEvent, now: datetime) -> list[Header]:
    """``dlq.reason``, ``dlq.detail``, the record's topic, partition and offset, the time."""
    return [
        ("dlq.reason", _text(err.reason)),
        ("dlq.detail", _text(err.detail)),
        ("dlq.topic", _text(record.topic)),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.time", now.isoformat().encode()),
    ]


def dead_letter_headers(record: ConsumerRecord, err: InvalidEvent, now: datetime) -> list[Header]:
    """The whole dead letter's headers: the record's own (null values as b""), then ``dlq.*``.

    ``dlq.null-headers`` names the headers whose value was null, if any.
    """
    own, nulled = sanitized_headers(record.headers)
    notes = [("dlq.null-headers", _text(",".join(nulled)))] if nulled else []
    return [*own, *_source_headers(record, err, now), *notes]


def _letter(
    key: bytes | None, value: bytes | None, headers: list[Header], *, truncated: bool
) -> Letter:
    """A letter kafka-python can send: with neither key nor value, the value b""."""
    if key is None and value is None:
        return Letter(None, b"", [*headers, ("dlq.null-value", b"true")], truncated)
    return Letter(key, value, headers, truncated)


def letter_forms(record: ConsumerRecord, err: InvalidEvent, now: datetime) -> list[Letter]:
    """The forms of the record's dead letter to try, in order.

    Whole (unless the value is over `MAX_WHOLE_VALUE`); cut down (when that cuts anything);
    and the ``dlq.*`` headers alone (with the key, unless it is large).
    """
    key: bytes | None = record.key
    value: bytes | None = record.value
    own, nulled = sanitized_headers(record.headers)
    source = _source_headers(record, err, now)
    if nulled:
        source.append(("dlq.null-headers", _text(",".join(nulled))))
    original = value or b""
    marks: list[Header] = [
        ("dlq.truncated", b"true"),
        ("dlq.original-size", str(len(original)).encode()),
        ("dlq.original-sha256", hashlib.sha256(original).hexdigest().encode()),
    ]
    kept_key = key if key is None or len(key) <= MAX_KEPT_KEY else None
    if kept_key is None and key is not None:
        marks.append(("dlq.key-dropped", str(len(key)).encode()))
    headers_size = sum(len(name.encode("utf-8", errors="replace")) + len(v) for name, v in own)
    kept_headers = own if headers_size <= MAX_KEPT_HEADERS else []
    dropped = [("dlq.headers-dropped", str(len(own)).encode())] if own else []

    forms: list[Letter] = []
    whole = len(original) <= MAX_WHOLE_VALUE
    if whole:
        forms.append(_letter(key, value, [*own, *source], truncated=False))
    cut = value if value is None else value[:TRUNCATED_VALUE]
    if not whole or cut != value or kept_key != key or kept_headers != own:
        headers = [*kept_headers, *source, *marks, *(dropped if kept_headers != own else [])]
        forms.append(_letter(kept_key, cut, headers, truncated=True))
    bare = None if value is None and kept_key is not None else b""
    forms.append(_letter(kept_key, bare, [*source, *marks, *dropped], truncated=True))
    return forms


def bare_letter(record: ConsumerRecord, err: InvalidEvent, now: datetime) -> Letter:
    """A dead letter of the record's position and the reason alone, nothing of its content."""
    return Letter(None, b"", [*_source_headers(record, err, now), ("dlq.truncated", b"true")], True)


def should_retry(err: BaseException) -> bool:
    """Whether a failed publish is worth trying again as it is.

    Only what kafka-python calls retriable is (a broker unreachable, a timeout); never a
    refusal of the record itself, nor an error kafka-python raises before sending.
    """
    return isinstance(err, KafkaError) and bool(err.retriable)


def describe(err: BaseException) -> str:
    """An error as the log says it.

    A Kafka error with its message (about sizes and brokers); any other by its type alone:
    its message may quote the record (personal data).
    """
    return str(err) if isinstance(err, KafkaError) else type(err).__name__


class DeadLetters:
    """Publishes refused records to the DLQ topic through one producer.

    Args:
        producer: A kafka-python producer (the bridge's idempotent one, its
            ``max_request_size`` at least `PRODUCER_MAX_REQUEST`).
        topic: The DLQ topic.
        stats: Counts what was dead-lettered, cut down, refused and retried.

    """

    def __init__(self, producer: Any, topic: str, stats: BridgeStats) -> None:
        self._producer = producer
        self._topic = topic
        self._stats = stats

    async def send(self, record: ConsumerRecord, err: InvalidEvent) -> None:
        """Publish the record's dead letter; returns once the broker has one form of it.

        Raises nothing but `asyncio.CancelledError`.
        """
        where = f"{record.topic}/{record.partition}@{record.offset}"
        log.warning("dead-lettering %s: %s", where, err.reason)
        now = datetime.now(UTC)
        try:
            forms = letter_forms(record, err, now)
        except Exception as ferr:  # a record kafka-python should never hand out
            log.error("dead letter of %s cannot be built (%s)", where, type(ferr).__name__)
            forms = [bare_letter(record, err, now)]
        # The dead letter keeps the record's timestamp: the contract's date window is judged
        # against it, so a replay later decides as the first delivery did.
        stamp = record.timestamp if record.timestamp is not None and record.timestamp >= 0 else None
        for n, letter in enumerate(forms):
            if await self._publish(letter, where, last=n == len(forms) - 1, timestamp_ms=stamp):
                self._stats.dead_lettered += 1
                self._stats.dead_lettered_by[(record.topic, err.reason)] += 1
                if letter.truncated:
                    self._stats.dead_letters_truncated += 1
                    log.warning(
                        "dead letter of %s written cut down (%d of %d value bytes)",
                        where,
                        len(letter.value or b""),
                        len(record.value or b""),
                    )
                return

    async def _publish(
        self, letter: Letter, where: str, *, last: bool, timestamp_ms: int | None = None
    ) -> bool:
        """Publish one form; False when it is refused for good.

        Retriable errors are retried with back-off. The last form is retried whatever the
        error: nothing of the record is left in it to refuse.
        """
        backoff = Backoff()
        while True:
            try:
                await asyncio.to_thread(self._send, letter, timestamp_ms)
                return True
            except Exception as perr:
                if not (last or should_retry(perr)):
                    self._stats.dead_letter_refusals += 1
                    log.error(
                        "DLQ refused the %s dead letter of %s (%s); trying a smaller one "
                        "(%d refusals so far)",
                        "cut-down" if letter.truncated else "whole",
                        where,
                        describe(perr),
                        self._stats.dead_letter_refusals,
                    )
                    return False
                self._stats.dead_letter_retries += 1
                log.log(
                    logging.WARNING if should_retry(perr) else logging.ERROR,
                    "DLQ publish of %s failed (%s); retrying (%d retries so far)",
                    where,
                    describe(perr),
                    self._stats.dead_letter_retries,
                )
                await backoff.wait()

    def _send(self, letter: Letter, timestamp_ms: int | None = None) -> None:
        """On a worker thread: send and wait for the broker (``send`` may block on metadata)."""
        future = self._producer.send(
            self._topic,
            key=letter.key,
            value=letter.value,
            headers=letter.headers,
            timestamp_ms=timestamp_ms,
        )
        future.get(30)
