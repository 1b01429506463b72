"""The kafka-python record-parsing patch (issue 13): a header key that is not UTF-8 no longer
stalls the consumer; the record comes through flagged, and the bridge dead-letters it."""

from __future__ import annotations

import hashlib
import inspect
from datetime import UTC, datetime
from typing import Any

import kafka
import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from support.kafka_wire import RawKey

from talentloop.service import kafka_records
from talentloop.service.bridge.deadletters import dead_letter_headers
from talentloop.service.bridge.records import decode_record
from talentloop.service.cloudevents import InvalidEvent
from talentloop.service.kafka_records import (
    UPSTREAM_READ_MSG,
    InvalidHeaderKey,
    invalid_header_keys,
)

BAD = b"bad-\xff\xfe"


def batch(*records: tuple[bytes | None, bytes | None, list[tuple[Any, bytes | None]]]) -> bytes:
    """A v2 record batch, built by kafka-python's own builder, uncompressed."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for offset, (key, value, headers) in enumerate(records):
        builder.append(
            offset, timestamp=1_700_000_000_000 + offset, key=key, value=value, headers=headers
        )
    return bytes(builder.build())


def parse(data: bytes) -> list[Any]:
    return list(DefaultRecordBatch(data))


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-python's own parsing, for the rest of one test."""
    monkeypatch.setattr(DefaultRecordBatch, "_read_msg", UPSTREAM_READ_MSG)


def test_the_patch_is_for_this_kafka_python_and_the_code_it_replaced() -> None:
    # Fails on a kafka-python upgrade: look at upstream's _read_msg again (drop the patch if
    # it decodes header keys leniently now, or copy the new code) and update both constants.
    assert kafka.__version__ == kafka_records.KAFKA_PYTHON_VERSION == "3.0.12"
    source = inspect.getsource(UPSTREAM_READ_MSG)
    assert hashlib.sha256(source.encode()).hexdigest() == kafka_records.UPSTREAM_READ_MSG_SHA256
    assert 'h_key = buffer[pos: pos + h_key_len].decode("utf-8")' in source
    assert kafka_records.upstream_matches() == []
    assert kafka_records.is_applied()
    assert DefaultRecordBatch._read_msg is not UPSTREAM_READ_MSG
    assert kafka_records.apply()  # a second apply is a no-op
    assert DefaultRecordBatch._read_msg._talentloop_upstream is UPSTREAM_READ_MSG


def test_another_kafka_python_is_left_unpatched_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, upstream: None
) -> None:
    monkeypatch.setattr(kafka, "__version__", "3.1.0")
    assert not kafka_records.apply()
    assert DefaultRecordBatch._read_msg is UPSTREAM_READ_MSG
    assert "kafka-python is 3.1.0, the patch is for 3.0.12" in caplog.text


def test_upstream_raises_on_a_header_key_that_is_not_utf8(upstream: None) -> None:
    data = batch((b"k", b"v", [(RawKey(BAD), b"x")]))
    assert BAD in data  # the builder wrote the raw bytes
    with pytest.raises(CorruptRecordError, match="UnicodeDecodeError"):
        parse(data)


def test_a_header_key_that_is_not_utf8_becomes_a_marker_and_the_batch_reads_on() -> None:
    data = batch(
        (b"k", b"before", []),
        (b"k", b"corrupt", [("ok", b"1"), (RawKey(BAD), b"x"), ("none", None)]),
        (b"k", b"after", [("ok", b"2")]),
    )
    before, corrupt, after = parse(data)
    assert (before.value, after.value, after.headers) == (b"before", b"after", [("ok", b"2")])
    assert corrupt.key == b"k" and corrupt.value == b"corrupt" and corrupt.offset == 1
    assert corrupt.headers == [
        ("ok", b"1"),
        ("x-invalid-utf8-key-6261642dfffe", b"x"),
        ("none", None),
    ]
    marker = corrupt.headers[1][0]
    assert isinstance(marker, InvalidHeaderKey) and marker.raw == BAD
    assert marker.encode("utf-8") == b"x-invalid-utf8-key-6261642dfffe"
    assert invalid_header_keys(corrupt.headers) == [BAD]
    assert invalid_header_keys(before.headers) == invalid_header_keys(None) == []


