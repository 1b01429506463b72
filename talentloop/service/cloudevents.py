"""Decoding a Kafka record into a validated CloudEvent, or the reason it is invalid."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

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

_FIELD_FOR_TYPE = {
    REVIEW_COMPLETED: "review",
    COURSE_COMPLETED: "completion",
    EMPLOYEE_UPDATED: "employee_update",
}


_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9._-]{1,128})"')
_ENVELOPE_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}
)


class InvalidEvent(ValueError):
    """A record that cannot be accepted; `reason` is a short machine-friendly cause."""

    def __init__(self, reason: str, detail: str) -> None:
        """Build the error from a reason code and a human detail (no personal data)."""
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _validation_summary(err: ValidationError) -> str:
    """Field paths and messages only: never the offending values (they may be personal)."""
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5]]
    return "; ".join(parts)


def _json(value: bytes) -> Any:
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidEvent("not-json", str(err)) from err
    except RecursionError as err:
        raise InvalidEvent("not-json", "nested too deeply") from err


def _structured(value: bytes) -> dict[str, Any]:
    doc = _json(value)
    if not isinstance(doc, dict) or "specversion" not in doc:
        raise InvalidEvent("not-cloudevent", "no CloudEvents 'specversion' attribute")
    return doc


def _binary(value: bytes, headers: dict[str, bytes]) -> dict[str, Any]:
    """Rebuild a structured event from binary mode: `ce_` headers and a JSON data body."""
    doc: dict[str, Any] = {}
    for name, raw in headers.items():
        attribute = name.removeprefix("ce_")
        # Extension attributes (traceparent, ...) are allowed in binary mode and not kept.
        if name.startswith("ce_") and attribute in _ENVELOPE_ATTRIBUTES:
            doc[attribute] = raw.decode("utf-8", errors="replace")
    ctype = headers.get("content-type", b"application/json").decode(errors="replace")
    if not ctype.startswith("application/json"):
        raise InvalidEvent("unsupported-content-type", ctype)
    doc["data"] = _json(value)
    return doc


def decode(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    topic: str,
    partition: int,
    offset: int,
    max_bytes: int,
) -> InboundEvent | ObjectiveSetEvent:
    """Decode and validate one record into what the bridge hands to Temporal.

    Returns:
        An employee event (review, completion, employee update) or an objective set.

    Raises:
        InvalidEvent: the record is empty, too large, not JSON, not a CloudEvent, of an
            unknown or outbound type, or its data does not match the type's schema.
    """
    if value is None or not value:
        raise InvalidEvent("empty", "record has no value")
    if len(value) > max_bytes:
        raise InvalidEvent("oversized", f"{len(value)} bytes > {max_bytes}")
    # Kafka allows a header without a value.
    hdrs = {k.lower(): v or b"" for k, v in headers}
    binary = "ce_specversion" in hdrs
    event = None if binary else _fast_structured(value)
    if event is not None:
        return _inbound(event, topic, partition, offset)
    doc = _binary(value, hdrs) if binary else _structured(value)
    etype = doc.get("type")
    spec = EVENT_TYPES.get(etype) if isinstance(etype, str) else None
    if spec is None or spec.direction != "inbound":
        raise InvalidEvent("unknown-type", f"type {etype!r} is not an inbound event type")
    try:
        raw = json.dumps(doc) if binary else value
        event = spec.envelope.model_validate_json(raw)
    except ValidationError as err:
        raise InvalidEvent("schema-invalid", _validation_summary(err)) from err
    return _inbound(event, topic, partition, offset)


def _fast_structured(value: bytes) -> Any:
    """The common case in one parse, or None.

    The first `"type"` names an inbound type and the record validates against it; anything
    else returns None and takes the slower path that finds the reason.
    """
    match = _TYPE.search(value)
    spec = EVENT_TYPES.get(match.group(1).decode()) if match else None
    if spec is None or spec.direction != "inbound":
        return None
    try:
        return spec.envelope.model_validate_json(value)
    except ValidationError:
        return None


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
        }
    )
