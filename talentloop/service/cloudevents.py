"""Decoding a Kafka record into a validated CloudEvent, or the reason it is invalid.

Every refusal is an `InvalidEvent` whose ``reason`` is the DLQ reason (the bridge writes it to
the ``dlq.reason`` header); ``detail`` names the field or header but never quotes a value
(values may be personal data). The rules and their reasons are listed in ``docs/contract.md``.

Besides the schema of the event's type (validated under ``CONTRACT_CONTEXT``) the decoder
refuses what would otherwise be resolved silently:

- a JSON object naming a key twice, anywhere in the record (one parser would keep the first
  value, another the last): ``schema-invalid``;
- a binary-mode header naming an attribute twice, or whose value is not valid UTF-8:
  ``schema-invalid``;
- a date or time too far from the record's own timestamp (`DateWindow`): ``schema-invalid``;
- an event on another topic than its type's (with ``expected_topics``): ``wrong-topic``;
- a ``datacontenttype`` / binary ``content-type`` other than JSON in UTF-8:
  ``unsupported-content-type``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from types import NoneType, UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from schemas.envelope import (
    CONTRACT_CONTEXT,
    InboundCloudEvent,
    json_media_type_problem,
)
from schemas.events import (
    COURSE_COMPLETED,
    EMPLOYEE_UPDATED,
    EVENT_TYPES,
    OBJECTIVES_CHANGED,
    REVIEW_COMPLETED,
    InboundEvent,
    ObjectivesChanged,
)
from schemas.rollout import ObjectiveSetEvent
from talentloop.service.config import Settings

_FIELD_FOR_TYPE = {
    REVIEW_COMPLETED: "review",
    COURSE_COMPLETED: "completion",
    EMPLOYEE_UPDATED: "employee_update",
}

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_SHOWN_KEY = re.compile(r"^[A-Za-z0-9_.:@/-]{1,64}$")
_BINARY_HEADERS = ("ce_", "content-type")
"""Headers that carry the event in binary mode: each may appear once."""


class InvalidEvent(ValueError):
    """A record that cannot be accepted; `reason` is a short machine-friendly cause."""

    def __init__(self, reason: str, detail: str) -> None:
        """Build the error from a reason code and a human detail (no personal data)."""
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DateWindow:
    """How far an event's dates and times may lie from the record's timestamp.

    The bounds are relative to the Kafka record's timestamp, not to the clock, so that a
    replay from the DLQ or a backfill later decides as the first delivery did. Every
    date-time (the envelope's ``time``, ``completed_at``, ...) must lie within ``past`` before
    to ``future`` after it; every calendar date (an objective set's ``effective_from``, an
    objective's ``due``, ``active_from``, ``active_until``) within ``past`` before to
    ``planned`` after it (objectives are set ahead of time).

    Attributes:
        past: How long before the record a date may lie (default 5 years: 1827 days).
        future: How long after the record a date-time may lie (default 1 day: producers'
            clocks and time zones differ).
        planned: How long after the record a calendar date may lie (default 10 years:
            3653 days).

    """

    past: timedelta = timedelta(days=1827)
    future: timedelta = timedelta(days=1)
    planned: timedelta = timedelta(days=3653)


DEFAULT_WINDOW: Final = DateWindow()
"""The window `decode` applies unless given another: 5 years before to 1 day after the
record (calendar dates: to 10 years after)."""


def inbound_topics(settings: Settings) -> dict[str, str]:
    """The topic of each inbound event type, for `decode`'s ``expected_topics``.

    Args:
        settings: The settings naming the topics (``topic_*``).

    Returns:
        ``{"review.completed.v1": "hr.reviews", ...}`` for every inbound type.
    """
    return {t: s.topic(settings) for t, s in EVENT_TYPES.items() if s.direction == "inbound"}


def window_of(settings: Settings) -> DateWindow:
    """The date window the settings configure (``TALENTLOOP_EVENT_*_DAYS``)."""
    return DateWindow(
        past=timedelta(days=settings.event_past_days),
        future=timedelta(days=settings.event_future_days),
        planned=timedelta(days=settings.event_planned_days),
    )


def record_time_of(timestamp_ms: int | None) -> datetime | None:
    """A Kafka record's timestamp (milliseconds since the epoch) as `decode`'s ``record_time``.

    Args:
        timestamp_ms: ``ConsumerRecord.timestamp``; None or negative when the record has none.

    Returns:
        The time in UTC, or None (then `decode` uses the current time).
    """
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _validation_summary(err: ValidationError) -> str:
    """Field paths and messages only: never the offending values (they may be personal)."""
    parts = []
    for e in err.errors()[:5]:
        path = ".".join(str(p) for p in e["loc"])
        parts.append(f"{path}: {e['msg']}" if path else e["msg"])
    return "; ".join(parts)


# -- JSON without ambiguity -----------------------------------------------------------------


class _DuplicateKey(Exception):
    """Raised by the object hook at the first object that names a key twice."""


_DUPLICATE: Final = object()
"""Marker key the tagging hook puts in an object that names a key twice (never a str)."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


def _tagging_object(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    obj: dict[Any, Any] = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                obj[_DUPLICATE] = key
                break
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise InvalidEvent("not-json", f"{name} is not a JSON number (RFC 8259)")


_UNIQUE_KEYS: Final = json.JSONDecoder(
    object_pairs_hook=_unique_object, parse_constant=_no_constant
)
_TAGGING: Final = json.JSONDecoder(object_pairs_hook=_tagging_object)


def _key_text(key: str) -> str:
    return key if _SHOWN_KEY.fullmatch(key) else "<key>"


def _duplicate_path(node: Any, path: str) -> str | None:
    """The path of the first key named twice in a document parsed by `_tagging_object`."""
    if isinstance(node, dict):
        if _DUPLICATE in node:
            key = _key_text(node[_DUPLICATE])
            return f"{path}.{key}" if path else key
        for key, value in node.items():
            if key is _DUPLICATE:
                continue
            found = _duplicate_path(value, f"{path}.{_key_text(key)}" if path else _key_text(key))
            if found is not None:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _duplicate_path(value, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _json(value: bytes, where: str = "") -> Any:
    """Parse UTF-8 JSON, refusing a key named twice in any object (`where` prefixes paths)."""
    try:
        text = value.decode("utf-8")
        try:
            return _UNIQUE_KEYS.decode(text)
        except _DuplicateKey:
            # Parse again to name the key; a document that is not JSON further on is not-json.
            tagged = _TAGGING.decode(text)
        raise InvalidEvent("schema-invalid", f"duplicate JSON key {_duplicate_path(tagged, where)}")
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidEvent("not-json", str(err)) from err
    except RecursionError as err:
        raise InvalidEvent("not-json", "nested too deeply") from err


# -- structured and binary mode -------------------------------------------------------------


def _structured(value: bytes) -> dict[str, Any]:
    doc = _json(value)
    if not isinstance(doc, dict) or "specversion" not in doc:
        raise InvalidEvent("not-cloudevent", "no CloudEvents 'specversion' attribute")
    return doc


def _headers(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, bytes]:
    """Headers by lower-cased name; in binary mode a CloudEvents header given twice is refused.

    (Structured mode reads no header, so repeats do not matter there.)
    """
    out: dict[str, bytes] = {}
    repeated: list[str] = []
    for name, raw in headers:
        key = name.lower()
        if key in out:
            repeated.append(key)
        # Kafka allows a header without a value.
        out[key] = raw or b""
    if "ce_specversion" in out:
        for key in repeated:
            if key.startswith(_BINARY_HEADERS):
                raise InvalidEvent("schema-invalid", f"header {_key_text(key)} given twice")
    return out


def _header_text(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent(
            "schema-invalid", f"header {_key_text(name)} is not valid UTF-8"
        ) from None


def _binary(value: bytes, headers: dict[str, bytes]) -> dict[str, Any]:
    """Rebuild a structured event from binary mode: `ce_` headers and a JSON data body.

    Every ``ce_<attribute>`` header becomes an attribute, extension attributes (traceparent,
    ...) included, as structured mode has them.
    """
    doc: dict[str, Any] = {}
    for name, raw in headers.items():
        if name.startswith("ce_"):
            attribute = name.removeprefix("ce_")
            if attribute == "data":
                raise InvalidEvent("schema-invalid", "header ce_data: data is the record value")
            doc[attribute] = _header_text(name, raw)
    ctype = _header_text("content-type", headers.get("content-type", b"application/json"))
    problem = json_media_type_problem(ctype)
    if problem is not None:
        raise InvalidEvent("unsupported-content-type", problem)
    doc["data"] = _json(value, "data")
    return doc


# -- dates ----------------------------------------------------------------------------------


_SCALARS: Final = (str, int, float, bool, bytes, NoneType)


@cache
def _may_hold_dates(annotation: Any) -> bool:
    """Whether a value of this annotation may hold a date (anything not known not to)."""
    origin = get_origin(annotation)
    if origin is Literal:
        return False
    if origin is Annotated:
        return _may_hold_dates(get_args(annotation)[0])
    if origin in (Union, UnionType, list, tuple, set, frozenset, dict):
        return any(_may_hold_dates(a) for a in get_args(annotation) if a is not Ellipsis)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return bool(_date_fields(annotation))
        if issubclass(annotation, _SCALARS):
            return False
    return True


@cache
@functools.cache
def _date_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` that may hold a date, directly or nested (once per model)."""
    annotations: dict[str, Any] = {n: f.annotation for n, f in model.model_fields.items()}
    return tuple(name for name, a in annotations.items() if _may_hold_dates(a))


def _dates(node: Any, path: str, found: list[tuple[str, date]]) -> None:
    """Collect every date and date-time in a validated event, with its path, into `found`."""
    if isinstance(node, BaseModel):
        for name in _date_fields(type(node)):
            value = getattr(node, name)
            if value is not None:
                _dates(value, f"{path}.{name}" if path else name, found)
    elif isinstance(node, date):
        found.append((path, node))
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _dates(item, f"{path}[{i}]", found)
    elif isinstance(node, dict):
        for key, item in node.items():
            _dates(item, f"{path}.{_key_text(str(key))}", found)


def _shift(moment: datetime, by: timedelta) -> datetime:
    """`moment` + `by`, clamped to the representable range."""
    try:
        return moment + by
    except OverflowError:
        return datetime.max if by > timedelta(0) else datetime.min


def _utc_naive(moment: datetime) -> datetime:
    """`moment` in UTC without tzinfo (a naive one is taken as UTC); clamped at the range."""
    offset = moment.utcoffset()
    naive = moment.replace(tzinfo=None)
    return naive if not offset else _shift(naive, -offset)


def _check_dates(event: BaseModel, record_time: datetime | None, window: DateWindow) -> None:
    """Refuse a date or date-time outside `window` around `record_time` (None: now)."""
    found: list[tuple[str, date]] = []
    _dates(event, "", found)
    if not found:
        return
    at = _utc_naive(record_time or datetime.now(UTC))
    earliest, latest = _shift(at, -window.past), _shift(at, window.future)
    first_day, last_day = earliest.date(), _shift(at, window.planned).date()
    for path, value in found:
        if isinstance(value, datetime):
            if earliest <= _utc_naive(value) <= latest:
                continue
            span = f"{earliest.isoformat(timespec='seconds')}Z .. "
            span += f"{latest.isoformat(timespec='seconds')}Z"
        else:
            if first_day <= value <= last_day:
                continue
            span = f"{first_day.isoformat()} .. {last_day.isoformat()}"
        raise InvalidEvent(
            "schema-invalid",
            f"{path}: outside the accepted window {span} (relative to the record's time)",
        )


# -- decode ---------------------------------------------------------------------------------


def decode(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    topic: str,
    partition: int,
    offset: int,
    max_bytes: int,
    record_time: datetime | None = None,
    expected_topics: Mapping[str, str] | None = None,
    window: DateWindow = DEFAULT_WINDOW,
) -> InboundEvent | ObjectiveSetEvent:
    """Decode and validate one record into what the bridge hands to Temporal.

    Args:
        value: The record's value.
        headers: The record's headers (binary mode: ``ce_*`` and ``content-type``).
        topic: The topic the record was read from.
        partition: Its partition.
        offset: Its offset.
        max_bytes: Larger values are refused ("oversized") before parsing.
        record_time: The record's Kafka timestamp (`record_time_of`); the event's dates are
            bounded relative to it, so that a replay decides as the first delivery did.
            None: now. A naive time is taken as UTC.
        expected_topics: The topic of each inbound type (`inbound_topics`); an event read
            from another topic is refused ("wrong-topic"). None: not checked.
        window: How far from ``record_time`` dates may lie (`DateWindow`; by default 5 years
            before to 1 day after, calendar dates up to 10 years after).

    Returns:
        An employee event (review, completion, employee update) or an objective set.

    Raises:
        InvalidEvent: the record is empty, too large, not JSON, not a CloudEvent, of an
            unknown or outbound type, on the wrong topic, not JSON in UTF-8, or its data does
            not match the type's schema (a key named twice, a date out of the window
            included); never another exception for bytes and headers as Kafka gives them.
    """
    if value is None or not value:
        raise InvalidEvent("empty", "record has no value")
    if not isinstance(value, bytes):
        # A caller's mistake (a consumer with a value deserializer), not a bad record.
        raise TypeError(f"a record value is bytes, not {type(value).__name__}")
    if len(value) > max_bytes:
        raise InvalidEvent("oversized", f"{len(value)} bytes > {max_bytes}")
    hdrs = _headers(headers)
    binary = "ce_specversion" in hdrs
    doc = _binary(value, hdrs) if binary else _structured(value)
    etype = doc.get("type")
    spec = EVENT_TYPES.get(etype) if isinstance(etype, str) else None
    if spec is None or spec.direction != "inbound":
        raise InvalidEvent("unknown-type", f"type {etype!r} is not an inbound event type")
    if expected_topics is not None and spec.type in expected_topics:
        expected = expected_topics[spec.type]
        if topic != expected:
            raise InvalidEvent("wrong-topic", f"{spec.type} belongs on {expected}, not {topic}")
    ctype = doc.get("datacontenttype")
    if isinstance(ctype, str):
        problem = json_media_type_problem(ctype)
        if problem is not None:
            raise InvalidEvent("unsupported-content-type", problem)
    try:
        raw = json.dumps(doc) if binary else value
        event = spec.envelope.model_validate_json(raw, context=CONTRACT_CONTEXT)
    except ValidationError as err:
        raise InvalidEvent("schema-invalid", _validation_summary(err)) from err
    _check_dates(event, record_time, window)
    return _inbound(event, topic, partition, offset)


def _traceparent(event: Any) -> str | None:
    """The event's W3C ``traceparent`` if well-formed, else None.

    A malformed one is ignored, as W3C Trace Context asks: it never costs the event.
    """
    value = event.extensions.get("traceparent") if isinstance(event, InboundCloudEvent) else None
    if not isinstance(value, str) or _TRACEPARENT.fullmatch(value) is None:
        return None
    version, trace_id, parent_id, _flags = value.split("-")
    if version == "ff" or trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return value


def _inbound(
    event: Any, topic: str, partition: int, offset: int
) -> InboundEvent | ObjectiveSetEvent:
    if event.type == OBJECTIVES_CHANGED:
        assert isinstance(event.data, ObjectivesChanged)
        return ObjectiveSetEvent(
            event_id=event.id,
            source=event.source,
            objective_set=event.data.to_objective_set(),
            topic=topic,
            partition=partition,
            offset=offset,
        )
    return InboundEvent.model_validate(
        {
            "event_id": event.id,
            "type": event.type,
            "source": event.source,
            "time": event.time,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            _FIELD_FOR_TYPE[event.type]: event.data,
            "traceparent": _traceparent(event),
        }
    )