def test_valid_batches_parse_as_upstream_parses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    data = batch(
        (None, None, []),
        (b"k", b"", [("ce_id", b"1"), ("h\u00e9", None), ("", b"")]),
        (b"\xff", b"\x00" * 300, [("k" * 200, b"v" * 200)] * 3),
    )

    def fields(records: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (r.offset, r.timestamp, r.timestamp_type, r.key, r.value, r.headers, r.size_in_bytes)
            for r in records
        ]

    records = parse(data)
    assert all(type(k) is str for r in records for k, _ in r.headers)
    monkeypatch.setattr(DefaultRecordBatch, "_read_msg", UPSTREAM_READ_MSG)
    assert fields(records) == fields(parse(data))


def partition_records(data: bytes) -> Fetcher.PartitionRecords:
    """What the consumer's fetcher makes of a fetch response holding `data`."""
    return Fetcher.PartitionRecords(0, TopicPartition("t", 0), MemoryRecords(data))


def test_the_fetcher_hands_out_the_record_and_moves_past_it() -> None:
    part = partition_records(batch((b"k", b"corrupt", [(RawKey(BAD), b"x")]), (b"k", b"ok", [])))
    records = part.take(10)
    assert [r.value for r in records] == [b"corrupt", b"ok"]
    assert part.next_fetch_offset == 2
    assert invalid_header_keys(records[0].headers) == [BAD]


def test_upstream_fetcher_raises_once_then_stalls(upstream: None) -> None:
    # Why `poll` never returned: after the error the partition's records are still "pending"
    # (truthy) but yield nothing, and the position stays at the corrupt record, so
    # Fetcher.fetched_records loops on them forever.
    part = partition_records(batch((b"k", b"corrupt", [(RawKey(BAD), b"x")]), (b"k", b"ok", [])))
    with pytest.raises(CorruptRecordError):
        part.take(10)
    assert part.take(10) == [] and bool(part) and part.next_fetch_offset == 0


def consumer_record(headers: list[tuple[str, bytes | None]]) -> ConsumerRecord:
    return ConsumerRecord("hr.reviews", 0, -1, 7, 0, 0, b"E00001", b"{}", headers, None, 6, 2, 0)


def test_the_bridge_dead_letters_it_as_corrupt_with_headers_a_producer_can_send() -> None:
    (corrupt,) = parse(batch((b"E00001", b"{}", [("ok", b"1"), (RawKey(BAD), b"x")])))
    record = consumer_record(corrupt.headers)
    with pytest.raises(InvalidEvent) as err:
        decode_record(record, max_bytes=262_144)
    assert err.value.reason == "corrupt-record"
    assert err.value.detail == "header key not UTF-8 (hex): 6261642dfffe"

    headers = dead_letter_headers(record, err.value, datetime.now(UTC))
    # What KafkaProducer.send checks, then what its record builder does with each key.
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers)
    assert [k for k, _ in headers][:2] == ["ok", "x-invalid-utf8-key-6261642dfffe"]
    (published,) = parse(batch((b"E00001", b"{}", headers)))
    assert published.headers[:2] == [("ok", b"1"), ("x-invalid-utf8-key-6261642dfffe", b"x")]
    assert invalid_header_keys(published.headers) == []  # read back, it is no longer flagged


def test_the_flag_cannot_come_off_the_wire() -> None:
    # A producer may send the marker's text as a key: it is valid UTF-8, so not flagged.
    (record,) = parse(batch((b"k", b"v", [("x-invalid-utf8-key-6261642dfffe", b"x")])))
    assert invalid_header_keys(record.headers) == []
    with pytest.raises(InvalidEvent) as err:
        decode_record(consumer_record(record.headers), max_bytes=262_144)
    assert err.value.reason != "corrupt-record"


def test_many_bad_keys_make_a_bounded_detail() -> None:
    headers: list[tuple[str, bytes | None]] = [
        (InvalidHeaderKey(bytes([0xFF, i])), b"") for i in range(200)
    ]
    with pytest.raises(InvalidEvent) as err:
        decode_record(consumer_record(headers), max_bytes=262_144)
    assert err.value.reason == "corrupt-record"
    assert len(err.value.detail) < 600 and err.value.detail.endswith("...")


def test_an_install_without_sources_goes_by_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(_: object) -> str:
        raise OSError("could not get source code")

    monkeypatch.setattr(inspect, "getsource", unreadable)
    assert kafka_records.upstream_matches() == []
    monkeypatch.setattr(kafka, "__version__", "3.1.0")
    assert kafka_records.upstream_matches() == ["kafka-python is 3.1.0, the patch is for 3.0.12"]
