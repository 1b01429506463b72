"""Properties of the CloudEvents decoder, for any record a producer can put on a topic.

- Any value (bytes or none) with any headers (keys any text, values any bytes or none) is
  decided: an event, or `InvalidEvent` with a reason. Anything else it raises would be
  dead-lettered by the bridge as "undecodable" (the decoder did not foresee the input).
- A structured-mode event the decoder accepts keeps the id and type it was sent with; one that
  is valid by construction is accepted.
- The fast path (one parse) decides every record as the full path does: the same event, or the
  same reason and detail; a key named twice anywhere is refused whichever way it is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_TYPES, OBJECTIVES_CHANGED
from schemas.rollout import ObjectiveSetEvent
from talentloop.service import cloudevents
from talentloop.service.cloudevents import InvalidEvent, decode

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INBOUND = sorted(t for t, s in EVENT_TYPES.items() if s.direction == "inbound")
ATTRIBUTES = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype"]
REASONS = {
    "empty",
    "oversized",
    "not-json",
    "not-cloudevent",
    "unknown-type",
    "unsupported-content-type",
    "schema-invalid",
    "corrupt-record",
}
"""Every reason the decoder may give (the directory's "unknown-employee" is the bridge's)."""

# Any text, lone surrogates included (a str header key may hold anything Python allows).
any_text = st.text(st.characters(exclude_categories=()), max_size=24)
odd_bytes = st.sampled_from(
    [b"", b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"\xc3(", b"\xef\xbb\xbf1.0", b" 1.0 ", b"null"]
)
header_key = st.one_of(
    st.sampled_from(
        [f"ce_{a}" for a in [*ATTRIBUTES, "dataschema", "traceparent"]]
        + ["content-type", "Content-Type", "CE_SPECVERSION", "Ce_Type", "ce_", ""]
    ),
    any_text,
    any_text.map(lambda s: "ce_" + s),
)
header_value = st.one_of(
    st.none(),
    odd_bytes,
    st.binary(max_size=40),
    st.sampled_from(
        [*INBOUND, "1.0", "0.3", "application/json", "text/plain", "ev-1", "E00001"]
    ).map(str.encode),
    any_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
)
headers = st.lists(st.tuples(header_key, header_value), max_size=8)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def example(event_type: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(EVENT_TYPES[event_type].example_event()))
    return doc


@st.composite
def mutated_event(draw: st.DrawFn) -> bytes:
    """A real event of an inbound type with attributes or data fields removed or replaced,
    then serialised, and perhaps cut, prefixed or wrapped."""
    doc = example(draw(st.sampled_from(INBOUND)))
    for _ in range(draw(st.integers(0, 3))):
        target = doc if draw(st.booleans()) else doc.get("data")
        if not isinstance(target, dict) or not target:
            continue
        field = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[field]
        else:
            target[field] = draw(json_values)
    raw = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    shape = draw(st.sampled_from(["as is", "cut", "bom", "array", "dup", "nan"]))
    if shape == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if shape == "bom":
        return b"\xef\xbb\xbf" + raw
    if shape == "array":
        return b"[" + raw + b"]"
    if shape == "dup":
        return raw.replace(b'"id": ', b'"id": "x", "id": ', 1)
    if shape == "nan":
        return raw.replace(b"2", b"NaN", 1)
    return raw


# Around the limits of the parsers: pydantic's (200), Python's json (the recursion limit).
DEPTHS = st.sampled_from([1, 199, 201, 300, 990, 1100, 3000])


def nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


values = st.one_of(
    st.none(),
    st.binary(max_size=300),
    odd_bytes,
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_event(),
    DEPTHS.map(lambda d: b"[" * d + b"]" * d),
    DEPTHS.map(nested),
    st.sampled_from(INBOUND).map(lambda t: json.dumps(example(t)["data"]).encode()),
)


SENT_AT = datetime(2026, 12, 2, tzinfo=UTC)
"""When the records are taken to have been sent: the registry's examples are dated shortly
before (the contract accepts dates only in a window around a record's time)."""


def run(value: bytes | None, hdrs: list[tuple[str, Any]]) -> Any:
    return decode(
        value,
        hdrs,
        topic="hr.reviews",
        partition=0,
        offset=3,
        max_bytes=1_000_000,
        record_time=SENT_AT,
    )


@FAST
@given(value=values, hdrs=headers)
def test_any_record_is_decided_an_event_or_invalid_with_a_reason(
    value: bytes | None, hdrs: list[tuple[str, Any]]
) -> None:
    try:
        run(value, hdrs)
    except InvalidEvent as err:
        assert err.reason in REASONS, err.reason


@FAST
@given(
    value=values,
    hdrs=st.lists(
        st.tuples(st.sampled_from([f"ce_{a}" for a in ATTRIBUTES]), header_value), max_size=8
    ).map(lambda h: [("ce_specversion", b"1.0"), *h]),
)
def test_any_binary_mode_record_is_decided(
    value: bytes | None, hdrs: list[tuple[str, Any]]
) -> None:
    try:
        run(value, hdrs)
    except InvalidEvent as err:
        assert err.reason in REASONS, err.reason


# Ids of any text (no lone surrogates: JSON text is Unicode), some that look like JSON.
event_ids = st.one_of(
    st.text(min_size=1, max_size=256),
    st.sampled_from(['"type": "course.completed.v1"', '{"id": "x"}', "\\u0000", "\u2028", " "]),
)


@st.composite
def structured_event(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """A valid structured-mode event of an inbound type, its attributes in any order and with
    or without the optional ones, serialised in any of the usual ways."""
    doc = example(draw(st.sampled_from(INBOUND)))
    doc["id"] = draw(event_ids)
    for optional in ("subject", "time", "datacontenttype", "dataschema"):
        if draw(st.booleans()):
            del doc[optional]
    order = draw(st.permutations(sorted(doc)))
    ordered = {k: doc[k] for k in order}
    raw = json.dumps(
        ordered,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 2])),
        separators=draw(st.sampled_from([None, (",", ":")])),
    ).encode()
    return doc, raw


