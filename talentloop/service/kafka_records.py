"""kafka-python's record parsing, patched to survive a header key that is not UTF-8 (issue 13).

kafka-python 3.0.12 decodes every header key of a v2 record with a strict
``.decode("utf-8")`` in ``kafka.record.default_records.DefaultRecordBatch._read_msg``. A key
that is not UTF-8 raises ``UnicodeDecodeError``, which ``DefaultRecordBatch.__next__`` turns
into ``CorruptRecordError``. ``consumer.poll`` raises that once; the fetcher's
``PartitionRecords`` is then left with a finished generator but is never drained, so the next
``poll`` loops forever in ``Fetcher.fetched_records`` taking zero records from it: no
partition is consumed, the consumer thread never returns (SIGTERM cannot stop the bridge),
and a restart stops at the same offset again.

Importing this module (``talentloop.service.kafka`` does) replaces ``_read_msg`` with a copy
whose only change is that a header key which is not UTF-8 becomes an `InvalidHeaderKey`: a
``str`` ``x-invalid-utf8-key-<hex of the bytes>`` that keeps the original bytes. That marker is
ASCII, so the fetcher (which measures ``key.encode("utf-8")``) and a producer that publishes
the headers again (the DLQ) both handle it; and it is also the flag: no header key that came
off the wire as valid UTF-8 is an `InvalidHeaderKey`, so `invalid_header_keys` finds exactly
the corrupt ones, and the bridge dead-letters such a record as ``corrupt-record``.

Any other record kafka-python cannot read stalls the fetcher the same way: a record batch
whose CRC does not match (the fetcher checks it: ``check_crcs``, on by default), a record of an
invalid structure (truncated, a negative header count, bytes left over), a batch too short to
be one, a compression codec that is missing or data that does not decompress. Each raises out
of the fetcher's record generator (``Fetcher.PartitionRecords._unpack_records``), which is then
finished and never drained. Importing this module also wraps that generator (`_unpack_records`;
the upstream generator does all the reading, unchanged): when it raises, the records it could
not hand out become one `UnreadableRecord`, a stand-in at the last offset they cover, carrying
the batch's bytes and the error; the fetch position moves past them, and reading goes on with
the next batch. The bridge dead-letters the stand-in as ``corrupt-record``. Which offsets it
covers: from the first one not handed out to the batch's last, when the batch's header can be
trusted (a v2 batch whose CRC matches: the structure of a record failed); otherwise that one
offset only, so no record a damaged header hides is skipped (the next fetch starts at the next
offset, and a corrupt batch of several records becomes one dead letter per offset).

The patches are of kafka-python 3.0.12 only: they are applied only when ``kafka.__version__``
and the upstream functions' sources are the ones they were written against
(`KAFKA_PYTHON_VERSION`, `UPSTREAM_READ_MSG_SHA256`, `UPSTREAM_UNPACK_RECORDS_SHA256`);
otherwise upstream is left as it is, a warning is logged, and
``tests/talentloop/test_kafka_records.py`` fails, so an upgrade has to look at this again
(drop a patch if upstream fixed it, or adapt it to the new code).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import kafka
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import ControlRecord, DefaultRecord, DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import decode_varint as _decode_varint

log = logging.getLogger("talentloop.service.kafka")

KAFKA_PYTHON_VERSION = "3.0.12"
"""The kafka-python release the patched function was copied from."""

UPSTREAM_READ_MSG_SHA256 = "b203a6ee5e4f423b6e746cbb4310b123b980a27b6e84d0e1314289a400e2d89b"
"""sha256 of ``inspect.getsource(DefaultRecordBatch._read_msg)`` in kafka-python 3.0.12."""

INVALID_KEY_PREFIX = "x-invalid-utf8-key-"
"""What an `InvalidHeaderKey` starts with; the hex of the original bytes follows."""

_UPSTREAM = "_talentloop_upstream"
"""The attribute of the patched function that holds the function it replaced."""

UPSTREAM_READ_MSG: Callable[..., Any] = getattr(
    DefaultRecordBatch._read_msg, _UPSTREAM, DefaultRecordBatch._read_msg
)
"""kafka-python's own ``DefaultRecordBatch._read_msg``, as it was before the patch."""

