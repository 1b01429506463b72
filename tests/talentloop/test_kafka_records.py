"""The kafka-python record-parsing patches (issue 13): a header key that is not UTF-8, and any
other record kafka-python cannot read (a CRC that does not match, an invalid structure), no
longer stall the consumer; the record comes through flagged or as a stand-in, and the bridge
dead-letters it."""

from __future__ import annotations

import hashlib
import inspect
import struct
from datetime import UTC, datetime
from typing import Any

import kafka
import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from support.kafka_wire import RawKey, negative_header_count, wrong_crc

from talentloop.service import kafka_records
from talentloop.service.bridge.deadletters import dead_letter_headers
from talentloop.service.bridge.records import decode_record
from talentloop.service.cloudevents import InvalidEvent
from talentloop.service.kafka_records import (
    UPSTREAM_READ_MSG,
    UPSTREAM_UNPACK_RECORDS,
    InvalidHeaderKey,
    UnreadableRecord,
    invalid_header_keys,
)

BAD = b"bad-\xff\xfe"


def batch(
    *records: tuple[bytes | None, bytes | None, list[tuple[Any, bytes | None]]],
    base_offset: int = 0,
    mangle: Any = None,
) -> bytes:
    """A v2 record batch, built by kafka-python's own builder, uncompressed.

    Args:
        records: Key, value and headers of each record.
        base_offset: The batch's first offset (a broker sets it; outside the CRC).
        mangle: Changes the batch's records before the CRC is computed.
    """
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
    if mangle is not None:
        mangle(builder._buffer)
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base_offset)
    return bytes(data)


def parse(data: bytes) -> list[Any]:
    return list(DefaultRecordBatch(data))


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-python's own parsing and fetcher, for the rest of one test."""
    monkeypatch.setattr(DefaultRecordBatch, "_read_msg", UPSTREAM_READ_MSG)
    monkeypatch.setattr(Fetcher.PartitionRecords, "_unpack_records", UPSTREAM_UNPACK_RECORDS)


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


def test_the_fetcher_patch_wraps_the_code_it_was_written_against() -> None:
    # Fails on a kafka-python upgrade: check that upstream's _unpack_records still reads
    # batches through records.next_batch(), moves next_fetch_offset past each record before
    # yielding it and drains at the end (what the wrapper relies on), or whether it survives
    # corrupt records by itself now; then update the constant.
    source = inspect.getsource(UPSTREAM_UNPACK_RECORDS)
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == kafka_records.UPSTREAM_UNPACK_RECORDS_SHA256
    assert "batch = records.next_batch()" in source
    assert "self.next_fetch_offset = record.offset + 1" in source
    assert Fetcher.PartitionRecords._unpack_records is not UPSTREAM_UNPACK_RECORDS
    assert Fetcher.PartitionRecords._unpack_records._talentloop_upstream is (
        UPSTREAM_UNPACK_RECORDS
    )


def test_another_kafka_python_is_left_unpatched_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, upstream: None
) -> None:
    monkeypatch.setattr(kafka, "__version__", "3.1.0")
    assert not kafka_records.apply()
    assert DefaultRecordBatch._read_msg is UPSTREAM_READ_MSG
    assert Fetcher.PartitionRecords._unpack_records is UPSTREAM_UNPACK_RECORDS
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


def partition_records(data: bytes, fetch_offset: int = 0) -> Fetcher.PartitionRecords:
    """What the consumer's fetcher makes of a fetch response holding `data`."""
    return Fetcher.PartitionRecords(fetch_offset, TopicPartition("t", 0), MemoryRecords(data))


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


# -- records kafka-python cannot read: a stand-in, and the fetcher moves on ---------------------


def crc_broken(data: bytes) -> bytes:
    broken = bytearray(data)
    wrong_crc(broken)
    return bytes(broken)


def offsets(records: list[Any]) -> list[tuple[int, str]]:
    return [(r.offset, type(r).__name__) for r in records]


def test_upstream_fetcher_stalls_on_a_batch_whose_crc_does_not_match(upstream: None) -> None:
    part = partition_records(crc_broken(batch((b"k", b"corrupt", []))))
    with pytest.raises(CorruptRecordError, match="failed crc check"):
        part.take(10)
    assert part.take(10) == [] and bool(part) and part.next_fetch_offset == 0


