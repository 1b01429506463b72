"""Sending what the Kafka protocol allows but kafka-python's producer refuses or cannot say:
header values that are null and header keys that are not UTF-8 (a producer in another language
sends both), and record batches that are corrupt (a CRC that does not match, a record of an
invalid structure: what a broken producer or a damaged disk gives), for tests of what the
bridge does with them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from kafka.producer.future import FutureRecordMetadata
from kafka.producer.producer_batch import ProducerBatch
from kafka.record.default_records import DefaultRecordBatchBuilder

CRC_OFFSET: int = DefaultRecordBatchBuilder.CRC_OFFSET
"""Where a v2 record batch's CRC-32C starts (4 bytes, big-endian)."""


class RawKey(str):
    """A header key kafka-python writes as the given bytes, UTF-8 or not.

    The producer only checks that a key is a ``str``; its record builder then writes
    ``key.encode("utf-8")``, which here returns the raw bytes.
    """

    raw: bytes

    def __new__(cls, raw: bytes) -> RawKey:
        key = super().__new__(cls, raw.decode("utf-8", "surrogateescape"))
        key.raw = raw
        return key

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def _try_append(
    self: ProducerBatch,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[Any],
    now: float | None = None,
) -> FutureRecordMetadata | None:
    """kafka-python 3.0's ``ProducerBatch.try_append``, counting a null header value's size as
    0 (upstream takes ``len(None)`` once the record is already in the batch)."""
    metadata = self.records.append(timestamp_ms, key, value, headers)
    if metadata is None:
        return None
    self.max_record_size = max(self.max_record_size, metadata.size)
    self.last_append = time.monotonic() if now is None else now
    future = FutureRecordMetadata(
        self.produce_future,
        metadata.offset,
        metadata.timestamp,
        metadata.crc,
        -1 if key is None else len(key),
        -1 if value is None else len(value),
        sum(len(k.encode("utf-8")) + len(v or b"") for k, v in headers) if headers else -1,
    )
    self._record_futures.append(future)
    return future


@contextlib.contextmanager
def null_header_values() -> Iterator[None]:
    """kafka-python's producer able to batch header values that are None, meanwhile."""
    upstream = ProducerBatch.try_append
    ProducerBatch.try_append = _try_append  # type: ignore[method-assign]
    try:
        yield
    finally:
        ProducerBatch.try_append = upstream  # type: ignore[method-assign]


Mangle = Callable[[bytearray], None]
"""Changes a record batch's bytes in place."""


def negative_header_count(body: bytearray) -> None:
    """The batch's last record says it has -1 headers (it has none): an invalid structure.

    For a batch whose last record has no headers, built before its CRC is computed (so the
    CRC is right and only the structure is wrong).
    """
    assert body[-1] == 0x00, "the last record must have no headers"
    body[-1] = 0x01  # zigzag varint -1


def wrong_crc(batch: bytearray) -> None:
    """The batch's CRC no longer matches its bytes."""
    batch[CRC_OFFSET] ^= 0xFF


@contextlib.contextmanager
def mangled_batches(*, body: Mangle | None = None, built: Mangle | None = None) -> Iterator[None]:
    """kafka-python's producer sending record batches it changed, meanwhile.

    Args:
        body: Applied to a batch's bytes before its CRC is computed (a structure the CRC
            vouches for).
        built: Applied to the finished batch (e.g. a CRC that does not match).

    Every batch built meanwhile is changed: send one record per batch (``linger_ms=0`` and
    ``.get()`` before the next send) so that the change hits the record meant.
    """
    upstream = DefaultRecordBatchBuilder.build

    def build(self: DefaultRecordBatchBuilder) -> bytearray:
        if body is not None:
            body(self._buffer)
        buffer: bytearray = upstream(self)
        if built is not None:
            built(buffer)
        return buffer

    DefaultRecordBatchBuilder.build = build
    try:
        yield
    finally:
        DefaultRecordBatchBuilder.build = upstream