UPSTREAM_UNPACK_RECORDS_SHA256 = "d91ccce28d83483f1b029fb2d5198d63fb1ed0f0fcea0c6f1edc32f548415544"
"""sha256 of ``inspect.getsource(Fetcher.PartitionRecords._unpack_records)`` in 3.0.12."""

UPSTREAM_UNPACK_RECORDS: Callable[..., Any] = getattr(
    Fetcher.PartitionRecords._unpack_records,
    _UPSTREAM,
    Fetcher.PartitionRecords._unpack_records,
)
"""kafka-python's own ``Fetcher.PartitionRecords._unpack_records``, before the wrapping."""

MAX_ERROR_CHARS = 300
"""How much of kafka-python's error an `UnreadableRecord` keeps."""


class InvalidHeaderKey(str):
    """A header key that was not UTF-8 on the wire: ``x-invalid-utf8-key-<hex>``.

    It is an ordinary ASCII ``str`` to everything else (kafka-python's fetcher and producer,
    the CloudEvents decoder); `raw` keeps the bytes the record carried.

    Attributes:
        raw: The header key's bytes as they were in the record.

    """

    raw: bytes

    def __new__(cls, raw: bytes) -> InvalidHeaderKey:
        """The marker for the header key ``raw``."""
        key = super().__new__(cls, INVALID_KEY_PREFIX + raw.hex())
        key.raw = raw
        return key


def invalid_header_keys(headers: Iterable[tuple[str, Any]] | None) -> list[bytes]:
    """The original bytes of every header key of ``headers`` that was not valid UTF-8.

    Args:
        headers: A record's headers as kafka-python returns them (``None`` for none).

    Returns:
        The raw keys, in header order; empty for a record whose keys are all UTF-8.

    """
    return [k.raw for k, _ in headers or () if isinstance(k, InvalidHeaderKey)]


# Copied from kafka-python 3.0.12, kafka/record/default_records.py,
# DefaultRecordBatch._read_msg (upstream sha256 in UPSTREAM_READ_MSG_SHA256). The only change
# is the header key: upstream's
#     h_key = buffer[pos: pos + h_key_len].decode("utf-8")
# is a try/except here that turns a key which is not UTF-8 into an InvalidHeaderKey instead of
# raising. Everything else is upstream's, only typed and formatted.
def _read_msg(
    self: DefaultRecordBatch, decode_varint: Callable[..., tuple[int, int]] = _decode_varint
) -> DefaultRecord:
    # Record =>
    #   Length => Varint
    #   Attributes => Int8
    #   TimestampDelta => Varlong
    #   OffsetDelta => Varint
    #   Key => Bytes
    #   Value => Bytes
    #   Headers => [HeaderKey HeaderValue]
    #     HeaderKey => String
    #     HeaderValue => Bytes

    buffer = self._buffer
    pos = self._pos
    length, pos = decode_varint(buffer, pos)
    start_pos = pos
    _, pos = decode_varint(buffer, pos)  # attrs can be skipped for now

    ts_delta, pos = decode_varint(buffer, pos)
    if self.timestamp_type == self.LOG_APPEND_TIME:
        timestamp = self.max_timestamp
    else:
        timestamp = self.first_timestamp + ts_delta

    offset_delta, pos = decode_varint(buffer, pos)
    offset = self.base_offset + offset_delta

    key_len, pos = decode_varint(buffer, pos)
    key: bytes | None
    if key_len >= 0:
        key = bytes(buffer[pos : pos + key_len])
        pos += key_len
    else:
        key = None

    value_len, pos = decode_varint(buffer, pos)
    value: bytes | None
    if value_len >= 0:
        value = bytes(buffer[pos : pos + value_len])
        pos += value_len
    else:
        value = None

    header_count, pos = decode_varint(buffer, pos)
    if header_count < 0:
        raise CorruptRecordError(f"Found invalid number of record headers {header_count}")
    headers: list[tuple[str, bytes | None]] = []
    while header_count:
        # Header key is of type String, that can't be None
        h_key_len, pos = decode_varint(buffer, pos)
        if h_key_len < 0:
            raise CorruptRecordError(f"Invalid negative header key size {h_key_len}")
        # -- talentloop: the one change (upstream decodes strictly and raises) --
        raw_key = buffer[pos : pos + h_key_len]
        h_key: str
        try:
            h_key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            h_key = InvalidHeaderKey(bytes(raw_key))
        # -- end of the change --
        pos += h_key_len

        # Value is of type NULLABLE_BYTES, so it can be None
        h_value_len, pos = decode_varint(buffer, pos)
        h_value: bytes | None
        if h_value_len >= 0:
            h_value = bytes(buffer[pos : pos + h_value_len])
            pos += h_value_len
        else:
            h_value = None

        headers.append((h_key, h_value))
        header_count -= 1

    # validate whether we have read all header bytes in the current record
    if pos - start_pos != length:
        raise CorruptRecordError(
            f"Invalid record size: expected to read {length} bytes in record "
            f"payload, but instead read {pos - start_pos}"
        )
    self._pos = pos

    if self.is_control_batch:
        return ControlRecord(length, offset, timestamp, self.timestamp_type, key, value, headers)
    return DefaultRecord(length, offset, timestamp, self.timestamp_type, key, value, headers)