def test_a_batch_whose_crc_does_not_match_becomes_one_stand_in_per_offset() -> None:
    # The header of such a batch cannot be believed: one offset at a time, the rest of the
    # response is fetched again from the next offset (a later batch is never skipped over).
    bad = crc_broken(batch((b"k", b"c1", []), (b"k", b"c2", []), base_offset=1))
    data = batch((b"k", b"before", [])) + bad + batch((b"k", b"after", []), base_offset=3)
    part = partition_records(data)
    records = part.take(10)
    assert offsets(records) == [(0, "ConsumerRecord"), (1, "UnreadableRecord")]
    stand_in = records[1]
    assert isinstance(stand_in, UnreadableRecord)
    assert (stand_in.first_offset, stand_in.key, stand_in.headers) == (1, None, [])
    assert stand_in.value == bad  # the batch's bytes as fetched
    assert stand_in.error.startswith("[Error 2] CorruptRecordError: Record batch for partition")
    assert part.next_fetch_offset == 2 and not part  # drained: fetched again from offset 2
    # The next fetch, from offset 2, gets the same batch first: its second offset's stand-in.
    again = partition_records(bad + batch((b"k", b"after", []), base_offset=3), fetch_offset=2)
    assert offsets(again.take(10)) == [(2, "UnreadableRecord")]
    assert again.next_fetch_offset == 3
    after = partition_records(batch((b"k", b"after", []), base_offset=3), fetch_offset=3)
    assert [r.value for r in after.take(10)] == [b"after"]


def test_a_record_of_an_invalid_structure_ends_its_batch_and_the_next_batch_is_read() -> None:
    # The CRC vouches for the header: the stand-in covers the rest of the batch at once.
    bad = batch((b"k", b"ok", [("h", b"1")]), (b"k", b"corrupt", []), mangle=negative_header_count)
    data = bad + batch((b"k", b"after", []), base_offset=2)
    part = partition_records(data)
    records = part.take(10)
    assert offsets(records) == [
        (0, "ConsumerRecord"),
        (1, "UnreadableRecord"),
        (2, "ConsumerRecord"),
    ]
    stand_in = records[1]
    assert stand_in.first_offset == 1 and stand_in.value == bad
    assert stand_in.timestamp == 1_700_000_000_000  # the batch's, its header being sound
    assert "Found invalid number of record headers -1" in stand_in.error
    assert part.next_fetch_offset == 3


def test_a_stand_in_covers_the_records_after_the_unreadable_one_in_its_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Upstream's _read_msg, which raises on a header key that is not UTF-8: where the records
    # behind it start is not known, so one stand-in covers them up to the batch's last offset.
    monkeypatch.setattr(DefaultRecordBatch, "_read_msg", UPSTREAM_READ_MSG)
    data = batch((b"k", b"ok", []), (b"k", b"bad", [(RawKey(BAD), b"x")]), (b"k", b"lost", []))
    records = partition_records(data + batch((b"k", b"after", []), base_offset=3)).take(10)
    assert offsets(records) == [
        (0, "ConsumerRecord"),
        (2, "UnreadableRecord"),
        (3, "ConsumerRecord"),
    ]
    assert records[1].first_offset == 1


def test_bytes_after_a_batchs_last_record_lose_nothing() -> None:
    def trailing(body: bytearray) -> None:
        body.extend(b"\x00\x00")

    data = batch((b"k", b"a", []), (b"k", b"b", []), mangle=trailing)
    part = partition_records(data + batch((b"k", b"after", []), base_offset=2))
    assert [r.value for r in part.take(10)] == [b"a", b"b", b"after"]
    assert part.next_fetch_offset == 3


def test_a_response_that_cannot_be_cut_into_batches_is_fetched_again_past_one_offset() -> None:
    good = batch((b"k", b"ok", []))
    # A batch whose length says 4 bytes: shorter than any batch.
    short = struct.pack(">qi", 1, 4) + b"\x00" * 4
    part = partition_records(good + short)
    records = part.take(10)
    assert offsets(records) == [(0, "ConsumerRecord"), (1, "UnreadableRecord")]
    assert records[1].value == short and "minimum record overhead" in records[1].error
    assert part.next_fetch_offset == 2 and not part


def test_the_bridge_dead_letters_a_stand_in_as_corrupt_with_the_offsets() -> None:
    bad = crc_broken(batch((b"E00001", b"{}", []), base_offset=7))
    (stand_in,) = partition_records(bad, fetch_offset=7).take(10)
    with pytest.raises(InvalidEvent) as err:
        decode_record(stand_in, max_bytes=262_144)
    assert err.value.reason == "corrupt-record"
    assert err.value.detail.startswith(
        "offset 7 unreadable (the value is the record batch's bytes): [Error 2] "
        "CorruptRecordError: Record batch for partition"
    )
    headers = dead_letter_headers(stand_in, err.value, datetime.now(UTC))
    assert ("dlq.offset", b"7") in headers
