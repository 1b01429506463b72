"""Decoding records into events: every kind of bad input is refused with a reason."""

import json
import random
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from support.events import cloudevent, employee_event, example_data, review_event

from schemas.events import (
    COURSE_COMPLETED,
    EMPLOYEE_UPDATED,
    GOAL_CHANGED,
    OBJECTIVES_CHANGED,
    REVIEW_COMPLETED,
)
from schemas.rollout import ObjectiveSetEvent
from talentloop.service.cloudevents import (
    DateWindow,
    InvalidEvent,
    decode,
    inbound_topics,
    record_time_of,
)
from talentloop.service.config import Settings

RECORD_TIME = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
"""The Kafka timestamp of the records here: dates are judged against it, not the clock."""
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

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


def run(value, headers=(), max_bytes=10_000, *, topic="hr.reviews", **options):
    options.setdefault("record_time", RECORD_TIME)
    return decode(
        value, list(headers), topic=topic, partition=0, offset=7, max_bytes=max_bytes, **options
    )


def refused(value, headers=(), **options) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as err:
        run(value, headers, **options)
    return err.value


def wire(doc) -> bytes:
    return json.dumps(doc).encode()


def binary_headers(event_id=b"ev-b", **extra):
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id),
        ("ce_source", b"test"),
        ("ce_type", REVIEW_COMPLETED.encode()),
        ("content-type", b"application/json"),
    ]
    return headers + list(extra.items())


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


# -- ambiguity that hid data ----------------------------------------------------------------


def test_a_key_named_twice_is_refused_and_named_wherever_it_is():
    first_type = wire(review()).replace(b'"type": ', b'"type": "course.completed.v1", "type": ', 1)
    err = refused(first_type)
    assert (err.reason, err.detail) == ("schema-invalid", "duplicate JSON key type")
    nested = wire(review()).replace(b'"rating": 3', b'"rating": 3, "rating": 1')
    err = refused(nested)
    assert (err.reason, err.detail) == (
        "schema-invalid",
        "duplicate JSON key data.ratings[0].rating",
    )
    body = json.dumps(review()["data"]).encode().replace(b'"cycle"', b'"cycle": "x", "cycle"')
    err = refused(body, binary_headers())
    assert (err.reason, err.detail) == ("schema-invalid", "duplicate JSON key data.cycle")
    # A key named twice in a document that is not JSON further on: not JSON.
    assert refused(b'{"a": {"b": 1, "b": 2}, "c" 3}').reason == "not-json"


def test_a_binary_mode_header_given_twice_is_refused():
    body = json.dumps(review()["data"]).encode()
    err = refused(body, [*binary_headers(), ("CE_ID", b"ev-other")])
    assert (err.reason, err.detail) == ("schema-invalid", "header ce_id given twice")
    # Headers structured mode does not read may repeat.
    assert run(wire(review()), [("x-trace", b"1"), ("x-trace", b"2")]).event_id == "ev-1"


def test_binary_mode_attributes_must_be_utf8_so_ids_cannot_collide():
    body = json.dumps(review()["data"]).encode()
    for bad_id in (b"ev-\xff", b"ev-\xfe"):  # both were "ev-\ufffd" before: one event was lost
        err = refused(body, binary_headers(event_id=bad_id))
        assert (err.reason, err.detail) == ("schema-invalid", "header ce_id is not valid UTF-8")
    err = refused(body, binary_headers(ce_traceparent=b"\xc3"))
    assert err.detail == "header ce_traceparent is not valid UTF-8"