class UnreadableRecord(ConsumerRecord):  # type: ignore[misc]
    """Stands for records the fetcher could not read; made only by `_unpack_records`.

    A ``ConsumerRecord`` (the bridge handles it as one) at the last offset it covers, without
    key or headers; its value is the record batch's bytes as fetched (what can be read).

    Attributes:
        first_offset: The first offset it covers (``offset`` is the last).
        error: What kafka-python raised: the exception's type and message (offsets and sizes,
            never a record's content), at most `MAX_ERROR_CHARS` characters.

    """

    first_offset: int
    error: str

    @classmethod
    def of(
        cls,
        part: Fetcher.PartitionRecords,
        offsets: tuple[int, int],
        raw: bytes,
        error: BaseException,
        timestamp: tuple[int, int] = (-1, 0),
    ) -> UnreadableRecord:
        """The stand-in for ``offsets`` (first, last) of ``part``'s partition.

        Args:
            part: The fetcher's records of one partition.
            offsets: The first and the last offset it covers.
            raw: The record batch's bytes.
            error: What reading them raised.
            timestamp: The batch's first timestamp and its type, when its header is trusted.

        """
        tp = part.topic_partition
        first, last = offsets
        record = cls(
            tp.topic, tp.partition, part.leader_epoch, last, timestamp[0], timestamp[1],
            None, raw, [], None, -1, len(raw), -1,
        )  # fmt: skip
        record.first_offset = first
        text = str(error)
        name = type(error).__name__
        # A KafkaError's text names its type already ("[Error 2] CorruptRecordError: ...").
        record.error = (text if name in text else f"{name}: {text}")[:MAX_ERROR_CHARS]
        return record


class _Batches:
    """A fetch response's batches as the fetcher reads them, remembering the last one.

    ``batch`` is the batch handed out last and ``raw`` its bytes (``batch`` is None when the
    response could not be cut into a batch there: ``next_batch`` raised).
    """

    def __init__(self, records: MemoryRecords) -> None:
        self._records = records
        self.batch: Any = None
        self.raw: memoryview | None = None

    def next_batch(self) -> Any:
        self.batch, self.raw = None, self._records._next_slice
        self.batch = self._records.next_batch()
        return self.batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)


def _header_trusted(raw: memoryview | None) -> bool:
    """Whether ``raw`` is a v2 record batch whose CRC matches (its header can be believed)."""
    if raw is None or len(raw) < DefaultRecordBatch.HEADER_STRUCT.size:
        return False
    try:
        batch = DefaultRecordBatch(bytes(raw))
        return bool(batch.magic == 2 and batch.validate_crc())
    except Exception:
        return False


def _stand_in(
    part: Fetcher.PartitionRecords, batches: _Batches, error: Exception
) -> tuple[UnreadableRecord | None, bool]:
    """The `UnreadableRecord` for what ``part`` could not hand out; whether to read on.

    With a trusted batch header (a v2 batch whose CRC matches), the stand-in covers from the
    first offset not handed out (``next_fetch_offset``) to the batch's last offset, and the
    next batch of the response is read on; None when every record was handed out already (only
    bytes after the last one are wrong). Otherwise where the batch ends is not known: the
    stand-in covers that first offset alone, and the rest of the response is dropped, to be
    fetched again from the next offset (never skipping a record).
    """
    batch, raw = batches.batch, batches.raw
    first = part.next_fetch_offset
    if batch is not None:
        first = max(first, batch.base_offset)
    raw_bytes = bytes(raw) if raw is not None else b""
    if batch is None or not _header_trusted(raw):
        return UnreadableRecord.of(part, (first, first), raw_bytes, error), False
    if first > batch.last_offset:
        log.warning(
            "%s: ignoring a record batch's trailing bytes after offset %d (%s)",
            part.topic_partition,
            batch.last_offset,
            type(error).__name__,
        )
        return None, True
    timestamp = (batch.first_timestamp, batch.timestamp_type)
    last = batch.last_offset
    return UnreadableRecord.of(part, (first, last), raw_bytes, error, timestamp), True