@FAST
@given(sent=structured_event())
def test_a_valid_structured_event_is_accepted_with_its_id_and_type(
    sent: tuple[dict[str, Any], bytes],
) -> None:
    doc, raw = sent
    event = run(raw, [])
    assert event.event_id == doc["id"]
    if doc["type"] == OBJECTIVES_CHANGED:
        assert isinstance(event, ObjectiveSetEvent)
    else:
        assert event.type == doc["type"]
    assert (event.topic, event.partition, event.offset) == ("hr.reviews", 0, 3)


@FAST
@given(value=mutated_event())
def test_an_accepted_structured_event_keeps_its_id_and_type(value: bytes) -> None:
    try:
        event = run(value, [])
    except InvalidEvent:
        return
    doc = json.loads(value)
    assert event.event_id == doc["id"]
    if doc["type"] == OBJECTIVES_CHANGED:
        assert isinstance(event, ObjectiveSetEvent)
    else:
        assert event.type == doc["type"]


# -- the fast path decides as the full path does ---------------------------------------------


def outcome(decide: Callable[[], Any]) -> tuple[str, Any]:
    """An accepted event as its dump, a refusal as its reason and detail."""
    try:
        return "accepted", decide().model_dump()
    except InvalidEvent as err:
        return err.reason, err.detail


def both_paths(value: bytes | None, hdrs: list[tuple[str, Any]]) -> tuple[Any, Any]:
    """The decision of `decode`, and the decision with its fast path turned off."""
    fast = outcome(lambda: run(value, hdrs))
    with mock.patch.object(cloudevents, "_fast_structured", return_value=None):
        full = outcome(lambda: run(value, hdrs))
    return fast, full


