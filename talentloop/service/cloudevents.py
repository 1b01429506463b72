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

A structured-mode record that is valid takes a fast path with one parse (pydantic's): the
refusals above are decided without parsing the record a second time (`_fast_structured` says
how). Anything it is not sure of takes the full path, which finds the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from types import NoneType, UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    PlainValidator,
    ValidationError,
    WrapValidator,
)

from schemas.envelope import (
    CONTRACT_CONTEXT,
    InboundCloudEvent,
    json_media_type_problem,
)
from schemas.events import (
    COURSE_COMPLETED,
    EMPLOYEE_UPDATED,
    EVENT_TYPES,
    GOAL_CHANGED,
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
    GOAL_CHANGED: "goal",
}

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_SHOWN_KEY = re.compile(r"^[A-Za-z0-9_.:@/-]{1,64}$")
_TYPE_ATTRIBUTE = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9._-]{1,128})"')
"""A ``"type"`` attribute naming a type: the fast path's guess of the event's type."""
_KEY_TOKEN = re.compile(rb'"[ \t\n\r]*:')
"""The end of a JSON object key (a closing quote, then a colon); also matches inside strings."""
_QUOTE_SPACE = re.compile(rb'"[ \t\n\r]')
"""Whitespace after a quote: without it, every `_KEY_TOKEN` is a ``":`` (counted faster)."""
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
def _may_hold(annotation: Any, models: bool) -> bool:
    """Whether a value of this annotation may hold a date (anything not known not to).

    With ``models``, also whether it may hold a model, a dict or a list (a JSON object's keys,
    which the fast path counts).
    """
    origin = get_origin(annotation)
    if origin is Literal:
        return False
    if origin is Annotated:
        return _may_hold(get_args(annotation)[0], models)
    if origin in (Union, UnionType, list, tuple, set, frozenset, dict):
        if models and origin is dict:
            return True
        return any(_may_hold(a, models) for a in get_args(annotation) if a is not Ellipsis)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return models or bool(_date_fields(annotation))
        if issubclass(annotation, _SCALARS):
            return False
    return True


def _annotations(model: type[BaseModel]) -> dict[str, Any]:
    return {name: f.annotation for name, f in model.model_fields.items()}


