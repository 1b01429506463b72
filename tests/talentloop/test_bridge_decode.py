"""A record the decoder did not foresee is dead-lettered as undecodable, never raised."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from talentloop.service.bridge.records import decode_record
from talentloop.service.cloudevents import InvalidEvent


def record(value: Any, headers: list[tuple[str, Any]]) -> ConsumerRecord:
    return ConsumerRecord("hr.reviews", 0, -1, 41, 0, 0, b"E00001", value, headers, None, 6, 0, 0)


def test_an_unforeseen_decoder_error_becomes_an_undecodable_dead_letter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A str where the decoder expects bytes (as a consumer with a value deserializer gives).
    with pytest.raises(InvalidEvent) as err:
        decode_record(record('{"specversion": "1.0"}', []), max_bytes=262_144)
    assert err.value.reason == "undecodable"
    assert err.value.detail == "TypeError"
    assert "hr.reviews/0@41" in caplog.text