@st.composite
def written_oddly(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A valid event of an inbound type written by hand: any object may name a key twice
    (same or other value), whitespace may sit around colons, strings may hold ``":``.

    Returns:
        The bytes, and whether some object names a key twice.
    """
    doc = example(draw(st.sampled_from(INBOUND)))
    doc["id"] = draw(st.sampled_from(["ev-1", 'ev":1', 'a\\":" b', "ev-\u00e9"]))
    duplicated = False

    def write(node: Any) -> str:
        nonlocal duplicated
        if isinstance(node, dict):
            pairs = list(node.items())
            if pairs and draw(st.integers(0, 5)) == 0:
                key, value = draw(st.sampled_from(pairs))
                again = draw(st.sampled_from([value, "x", 0, None]))
                pairs.insert(draw(st.integers(0, len(pairs))), (key, again))
                duplicated = True
            colon = draw(st.sampled_from([": ", ":", " : ", "\n:", "\t:\r"]))
            return "{" + ", ".join(json.dumps(k) + colon + write(v) for k, v in pairs) + "}"
        if isinstance(node, list):
            return "[" + ", ".join(write(v) for v in node) + "]"
        return json.dumps(node)

    return write(doc).encode(), duplicated


@FAST
@given(value=values, hdrs=headers)
def test_the_fast_path_decides_any_record_as_the_full_path(
    value: bytes | None, hdrs: list[tuple[str, Any]]
) -> None:
    fast, full = both_paths(value, hdrs)
    assert fast == full


@FAST
@given(sent=written_oddly())
def test_a_key_named_twice_is_refused_however_the_record_is_written(
    sent: tuple[bytes, bool],
) -> None:
    value, duplicated = sent
    fast, full = both_paths(value, [])
    assert fast == full
    if duplicated:
        assert fast[0] == "schema-invalid"
        assert fast[1].startswith("duplicate JSON key ")
    else:
        assert fast[0] == "accepted", fast


def keys_in(node: Any) -> int:
    """How many keys the objects of a JSON document name."""
    if isinstance(node, dict):
        return len(node) + sum(keys_in(v) for v in node.values())
    if isinstance(node, list):
        return sum(keys_in(v) for v in node)
    return 0


@FAST
@given(sent=structured_event())
def test_valid_events_take_the_fast_path(sent: tuple[dict[str, Any], bytes]) -> None:
    doc, raw = sent
    fast = cloudevents._fast_structured(raw, "hr.reviews", None, SENT_AT, cloudevents.DateWindow())
    # Every valid record is decided in one parse, unless its strings hold a key's ending, or the
    # text NaN / Infinity (the guard against pydantic's non-standard numbers is conservative).
    conservative = b"NaN" in raw or b"Infinity" in raw
    if len(cloudevents._KEY_TOKEN.findall(raw)) == keys_in(doc) and not conservative:
        assert fast is not None


def test_a_model_that_may_invent_keys_is_never_counted() -> None:
    # Counting a model's set fields proves no key was named twice only if each came from a key
    # of its JSON object; a validator that sees the input first, or an alias path, may break
    # that: such a model sends every record to the full path.
    from typing import Annotated

    from pydantic import AliasPath, BaseModel, BeforeValidator, Field, model_validator

    class Before(BaseModel):
        a: int = 0

        @model_validator(mode="before")
        @classmethod
        def add(cls, data: Any) -> Any:
            return {**data, "a": 1}

    class Nested(BaseModel):
        items: list[Annotated[dict[str, int], BeforeValidator(lambda v: v)]] = []

    class Aliased(BaseModel):
        a: int = Field(0, validation_alias=AliasPath("x", 0))

    class Plain(BaseModel):
        a: int = 0
        b: list[dict[str, int]] = []

    for model in (Before, Nested, Aliased):
        assert cloudevents._nested_fields(model) is None, model
    assert cloudevents._nested_fields(Plain) == ("b",)
    for spec in EVENT_TYPES.values():
        if spec.direction == "inbound":
            assert cloudevents._nested_fields(spec.envelope) is not None, spec.type