@cache
def _date_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` that may hold a date, directly or nested (once per model)."""
    return tuple(n for n, a in _annotations(model).items() if _may_hold(a, False))


_REPLACING: Final = (BeforeValidator, WrapValidator, PlainValidator)
"""Validators that may make a value out of something else than the JSON they were given."""


def _replaces_input(annotation: Any) -> bool:
    """Whether a validator in `annotation` (at any depth) sees the input before its type does."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return any(isinstance(m, _REPLACING) for m in metadata) or _replaces_input(base)
    return any(_replaces_input(a) for a in get_args(annotation) if a is not Ellipsis)


@cache
def _nested_fields(model: type[BaseModel]) -> tuple[str, ...] | None:
    """The fields of `model` the fast path walks into (dates, models, dicts, lists).

    None when the model's set fields may name keys its JSON object did not have, so that
    counting them could hide a duplicate key: a validator that sees the input before the
    fields' types do (it may add keys, or build a model out of something else), or a field
    read from another key or path.
    """
    decorators = model.__pydantic_decorators__
    modes: list[str] = [d.info.mode for d in decorators.model_validators.values()]
    modes += [d.info.mode for d in decorators.field_validators.values()]
    if any(mode in ("before", "wrap", "plain") for mode in modes):
        return None
    for info in model.model_fields.values():
        if info.validation_alias is not None:
            return None
        if any(isinstance(m, _REPLACING) for m in info.metadata):
            return None
        if _replaces_input(info.annotation):
            return None
    return tuple(n for n, a in _annotations(model).items() if _may_hold(a, True))


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


class _Uncountable(Exception):
    """Raised by `_keys_and_dates` at a model whose keys it cannot count (`_nested_fields`)."""


_DATE: Final = "date"
_SEQUENCE: Final = "sequence"
_MAPPING: Final = "mapping"
_LEAF: Final = "leaf"
_UNCOUNTABLE: Final = "uncountable"
_kinds: dict[type, tuple[str, ...] | str] = {}
"""What `_keys_and_dates` does with a value of each type: a model's fields to walk, or one of
the markers above (looked up by type: ``isinstance`` against pydantic's classes is slow)."""


def _kind(cls: type) -> tuple[str, ...] | str:
    kind = _kinds.get(cls)
    if kind is None:
        if issubclass(cls, BaseModel):
            fields = _nested_fields(cls)
            kind = _UNCOUNTABLE if fields is None else fields
        elif issubclass(cls, date):
            kind = _DATE
        elif issubclass(cls, (list, tuple)):
            kind = _SEQUENCE
        elif issubclass(cls, dict):
            kind = _MAPPING
        else:
            kind = _LEAF
        _kinds[cls] = kind
    return kind


def _keys_and_dates(node: Any, counted: bool, found: list[date]) -> int:
    """Walk a validated event once: collect its dates into `found`, count its JSON keys.

    The count is the number of distinct keys of the JSON objects the event was validated from
    (each model's set fields, extension attributes included, and each dict's keys), or fewer
    where it cannot tell (a model or dict that is a default, not from the record, counts
    nothing: ``counted`` False). It is never more, which is what the fast path relies on.

    Raises:
        _Uncountable: at a model whose keys cannot be counted.
    """
    kind = _kind(type(node))
    if type(kind) is tuple:
        given = node.__pydantic_fields_set__
        keys = len(given) if counted else 0
        for name in kind:
            value = getattr(node, name)
            if value is not None:
                keys += _keys_and_dates(value, counted and name in given, found)
        return keys
    if kind is _DATE:
        found.append(node)
    elif kind is _SEQUENCE:
        keys = 0
        for item in node:
            if _kind(type(item)) == ():
                # A model with nothing to walk into (a review's ratings): only its keys.
                keys += len(item.__pydantic_fields_set__) if counted else 0
            else:
                keys += _keys_and_dates(item, counted, found)
        return keys
    elif kind is _MAPPING:
        keys = len(node) if counted else 0
        for item in node.values():
            keys += _keys_and_dates(item, counted, found)
        return keys
    elif kind is _UNCOUNTABLE:
        raise _Uncountable
    return 0


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


class _Bounds:
    """A `DateWindow` placed around one record's time (naive UTC)."""

    __slots__ = ("earliest", "first_day", "last_day", "latest")

    def __init__(self, record_time: datetime | None, window: DateWindow) -> None:
        at = _utc_naive(record_time or datetime.now(UTC))
        self.earliest = _shift(at, -window.past)
        self.latest = _shift(at, window.future)
        self.first_day = self.earliest.date()
        self.last_day = _shift(at, window.planned).date()

    def holds(self, value: date) -> bool:
        """Whether a date-time or a calendar date lies within the bounds."""
        if isinstance(value, datetime):
            return self.earliest <= _utc_naive(value) <= self.latest
        return self.first_day <= value <= self.last_day

    def span(self, value: date) -> str:
        """The bounds that apply to `value`, as the refusal names them."""
        if isinstance(value, datetime):
            return (
                f"{self.earliest.isoformat(timespec='seconds')}Z .. "
                f"{self.latest.isoformat(timespec='seconds')}Z"
            )
        return f"{self.first_day.isoformat()} .. {self.last_day.isoformat()}"


def _check_dates(event: BaseModel, bounds: _Bounds) -> None:
    """Refuse a date or date-time outside `bounds`, naming the first one's path."""
    found: list[tuple[str, date]] = []
    _dates(event, "", found)
    for path, value in found:
        if not bounds.holds(value):
            raise InvalidEvent(
                "schema-invalid",
                f"{path}: outside the accepted window {bounds.span(value)} "
                "(relative to the record's time)",
            )


# -- the fast path --------------------------------------------------------------------------


def _fast_structured(
    value: bytes,
    topic: str,
    expected_topics: Mapping[str, str] | None,
    record_time: datetime | None,
    window: DateWindow,
) -> Any:
    """A valid structured-mode event in one parse, or None: then the full path decides.

    The full path parses the record with Python's ``json`` (to find a key named twice, a
    ``NaN``, the type) and then again with pydantic. Here pydantic alone parses it, as the
    ``"type"`` attribute found by a regular expression says; the rest is decided without a
    second parse:

    - no key named twice: the validated event's keys (`_keys_and_dates`, never more than the
      distinct keys of the record's objects) number as many as the record's key tokens
      (`_KEY_TOKEN`, never fewer than its keys). Distinct keys <= keys <= tokens, so equal
      counts prove every key distinct. (A ``":`` inside a string value, or a model whose keys
      cannot be counted, only sends the record to the full path.)
    - ``NaN``, ``Infinity``, ``-Infinity`` (pydantic's parser accepts them): the bytes do not
      hold them anywhere. Otherwise pydantic's parser refuses whatever Python's refuses
      (invalid UTF-8, control characters, trailing data, ...), and the UTF-8 check is
      repeated for non-ASCII records.
    - the type's topic, the content type and the dates, as the full path checks them.

    Returns:
        The validated envelope, or None when the record is not accepted here (perhaps only
        because this path cannot be sure: the full path decides).
    """
    match = _TYPE_ATTRIBUTE.search(value)
    spec = EVENT_TYPES.get(match.group(1).decode()) if match is not None else None
    if spec is None or spec.direction != "inbound":
        return None
    if expected_topics is not None and expected_topics.get(spec.type, topic) != topic:
        return None
    if b"NaN" in value or b"Infinity" in value:
        return None
    if not value.isascii():
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        event = spec.envelope.model_validate_json(value, context=CONTRACT_CONTEXT)
    except ValidationError:
        return None
    ctype = event.datacontenttype
    if ctype is not None and ctype != "application/json" and json_media_type_problem(ctype):
        return None
    found: list[date] = []
    try:
        keys = _keys_and_dates(event, True, found)
    except _Uncountable:
        return None
    if _QUOTE_SPACE.search(value) is None:
        tokens = value.count(b'":')
    else:
        tokens = len(_KEY_TOKEN.findall(value))
    if keys != tokens or not _within(found, record_time, window):
        return None
    return event


def _within(found: list[date], record_time: datetime | None, window: DateWindow) -> bool:
    """Whether every date in `found` lies in `window` around `record_time` (None: now).

    Date-times are compared as they are (aware), which is exact; the full path's comparison
    in naive UTC (`_Bounds`) decides whatever this cannot (a naive value, the range's ends).
    """
    at = record_time or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        earliest, latest = at - window.past, at + window.future
    except OverflowError:
        return False
    days: _Bounds | None = None
    for value in found:
        if isinstance(value, datetime):
            if value.tzinfo is None or not earliest <= value <= latest:
                return False
        else:
            days = days or _Bounds(record_time, window)
            if not days.holds(value):
                return False
    return True


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
    if not binary:
        fast = _fast_structured(value, topic, expected_topics, record_time, window)
        if fast is not None:
            return _inbound(fast, topic, partition, offset)
    event = _validated(value, hdrs, binary, topic, expected_topics, record_time, window)
    return _inbound(event, topic, partition, offset)


def _validated(
    value: bytes,
    hdrs: dict[str, bytes],
    binary: bool,
    topic: str,
    expected_topics: Mapping[str, str] | None,
    record_time: datetime | None,
    window: DateWindow,
) -> Any:
    """The full path of `decode` (after the size check): the validated envelope, or the reason.

    Every record the fast path (`_fast_structured`) accepts, this accepts as the same event.

    Raises:
        InvalidEvent: As `decode` says.
    """
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
    _check_dates(event, _Bounds(record_time, window))
    return event


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
