"""Decoding records into events: every kind of bad input is refused with a reason."""

import json
from functools import partial

import pytest
from support.events import review_event

from schemas.events import REVIEW_COMPLETED
from talentloop.service.cloudevents import InvalidEvent, decode

# A review.completed event; keyword arguments replace or add fields of its data.
review = partial(
    review_event,
    employee_id="E00001",
    event_id="ev-1",
    source="test",
    review_id="r-1",
    completed_at="2026-11-01T10:00:00Z",
    ratings=[{"skill_id": "onet:2.A.1.a", "rating": 3}],
)


def run(value, headers=(), max_bytes=10_000):
    return decode(
        value, list(headers), topic="hr.reviews", partition=0, offset=7, max_bytes=max_bytes
    )


def test_structured_review_is_decoded_with_its_position():
    ev = run(json.dumps(review()).encode())
    assert ev.event_id == "ev-1"
    assert ev.employee_id == "E00001"
    assert ev.review is not None and ev.review.ratings[0].rating == 3.0
    assert (ev.topic, ev.partition, ev.offset) == ("hr.reviews", 0, 7)


def test_binary_mode_headers_are_accepted():
    doc = review()
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"ev-b"),
        ("ce_source", b"test"),
        ("ce_type", REVIEW_COMPLETED.encode()),
        ("content-type", b"application/json"),
    ]
    ev = run(json.dumps(doc["data"]).encode(), headers)
    assert ev.event_id == "ev-b" and ev.review is not None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfe not json", "not-json"),
        (b"[1, 2]", "not-cloudevent"),
        (json.dumps({**review(), "type": "review.exploded.v9"}).encode(), "unknown-type"),
        (json.dumps(review(reviewer_kind="boss")).encode(), "schema-invalid"),
        (json.dumps(review(extra_field=1)).encode(), "schema-invalid"),
        (json.dumps(review(employee_id=42)).encode(), "schema-invalid"),
        (json.dumps(review(ratings=[])).encode(), "schema-invalid"),
        (json.dumps(review(completed_at="2026-11-01T10:00:00")).encode(), "schema-invalid"),
        (json.dumps({**review(), "specversion": "0.3"}).encode(), "schema-invalid"),
        (b"[" * 5_000, "not-json"),
        (b'{"specversion": "1.0", "data": ' + b"[" * 5_000 + b"}", "not-json"),
    ],
)
def test_bad_input_is_refused_with_a_reason(value, reason):
    with pytest.raises(InvalidEvent) as err:
        run(value)
    assert err.value.reason == reason


def test_binary_mode_headers_without_a_value_are_refused_not_crashed_on():
    headers = [("ce_specversion", b"1.0"), ("ce_type", None)]
    with pytest.raises(InvalidEvent) as err:
        run(json.dumps(review()["data"]).encode(), headers)
    assert err.value.reason == "unknown-type"
    with pytest.raises(InvalidEvent) as err:
        run(json.dumps(review()["data"]).encode(), [*headers, ("content-type", None)])
    assert err.value.reason == "unsupported-content-type"


def test_oversized_record_is_refused_before_parsing():
    with pytest.raises(InvalidEvent) as err:
        run(json.dumps(review(comments="x" * 5000)).encode(), max_bytes=1000)
    assert err.value.reason == "oversized"


def test_validation_detail_never_carries_the_values():
    secret = "Very private comment about performance"
    bad = review(comments=secret, reviewer_kind="boss")
    with pytest.raises(InvalidEvent) as err:
        run(json.dumps(bad).encode())
    assert secret not in str(err.value) and "boss" not in str(err.value)