def test_json_constants_that_are_not_json_are_refused():
    assert refused(wire(review()).replace(b'"rating": 3', b'"rating": NaN')).reason == "not-json"
    assert refused(b"\xef\xbb\xbf" + wire(review())).reason == "not-json"  # a BOM
    assert refused(wire(review()).decode().encode("utf-16")).reason == "not-json"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("completed_at", "0001-01-01T00:00:00Z"),
        ("completed_at", "9999-12-31T23:59:59Z"),
        ("completed_at", "2021-11-01T11:59:59Z"),  # a day more than 5 years before the record
        ("completed_at", "2026-11-03T12:00:01Z"),  # more than a day after the record
        ("time", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_dates_far_from_the_records_time_are_refused_naming_the_field(field, value):
    doc = review() if field == "time" else review(**{field: value})
    if field == "time":
        doc["time"] = value
    err = refused(wire(doc))
    assert err.reason == "schema-invalid"
    assert err.detail.startswith(f"{'time' if field == 'time' else 'data.' + field}: outside")
    assert value not in err.detail


def test_the_window_is_relative_to_the_record_not_the_clock():
    old = wire(review(completed_at="2019-06-01T10:00:00Z"))
    # Recorded in 2020, a replay or a backfill today decides as the first delivery did.
    assert run(old, record_time=datetime(2020, 1, 1, tzinfo=UTC)).review is not None
    assert refused(old).reason == "schema-invalid"
    # The window is a parameter; None is now.
    assert run(old, window=DateWindow(past=timedelta(days=365 * 10))).review is not None
    ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert refused(wire(review(completed_at=ahead)), record_time=None).reason == "schema-invalid"
    naive = datetime(2026, 11, 2, 12, 0)  # taken as UTC
    assert run(wire(review(completed_at="2026-11-02T11:00:00Z")), record_time=naive)


def test_objective_dates_may_lie_years_ahead_but_not_centuries():
    data = example_data(OBJECTIVES_CHANGED, effective_from="2027-01-01")
    doc = cloudevent(OBJECTIVES_CHANGED, "ev-o", data)
    event = run(wire(doc), topic="strategy.objectives")
    assert isinstance(event, ObjectiveSetEvent)
    far = example_data(OBJECTIVES_CHANGED)
    far["objectives"][0]["due"] = "9999-12-31"
    err = refused(wire(cloudevent(OBJECTIVES_CHANGED, "ev-o", far)))
    assert err.detail.startswith("data.objectives[0].due: outside")


def test_record_time_of_a_kafka_timestamp():
    assert record_time_of(1_793_620_800_000) == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert record_time_of(-1) is None and record_time_of(None) is None


# -- what CloudEvents 1.0 allows --------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; profile=x",
    ],
)
def test_json_with_parameters_in_any_case_is_accepted(ctype):
    assert run(wire({**review(), "datacontenttype": ctype})).review is not None
    body = json.dumps(review()["data"]).encode()
    headers = [(k, v) for k, v in binary_headers() if k != "content-type"]
    assert run(body, [*headers, ("content-type", ctype.encode())]).review is not None


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/jsonx", "application/json; charset=latin-1", "json"]
)
def test_other_media_types_are_refused(ctype):
    assert refused(wire({**review(), "datacontenttype": ctype})).reason == (
        "unsupported-content-type"
    )
    body = json.dumps(review()["data"]).encode()
    headers = [(k, v) for k, v in binary_headers() if k != "content-type"]
    err = refused(body, [*headers, ("content-type", ctype.encode())])
    assert err.reason == "unsupported-content-type"


def test_extension_attributes_are_accepted_and_traceparent_is_kept():
    doc = {**review(), "traceparent": TRACEPARENT, "tracestate": "a=1", "partitionkey": 3}
    assert run(wire(doc)).traceparent == TRACEPARENT
    body = json.dumps(review()["data"]).encode()
    ev = run(body, binary_headers(ce_traceparent=TRACEPARENT.encode(), ce_tracestate=b"a=1"))
    assert ev.traceparent == TRACEPARENT
    assert run(wire(review())).traceparent is None
    # A malformed traceparent is ignored (W3C Trace Context), the event is not.
    for malformed in (
        "00-xyz",
        TRACEPARENT + "\n",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # an all-zero trace id is invalid
    ):
        assert run(wire({**review(), "traceparent": malformed})).traceparent is None
    assert run(wire({**review(), "sampled": True, "ext": None})).review is not None


