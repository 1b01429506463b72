"""The adversarial corpus: records a producer can put on an inbound topic that the bridge must
dead-letter, each with the record (key, value, headers) and the DLQ reason it must be given.

Built in code, deterministically (fixed ids; times fixed for the day, as the contract only
accepts dates near a record's own time; the oversized records are megabytes, so they are
generated rather than committed). ``CORPUS`` is the list; ``KEYS`` the employees whose
keys it uses (the integration test adds them to the directory and sends each a valid review
after the corpus); ``by_name`` finds an item.

Items whose expectation waits for work in progress say so in ``needs`` (the issue states the
expectation; the code may not meet it yet). Nothing here is weakened to what the code does today.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from support.events import review_event
from support.kafka_wire import RawKey

ONE_MIB = 1 << 20
"""The line above which a dead letter carries only a prefix of the value, marked
``dlq.truncated`` (the broker's default record size); up to it, the whole value."""

MAX_EVENT_BYTES = 256 * 1024
"""The bridge's limit (``TALENTLOOP_MAX_EVENT_BYTES``, its default) the corpus is written for."""

T = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT10:00:00Z")
"""Every time in the corpus that is not itself the point of an item: 10:00 UTC yesterday (the
contract accepts dates in a window around the record's time, so a fixed date would expire)."""

SOURCE = "urn:adversarial"

# Needs: the work in progress an expectation depends on (for the report of what fails today).
DUPLICATE_KEYS = "duplicate JSON keys refused as schema-invalid"
DATE_WINDOW = "dates outside the accepted window refused as schema-invalid"
CORRUPT_RECORD = "non-UTF-8 header keys refused as corrupt-record"
TRUNCATION = "dead letters over 1 MiB truncated, marked dlq.truncated"


Header = tuple[str, bytes | None]


@dataclass(frozen=True)
class Item:
    """One record of the corpus and what the bridge must do with it.

    ``reason`` is the ``dlq.reason`` expected; ``truncated``: the dead letter carries only a
    prefix of the value and a ``dlq.truncated`` header (values over ``ONE_MIB``), else the
    whole value. ``layer``: "record" when the bridge's decoding of the record as consumed
    (``talentloop.service.bridge.records.decode_record``) must give the reason, "wire" when
    only the whole path can (a header key kafka-python cannot hand over as sent, the key).
    """

    name: str
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    reason: str = "schema-invalid"
    truncated: bool = False
    layer: Literal["record", "wire"] = "record"
    needs: str = ""
    event_id: str | None = field(default=None, compare=False)
    """The CloudEvent id the record carries, if any (none of them may reach a workflow)."""

    @property
    def raw_header_keys(self) -> bool:
        """Whether a header key is not UTF-8 (the consumer cannot give it back as sent)."""
        return any(isinstance(k, RawKey) for k, _ in self.headers)


def _emp(n: int) -> str:
    return f"E{900 + n:05d}"


GROUPS = {
    "bytes": _emp(1),
    "envelope": _emp(2),
    "data": _emp(3),
    "binary": _emp(4),
    "header-keys": _emp(5),
    "duplicates": _emp(6),
    "tombstones": _emp(18),
    "key": _emp(19),
    "null-headers": _emp(21),
}
"""The employee whose key each group of items goes under (dates and sizes: one key each, so
that a record that gets stuck or poisons a workflow shows as its own failure)."""

DATE_KEYS = [_emp(n) for n in range(7, 13)]
SIZE_KEYS = [_emp(n) for n in range(13, 18)]
KEYS = sorted({*GROUPS.values(), *DATE_KEYS, *SIZE_KEYS})
"""Every employee whose key the corpus uses (the directory must know them all)."""

AFTER = _emp(20)
"""An employee the corpus does not touch: the event sent after the audit is theirs."""


def review(employee: str, event_id: str, **data: Any) -> dict[str, Any]:
    """A valid `review.completed.v1` of `employee` (fixed times); `data` replaces fields."""
    doc = review_event(employee, event_id, source=SOURCE, time=T, completed_at=T)
    doc["data"] = {**doc["data"], **data}
    return doc


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _bytes_items() -> list[Item]:
    key = GROUPS["bytes"].encode()
    good = dumps(review(GROUPS["bytes"], "adv-bad-truncated"))
    in_data = dumps(review(GROUPS["bytes"], "adv-bad-nested", comments="@@"))

    def nested_in_data(depth: int) -> bytes:
        return in_data.replace(b'"@@"', b"[" * depth + b"]" * depth)

    raw: list[tuple[str, bytes, str]] = [
        ("not-json/control-bytes", b"\x00\x01\x02 definitely not json", "not-json"),
        ("not-json/text", b"hello, kafka", "not-json"),
        ("not-json/invalid-utf8", b"\xff\xfe\xfd\xfc", "not-json"),
        ("not-json/whitespace", b" \n\t ", "not-json"),
        ("not-json/xml", b"<event><id>1</id></event>", "not-json"),
        ("not-json/single-quotes", b"{'specversion': '1.0'}", "not-json"),
        ("truncated/first-byte", good[:1], "not-json"),
        ("truncated/half", good[: len(good) // 2], "not-json"),
        ("truncated/all-but-last-byte", good[:-1], "not-json"),
        ("truncated/trailing-garbage", good + b"}", "not-json"),
        # RFC 8259: a JSON text on the wire carries no byte order mark.
        ("bom/utf8-bom-before-a-valid-event", b"\xef\xbb\xbf" + good, "not-json"),
        ("nesting/3000-open-brackets", b"[" * 3000, "not-json"),
        ("nesting/100000-deep-array", b"[" * 100_000 + b"]" * 100_000, "not-json"),
        ("nesting/40000-deep-object", b'{"a":' * 40_000 + b"1" + b"}" * 40_000, "not-json"),
        # Deeper than the contract's parser (pydantic's JSON, 200 levels) goes, not Python's:
        # valid JSON whose data the schema cannot take.
        ("nesting/300-deep-in-data", nested_in_data(300), "schema-invalid"),
        ("nesting/5000-deep-in-data", nested_in_data(5000), "not-json"),
        ("not-cloudevent/array", b"[1, 2]", "not-cloudevent"),
        ("not-cloudevent/string", b'"review.completed.v1"', "not-cloudevent"),
        ("not-cloudevent/null", b"null", "not-cloudevent"),
        ("not-cloudevent/number", b"42", "not-cloudevent"),
        ("not-cloudevent/object", b'{"hello": "world"}', "not-cloudevent"),
        (
            "not-cloudevent/array-of-events",
            b"[" + dumps(review(GROUPS["bytes"], "adv-bad-array")) + b"]",
            "not-cloudevent",
        ),
    ]
    needs: dict[str, str] = {}
    return [
        Item(name, key, value, reason=reason, needs=needs.get(name, ""))
        for name, value, reason in raw
    ]


def _envelope_items() -> list[Item]:
    emp = GROUPS["envelope"]
    items = []
    missing_reasons = {"specversion": "not-cloudevent", "type": "unknown-type"}
    for attribute in ("specversion", "id", "source", "type", "data"):
        doc = review(emp, f"adv-bad-missing-{attribute}")
        del doc[attribute]
        reason = missing_reasons.get(attribute, "schema-invalid")
        items.append(Item(f"envelope/missing-{attribute}", emp.encode(), dumps(doc), reason=reason))
    mistyped: list[tuple[str, Any, str]] = [
        ("specversion", 1.0, "schema-invalid"),
        ("specversion", "0.3", "schema-invalid"),
        ("specversion", None, "schema-invalid"),
        ("id", 42, "schema-invalid"),
        ("id", "", "schema-invalid"),
        ("id", None, "schema-invalid"),
        ("id", "x" * 257, "schema-invalid"),
        ("source", 42, "schema-invalid"),
        ("source", "", "schema-invalid"),
        ("type", 42, "unknown-type"),
        ("type", "", "unknown-type"),
        ("type", "review.completed.v2", "unknown-type"),
        ("type", "enrollment.created.v1", "unknown-type"),  # outbound: not accepted inbound
        ("type", ["review.completed.v1"], "unknown-type"),
        ("subject", 42, "schema-invalid"),
        ("time", "yesterday", "schema-invalid"),
        ("time", 1_793_000_000, "schema-invalid"),
        ("time", "2026-11-01T10:00:00", "schema-invalid"),  # no UTC offset
        ("datacontenttype", "application/xml", "unsupported-content-type"),
        ("datacontenttype", 42, "schema-invalid"),
        ("dataschema", "https://elsewhere.example/review.json", "schema-invalid"),
        ("dataschema", 42, "schema-invalid"),
        ("data", "a review", "schema-invalid"),
        ("data", None, "schema-invalid"),
        ("data", [], "schema-invalid"),
        ("data", {}, "schema-invalid"),
    ]
    for n, (attribute, value, reason) in enumerate(mistyped):
        event_id = f"adv-bad-envelope-{n}"
        doc = {**review(emp, event_id), attribute: value}
        name = f"envelope/{n:02d}-{attribute}={json.dumps(value)[:40]}"
        items.append(Item(name, emp.encode(), dumps(doc), reason=reason, event_id=event_id))
    return items


def _data_items() -> list[Item]:
    emp = GROUPS["data"]
    mistyped: list[tuple[str, Any]] = [
        ("review_id", 42),
        ("review_id", ""),
        ("review_id", "has spaces"),
        ("employee_id", 42),
        ("employee_id", None),
        ("employee_id", "E 00903"),
        ("reviewer_id", None),
        ("reviewer_id", ["M1"]),
        ("reviewer_kind", "boss"),
        ("reviewer_kind", 1),
        ("cycle", ""),
        ("cycle", 2026),
        ("cycle", "x" * 65),
        ("completed_at", "not a date"),
        ("completed_at", "2026-11-01T10:00:00"),  # no UTC offset
        ("completed_at", 1_793_000_000),
        ("scale", "1-10"),
        ("scale", 5),
        ("ratings", "onet:2.A.1.a=3"),
        ("ratings", []),
        ("ratings", [{"skill_id": "onet:2.A.1.a", "rating": "3"}]),
        ("ratings", [{"skill_id": "onet:2.A.1.a", "rating": -1}]),
        ("ratings", [{"skill_id": "onet:2.A.1.a", "rating": 8}]),  # above the O*NET 0-7 scale
        ("ratings", [{"skill_id": 7, "rating": 3}]),
        ("ratings", [{"skill_id": "onet:2.A.1.a"}]),
        ("ratings", [{"skill_id": "onet:2.A.1.a", "rating": 3, "weight": 2}]),
        ("ratings", [{"skill_id": "onet:2.A.1.a", "rating": 3}] * 2),  # a skill rated twice
        ("ratings", [{"skill_id": "onet:2.A.1.a", "rating": True}]),
        ("comments", 5),
        ("comments", "x" * 10_001),
        ("unexpected_field", 1),
    ]
    items = []
    for n, (name, value) in enumerate(mistyped):
        event_id = f"adv-bad-data-{n}"
        doc = review(emp, event_id, **{name: value})
        label = f"data/{n:02d}-{name}={json.dumps(value)[:40]}"
        items.append(Item(label, emp.encode(), dumps(doc), event_id=event_id))
    for name in ("review_id", "employee_id", "reviewer_id", "reviewer_kind", "cycle", "ratings"):
        event_id = f"adv-bad-data-missing-{name}"
        doc = review(emp, event_id)
        del doc["data"][name]
        items.append(Item(f"data/missing-{name}", emp.encode(), dumps(doc), event_id=event_id))
    return items


def binary_headers(event: dict[str, Any]) -> list[Header]:
    """The ``ce_`` headers of a structured event in binary mode, and its content type."""
    headers: list[Header] = [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k != "data"]
    return [*headers, ("content-type", b"application/json")]


def _binary_items() -> list[Item]:
    emp = GROUPS["binary"]
    key = emp.encode()

    def item(
        name: str,
        reason: str,
        *,
        drop: tuple[str, ...] = (),
        put: dict[str, bytes] | None = None,
        add: tuple[Header, ...] = (),
        value: bytes | None = None,
    ) -> Item:
        event_id = f"adv-bad-binary-{name}"
        event = review(emp, event_id)
        put = put or {}
        headers = [(k, put.get(k, v)) for k, v in binary_headers(event) if k not in drop]
        headers += [(k, v) for k, v in put.items() if k not in dict(headers)]
        body = dumps(event["data"]) if value is None else value
        return Item(f"binary/{name}", key, body, (*headers, *add), reason=reason, event_id=event_id)

    return [
        item("missing-ce_id", "schema-invalid", drop=("ce_id",)),
        item("missing-ce_source", "schema-invalid", drop=("ce_source",)),
        item("missing-ce_type", "unknown-type", drop=("ce_type",)),
        item("ce_type-outbound", "unknown-type", put={"ce_type": b"enrollment.created.v1"}),
        item("ce_specversion-0.3", "schema-invalid", put={"ce_specversion": b"0.3"}),
        item("ce_time-not-a-time", "schema-invalid", put={"ce_time": b"yesterday"}),
        item("ce_dataschema-elsewhere", "schema-invalid", put={"ce_dataschema": b"urn:x"}),
        item("content-type-text", "unsupported-content-type", put={"content-type": b"text/plain"}),
        item("body-not-json", "not-json", value=b"employee_id=E00904"),
        item("body-empty-object", "schema-invalid", value=b"{}"),
        item(
            "body-a-whole-structured-event",
            "schema-invalid",
            value=dumps(review(emp, "adv-bad-binary-inner")),
        ),
        # An attribute given twice: which one counts would depend on who reads it.
        item("ce_id-twice", "schema-invalid", add=(("ce_id", b"adv-bad-binary-other"),)),
        item("CE_ID-twice-in-another-case", "schema-invalid", add=(("CE_ID", b"adv-other"),)),
        # An attribute that is not UTF-8 is not a string (not one with U+FFFD in it, accepted).
        item("ce_id-not-utf8", "schema-invalid", put={"ce_id": b"adv-\xff\xfe"}),
        item("ce_source-not-utf8", "schema-invalid", put={"ce_source": b"urn:\xc3("}),
        item("content-type-not-utf8", "schema-invalid", put={"content-type": b"\xff"}),
    ]


def _null_header_items() -> list[Item]:
    # Header values that are null: the Kafka protocol allows them (a Java producer sends them;
    # kafka-python's producer refuses to). Under a key of their own: today a dead letter with
    # such a header cannot be published, and what follows on the key waits behind it.
    # A null value is an attribute without a value: refused for the attribute it leaves empty.
    emp = GROUPS["null-headers"]
    items = []
    reasons = {
        "ce_specversion": "schema-invalid",
        "ce_id": "schema-invalid",
        "ce_type": "unknown-type",
        "ce_source": "schema-invalid",
        "content-type": "unsupported-content-type",
    }
    for name, reason in reasons.items():
        event_id = f"adv-bad-null-{name}"
        event = review(emp, event_id)
        headers = tuple((k, None if k == name else v) for k, v in binary_headers(event))
        items.append(
            Item(
                f"null-headers/{name}",
                emp.encode(),
                dumps(event["data"]),
                headers,
                reason=reason,
                event_id=event_id,
            )
        )
    return items


def _header_key_items() -> list[Item]:
    emp = GROUPS["header-keys"]
    key = emp.encode()
    binary = review(emp, "adv-bad-raw-key-binary")
    structured = review(emp, "adv-bad-raw-key-structured")
    return [
        Item(
            "header-keys/binary-event-with-a-non-utf8-ce-key",
            key,
            dumps(binary["data"]),
            (*binary_headers(binary), (RawKey(b"ce_\xffid"), b"x")),
            reason="corrupt-record",
            layer="wire",
            needs=CORRUPT_RECORD,
            event_id=binary["id"],
        ),
        Item(
            "header-keys/structured-event-with-a-non-utf8-key",
            key,
            dumps(structured),
            ((RawKey(b"trace\xc3("), b"00-abc"),),
            reason="corrupt-record",
            layer="wire",
            needs=CORRUPT_RECORD,
            event_id=structured["id"],
        ),
    ]


def _duplicate_key_items() -> list[Item]:
    # The same key twice: parsers disagree on which one counts (one may check the first while
    # another acts on the last), so the record is refused whichever it would be.
    emp = GROUPS["duplicates"]
    other = GROUPS["bytes"]
    cases = [
        ("envelope-id", '"id": "{id}"', '"id": "{id}", "id": "adv-bad-dup-other"'),
        (
            "envelope-type",
            '"type": "review.completed.v1"',
            '"type": "review.completed.v1", "type": "course.completed.v1"',
        ),
        (
            "data-employee_id",
            f'"employee_id": "{emp}"',
            f'"employee_id": "{emp}", "employee_id": "{other}"',
        ),
        ("rating", '"rating": 1.0', '"rating": 1.0, "rating": 7.0'),
    ]
    items = []
    for name, old, new in cases:
        event_id = f"adv-bad-dup-{name}"
        value = dumps(review(emp, event_id)).decode()
        old, new = old.format(id=event_id), new.format(id=event_id)
        assert old in value, name
        items.append(
            Item(
                f"duplicates/{name}",
                emp.encode(),
                value.replace(old, new, 1).encode(),
                needs=DUPLICATE_KEYS,
                event_id=event_id,
            )
        )
    return items


def _date_items() -> list[Item]:
    cases = [
        ("time", "0001-01-01T00:00:00Z"),
        ("time", "9999-12-31T23:59:59Z"),
        ("completed_at", "0001-01-01T00:00:00Z"),
        ("completed_at", "9999-12-31T23:59:59Z"),
        ("completed_at", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
        ("completed_at", "9999-12-31T23:59:59-12:00"),  # after year 9999 in UTC
    ]
    items = []
    for (attribute, when), emp in zip(cases, DATE_KEYS, strict=True):
        event_id = f"adv-bad-date-{attribute}-{when[:4]}{when[19:]}"
        doc = review(emp, event_id)
        if attribute == "time":
            doc["time"] = when
        else:
            doc["data"]["completed_at"] = when
        items.append(
            Item(
                f"dates/{attribute}={when}",
                emp.encode(),
                dumps(doc),
                needs=DATE_WINDOW,
                event_id=event_id,
            )
        )
    return items


def sized(employee: str, event_id: str, size: int) -> bytes:
    """A review event of exactly `size` bytes (its comments padded)."""
    bare = dumps(review(employee, event_id, comments=""))
    assert size >= len(bare), size
    value = dumps(review(employee, event_id, comments="x" * (size - len(bare))))
    assert len(value) == size
    return value


SIZES = [MAX_EVENT_BYTES + 1, ONE_MIB - 1, ONE_MIB, ONE_MIB + 1, 3 * ONE_MIB]
"""Oversized values: just over the bridge's limit, and across the 1 MiB line."""


def _size_items() -> list[Item]:
    items = []
    for size, emp in zip(SIZES, SIZE_KEYS, strict=True):
        event_id = f"adv-bad-size-{size}"
        items.append(
            Item(
                f"oversized/{size}-bytes",
                emp.encode(),
                sized(emp, event_id, size),
                reason="oversized",
                truncated=size > ONE_MIB,
                needs=TRUNCATION if size >= ONE_MIB - 4096 else "",
                event_id=event_id,
            )
        )
    return items


def _tombstone_items() -> list[Item]:
    emp = GROUPS["tombstones"]
    binary = review(emp, "adv-bad-tombstone-binary")
    return [
        Item("tombstones/null-value", emp.encode(), None, reason="empty"),
        Item(
            "tombstones/null-value-with-binary-headers",
            emp.encode(),
            None,
            tuple(binary_headers(binary)),
            reason="empty",
        ),
        Item("tombstones/empty-value", emp.encode(), b"", reason="empty"),
        # (A null key with a null value too: kafka-python's producer refuses to send that.)
        Item("tombstones/empty-value-and-null-key", None, b"", reason="empty"),
    ]


def _key_items() -> list[Item]:
    # A valid review of one known employee under the key of another known employee: it would
    # be ordered with the wrong employee's events.
    owner = GROUPS["bytes"]
    event_id = "adv-bad-key-of-another"
    return [
        Item(
            f"key/review-of-{owner}-under-another-employees-key",
            GROUPS["key"].encode(),
            dumps(review(owner, event_id)),
            reason="key-mismatch",
            layer="wire",
            event_id=event_id,
        )
    ]


def build() -> list[Item]:
    """Every item of the corpus, in the order they are published."""
    items = [
        *_bytes_items(),
        *_envelope_items(),
        *_data_items(),
        *_binary_items(),
        *_null_header_items(),
        *_header_key_items(),
        *_duplicate_key_items(),
        *_date_items(),
        *_size_items(),
        *_tombstone_items(),
        *_key_items(),
    ]
    names = [i.name for i in items]
    assert len(set(names)) == len(names), "corpus item names repeat"
    return items


CORPUS = build()


def by_name(name: str) -> Item:
    """The corpus item called `name`."""
    return next(i for i in CORPUS if i.name == name)


def valid_review(employee: str, event_id: str) -> dict[str, Any]:
    """The valid review each key gets after the corpus (the bridge must still deliver it)."""
    return review(employee, event_id)
