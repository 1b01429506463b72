"""The pure parts of dead-lettering: what a dead letter holds in each of its forms, which
publish errors are retried, and which Temporal refusals are for good (issue 13)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    TopicAuthorizationFailedError,
)
from kafka.record.default_records import DefaultRecordBatchBuilder
from temporalio.service import RPCStatusCode

from talentloop.service.bridge.deadletters import (
    MAX_KEPT_KEY,
    MAX_WHOLE_VALUE,
    PRODUCER_MAX_REQUEST,
    TRUNCATED_VALUE,
    Letter,
    bare_letter,
    dead_letter_headers,
    describe,
    letter_forms,
    sanitized_headers,
    should_retry,
)
from talentloop.service.bridge.delivery import PERMANENT, TRANSIENT, refused_for_good
from talentloop.service.cloudevents import InvalidEvent

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
WHY = InvalidEvent("not-json", "Expecting value: line 1 column 1 (char 0)")


def record(
    key: bytes | None = b"E00001",
    value: bytes | None = b"not json",
    headers: list[tuple[str, bytes | None]] | None = None,
) -> ConsumerRecord:
    return ConsumerRecord(
        topic="hr.reviews",
        partition=2,
        leader_epoch=-1,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        headers=headers or [],
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=-1,
        serialized_header_size=-1,
    )


def dlq(letter: Letter) -> dict[str, bytes]:
    return {k: v for k, v in letter.headers if k.startswith("dlq.")}


def own(letter: Letter) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in letter.headers if not k.startswith("dlq.")]


def sendable(letter: Letter) -> bool:
    """What kafka-python's `KafkaProducer.send` checks before it builds the record."""
    return (
        (letter.key is not None or letter.value is not None)
        and all(isinstance(k, str) and isinstance(v, bytes) for k, v in letter.headers)
        and all(x is None or isinstance(x, bytes) for x in (letter.key, letter.value))
    )