@pytest.mark.parametrize(
    "extension",
    [
        {"TraceParent": TRACEPARENT},
        {"data_base64": "eA=="},
        {"ext\n": "x"},
        {"ext": {"a": 1}},
        {"ext": 1.5},
        {"ext": 2**31},
        {"ext": "x" * 8193},
    ],
)
def test_extension_attributes_follow_the_cloudevents_type_system(extension):
    err = refused(wire({**review(), **extension}))
    assert err.reason == "schema-invalid" and "eA==" not in err.detail


def test_binary_mode_extension_names_follow_the_same_rules():
    body = json.dumps(review()["data"]).encode()
    assert refused(body, binary_headers(**{"ce_trace-id": b"1"})).reason == "schema-invalid"
    assert refused(body, binary_headers(ce_data=b"{}")).reason == "schema-invalid"


# -- routing and references -------------------------------------------------------------------


def test_an_event_on_another_topic_than_its_types_is_refused():
    topics = inbound_topics(Settings())
    assert topics[REVIEW_COMPLETED] == "hr.reviews"
    assert topics[EMPLOYEE_UPDATED] == "hr.employees"
    assert set(topics) == {
        REVIEW_COMPLETED,
        COURSE_COMPLETED,
        EMPLOYEE_UPDATED,
        OBJECTIVES_CHANGED,
        GOAL_CHANGED,
    }
    err = refused(wire(review()), topic="hr.employees", expected_topics=topics)
    assert (err.reason, err.detail) == (
        "wrong-topic",
        "review.completed.v1 belongs on hr.reviews, not hr.employees",
    )
    objectives = wire(cloudevent(OBJECTIVES_CHANGED, "ev-o", example_data(OBJECTIVES_CHANGED)))
    assert refused(objectives, expected_topics=topics).reason == "wrong-topic"
    assert run(wire(review()), expected_topics=topics).review is not None
    # Without the mapping nothing is checked.
    assert run(wire(review()), topic="hr.employees").review is not None


def test_a_joiner_needs_a_name_and_an_email_and_is_stored_with_them():
    ev = run(wire(employee_event("E00042", "ev-j")), topic="hr.employees")
    assert ev.employee_update is not None and ev.employee_update.name == "Name of E00042"
    for missing in ("name", "email"):
        err = refused(wire(employee_event("E00042", "ev-j", **{missing: None})))
        assert err.reason == "schema-invalid" and "needs name and email" in err.detail
    moved = employee_event("E00042", "ev-m", "moved", department="Ops")
    assert run(wire(moved)).employee_update is not None


def test_nobody_is_their_own_manager():
    for change in ("joined", "moved"):
        err = refused(wire(employee_event("E00042", "ev-s", change, manager_id="E00042")))
        assert err.reason == "schema-invalid" and "manager_id" in err.detail


def test_every_decision_on_mangled_records_is_an_invalid_event():
    """Truncated, bit-flipped and spliced records: accepted or refused with a reason."""
    rng = random.Random(13)
    good = [
        wire({**review(), "traceparent": TRACEPARENT}),
        wire(employee_event("E00042", "ev-j")),
        wire(cloudevent(COURSE_COMPLETED, "ev-c", example_data(COURSE_COMPLETED))),
    ]
    reasons = set()
    for _ in range(300):
        value = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(value) or 1)
            op = rng.randrange(3)
            if op == 0:
                value[i] = rng.randrange(256)
            elif op == 1:
                del value[i:]
            else:
                value[i:i] = rng.choice([b'"', b"{", b"}", b",", b'"type": "x",', b"\\u0000"])
        try:
            run(bytes(value) or b" ")
        except InvalidEvent as err:
            reasons.add(err.reason)
    assert reasons <= {
        "not-json",
        "not-cloudevent",
        "unknown-type",
        "schema-invalid",
        "unsupported-content-type",
    }