# Wraps kafka-python 3.0.12's Fetcher.PartitionRecords._unpack_records (upstream sha256 in
# UPSTREAM_UNPACK_RECORDS_SHA256), which reads every record; it relies on upstream (1) reading
# batches only through ``records.next_batch()``, (2) setting ``self.next_fetch_offset`` to one
# past each record before yielding it, and (3) draining ``self`` when the batches run out.
def _unpack_records(
    self: Fetcher.PartitionRecords,
    tp: Any,
    records: MemoryRecords,
    key_deserializer: Any,
    value_deserializer: Any,
) -> Iterator[ConsumerRecord]:
    batches = _Batches(records)
    while True:
        try:
            yield from UPSTREAM_UNPACK_RECORDS(
                self, tp, batches, key_deserializer, value_deserializer
            )
            return
        except Exception as error:
            stand_in, read_on = _stand_in(self, batches, error)
            kind = type(error).__name__
        if stand_in is not None:
            log.error(
                "%s: offsets %d..%d cannot be read (%s); handing out a stand-in",
                self.topic_partition,
                stand_in.first_offset,
                stand_in.offset,
                kind,
            )
            self.next_fetch_offset = stand_in.offset + 1
            yield stand_in
        if not read_on:
            # The rest of this response is fetched again, from the next offset on.
            self.drain()
            return


def _source_sha256(fn: Callable[..., Any]) -> str | None:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):  # installed without its .py files
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def upstream_matches() -> list[str]:
    """What differs from the kafka-python the patch was copied from; empty when nothing does.

    Returns:
        One line per difference (the version, the upstream function's source). The source is
        compared only when it can be read (an install without ``.py`` files has the version
        alone to go by).

    """
    problems = []
    version = getattr(kafka, "__version__", "?")
    if version != KAFKA_PYTHON_VERSION:
        problems.append(f"kafka-python is {version}, the patch is for {KAFKA_PYTHON_VERSION}")
    digest = _source_sha256(UPSTREAM_READ_MSG)
    if digest is not None and digest != UPSTREAM_READ_MSG_SHA256:
        problems.append("DefaultRecordBatch._read_msg is not the code the patch replaces")
    digest = _source_sha256(UPSTREAM_UNPACK_RECORDS)
    if digest is not None and digest != UPSTREAM_UNPACK_RECORDS_SHA256:
        problems.append("Fetcher.PartitionRecords._unpack_records is not the code the patch wraps")
    return problems


def is_applied() -> bool:
    """Whether both patches are in place (``_read_msg`` and ``_unpack_records``)."""
    return hasattr(DefaultRecordBatch._read_msg, _UPSTREAM) and hasattr(
        Fetcher.PartitionRecords._unpack_records, _UPSTREAM
    )


def apply() -> bool:
    """Put the patched ``_read_msg`` and the wrapped ``_unpack_records`` in place, once.

    A no-op when they already are.

    Returns:
        Whether the patches are in place. False when kafka-python is not the release they
        were written against (a warning says what differs; upstream is left untouched).

    """
    if is_applied():
        return True
    problems = upstream_matches()
    if problems:
        log.warning(
            "not patching kafka-python's record parsing (a record it cannot read, such as a "
            "header key that is not UTF-8 or a batch whose CRC does not match, will stall the "
            "consumer): %s",
            "; ".join(problems),
        )
        return False
    setattr(_read_msg, _UPSTREAM, UPSTREAM_READ_MSG)
    DefaultRecordBatch._read_msg = _read_msg
    setattr(_unpack_records, _UPSTREAM, UPSTREAM_UNPACK_RECORDS)
    Fetcher.PartitionRecords._unpack_records = _unpack_records
    return True


apply()