def size(letter: Letter) -> int:
    """The record's size as kafka-python's producer measures it against max_request_size."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        letter.key, letter.value, letter.headers
    )
    return size


def test_null_header_values_become_empty_and_are_named() -> None:
    headers, nulled = sanitized_headers([("a", b"1"), ("trace", None), ("b", bytearray(b"2"))])
    assert headers == [("a", b"1"), ("trace", b""), ("b", b"2")]
    assert nulled == ["trace"]
    assert sanitized_headers(None) == ([], [])


def test_the_whole_letter_is_the_record_with_its_reason_and_source() -> None:
    letter, *rest = letter_forms(record(headers=[("origin", b"hr")]), WHY, NOW)
    assert (letter.key, letter.value, letter.truncated) == (b"E00001", b"not json", False)
    assert own(letter) == [("origin", b"hr")]
    assert dlq(letter) == {
        "dlq.reason": b"not-json",
        "dlq.detail": b"Expecting value: line 1 column 1 (char 0)",
        "dlq.topic": b"hr.reviews",
        "dlq.partition": b"2",
        "dlq.offset": b"41",
        "dlq.time": NOW.isoformat().encode(),
    }
    assert letter.headers == dead_letter_headers(record(headers=[("origin", b"hr")]), WHY, NOW)
    # Nothing to cut: the next form is the dlq.* headers alone.
    (bare,) = rest
    assert (bare.key, bare.value, own(bare)) == (b"E00001", b"", [])
    assert dlq(bare)["dlq.reason"] == b"not-json" and dlq(bare)["dlq.headers-dropped"] == b"1"


def test_a_header_without_a_value_goes_empty_and_named() -> None:
    rec = record(headers=[("traceparent", None), ("origin", b"hr")])
    letter = letter_forms(rec, WHY, NOW)[0]
    assert sendable(letter)
    assert own(letter) == [("traceparent", b""), ("origin", b"hr")]
    assert dlq(letter)["dlq.null-headers"] == b"traceparent"
    assert dead_letter_headers(rec, WHY, NOW) == letter.headers


def test_a_tombstone_keeps_its_null_value_and_one_without_a_key_goes_empty() -> None:
    keyed = letter_forms(record(value=None), InvalidEvent("empty", "no value"), NOW)[0]
    assert (keyed.key, keyed.value) == (b"E00001", None) and "dlq.null-value" not in dlq(keyed)
    forms = letter_forms(record(key=None, value=None), InvalidEvent("empty", "no value"), NOW)
    assert all(sendable(f) for f in forms)
    assert (forms[0].key, forms[0].value) == (None, b"")
    assert dlq(forms[0])["dlq.null-value"] == b"true"


def test_a_value_over_one_mib_is_only_ever_sent_cut_down() -> None:
    value = bytes(range(256)) * ((MAX_WHOLE_VALUE + 1000) // 256)
    cut, bare = letter_forms(record(value=value, headers=[("origin", b"hr")]), WHY, NOW)
    assert cut.truncated and bare.truncated
    assert cut.value == value[:TRUNCATED_VALUE] and cut.key == b"E00001"
    assert own(cut) == [("origin", b"hr")]
    marks = {
        "dlq.truncated": b"true",
        "dlq.original-size": str(len(value)).encode(),
        "dlq.original-sha256": hashlib.sha256(value).hexdigest().encode(),
    }
    assert marks.items() <= dlq(cut).items() and marks.items() <= dlq(bare).items()
    assert dlq(cut)["dlq.reason"] == b"not-json"
    assert bare.value == b"" and own(bare) == []


def test_a_letter_too_large_whole_has_smaller_forms_that_fit() -> None:
    value = b"\x01" * (600 << 10)
    huge = record(key=b"k" * (MAX_KEPT_KEY + 1), value=value, headers=[("t", b"t" * (600 << 10))])
    whole, cut, bare = letter_forms(huge, WHY, NOW)
    assert not whole.truncated and size(whole) > PRODUCER_MAX_REQUEST
    assert cut.value == value[:TRUNCATED_VALUE] and own(cut) == []
    assert cut.key is None and dlq(cut)["dlq.key-dropped"] == str(MAX_KEPT_KEY + 1).encode()
    assert dlq(cut)["dlq.headers-dropped"] == b"1"
    for form in (cut, bare):
        assert sendable(form) and size(form) < 100_000


def test_the_bare_letter_holds_the_position_and_reason_alone() -> None:
    bare = bare_letter(record(headers=[("origin", b"hr")]), WHY, NOW)
    assert sendable(bare) and (bare.key, bare.value, own(bare)) == (None, b"", [])
    assert dlq(bare)["dlq.offset"] == b"41" and dlq(bare)["dlq.truncated"] == b"true"


def test_a_detail_that_cannot_be_encoded_is_replaced_not_raised() -> None:
    odd = InvalidEvent("schema-invalid", "bad \udc80 surrogate " + "x" * 5000)
    letter = letter_forms(record(), odd, NOW)[0]
    assert dlq(letter)["dlq.detail"].startswith(b"bad ? surrogate")
    assert len(dlq(letter)["dlq.detail"]) == 1000


@pytest.mark.parametrize(
    ("err", "retried"),
    [
        (KafkaTimeoutError(), True),
        (NodeNotReadyError(), True),
        (MessageSizeTooLargeError(), False),
        (TopicAuthorizationFailedError(), False),
        (TypeError("All headers items must be (str, bytes) tuples"), False),
        (ValueError("Need at least one: key or value"), False),
    ],
)
def test_only_retriable_kafka_errors_are_retried(err: Exception, retried: bool) -> None:
    assert should_retry(err) is retried


def test_only_kafka_errors_are_logged_with_their_message() -> None:
    assert describe(ValueError("E00042 Jane Doe")) == "ValueError"
    assert "MessageSizeTooLargeError" in describe(MessageSizeTooLargeError("1573452 bytes"))


def test_permanent_temporal_statuses_are_dead_lettered_the_rest_retried() -> None:
    assert not PERMANENT & TRANSIENT
    for status in RPCStatusCode:
        assert refused_for_good(status) is (status in PERMANENT)
    assert refused_for_good(RPCStatusCode.NOT_FOUND)
    assert not refused_for_good(RPCStatusCode.UNAVAILABLE)
    assert not refused_for_good(RPCStatusCode.UNAUTHENTICATED)
