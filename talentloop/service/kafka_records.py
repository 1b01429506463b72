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

The copy is of kafka-python 3.0.12 only: the patch is applied only when ``kafka.__version__``
and the upstream function's source are the ones it was copied from
(`KAFKA_PYTHON_VERSION`, `UPSTREAM_READ_MSG_SHA256`); otherwise upstream is left as it is, a
warning is logged, and ``tests/talentloop/test_kafka_records.py`` fails, so an upgrade has to
look at this again (drop the patch if upstream fixed it, or copy the new code).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

import kafka
from kafka.errors import CorruptRecordError
from kafka.record.default_records import ControlRecord, DefaultRecord, DefaultRecordBatch
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
    return problems


def is_applied() -> bool:
    """Whether ``DefaultRecordBatch._read_msg`` is the patched copy."""
    return hasattr(DefaultRecordBatch._read_msg, _UPSTREAM)


def apply() -> bool:
    """Put the patched ``_read_msg`` in place, once; a no-op when it already is.

    Returns:
        Whether the patch is in place. False when kafka-python is not the release it was
        copied from (a warning says what differs; upstream is left untouched).

    """
    if is_applied():
        return True
    problems = upstream_matches()
    if problems:
        log.warning(
            "not patching kafka-python's record parsing (header keys that are not UTF-8 will "
            "stall the consumer): %s",
            "; ".join(problems),
        )
        return False
    setattr(_read_msg, _UPSTREAM, UPSTREAM_READ_MSG)
    DefaultRecordBatch._read_msg = _read_msg
    return True


apply()
