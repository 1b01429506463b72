"""The CloudEvents 1.0 envelope, the strict model base and the schema URI convention.

Every event on a talentloop topic is a CloudEvents 1.0 envelope whose ``type`` carries a
version (``review.completed.v1``) so that a v2 can run beside v1, and whose ``dataschema``
points at the JSON Schema of that exact type.

``dataschema`` convention: the absolute URI ``SCHEMA_BASE_URI + "<type>.json"``, e.g.
``https://talentloop.dev/schemas/json/review.completed.v1.json``. Its path mirrors the
checked-in file ``schemas/json/review.completed.v1.json`` whose ``$id`` is that URI. On input
``dataschema`` is optional; when present it must be the URI of the event's type.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

SCHEMA_BASE_URI = "https://talentloop.dev/schemas/json/"
"""Base of every ``dataschema`` URI; the file name is ``<type>.json``."""

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
"""Kafka ``content-type`` header of a structured-mode CloudEvent."""

Id = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/-]+$")
]
"""An identifier: employee, review, course, skill, objective ids."""

EventId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""A CloudEvent id (any non-empty string up to 256 characters)."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""A short non-empty human text: a title, a cycle name, a department."""


def schema_uri(event_type: str) -> str:
    """The ``dataschema`` URI of an event type.

    Args:
        event_type: A versioned event type, e.g. ``review.completed.v1``.

    Returns:
        E.g. ``https://talentloop.dev/schemas/json/review.completed.v1.json``.
    """
    return f"{SCHEMA_BASE_URI}{event_type}.json"


class StrictModel(BaseModel):
    """Base of every event model: unknown fields rejected, no coercion, immutable.

    Attribute docstrings become field descriptions in the published JSON Schemas.
    """

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


DataT = TypeVar("DataT")


class CloudEvent(StrictModel, Generic[DataT]):
    """A CloudEvents 1.0 envelope in structured JSON mode, ``data`` typed by the event type."""

    specversion: Literal["1.0"]
    """CloudEvents version: always "1.0"."""
    id: EventId
    """Unique per source; the idempotency key: a redelivered event keeps its id."""
    source: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    """URI-reference of the producing system, e.g. "urn:review-tool:prod"."""
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    """Versioned event type, e.g. "review.completed.v1"."""
    subject: Annotated[str, StringConstraints(max_length=256)] | None = None
    """What the event is about within the source, e.g. the employee id."""
    time: AwareDatetime | None = None
    """When the occurrence happened (RFC 3339 with a UTC offset)."""
    datacontenttype: Literal["application/json"] | None = None
    """Media type of ``data``; JSON only."""
    dataschema: Annotated[str, StringConstraints(max_length=512)] | None = None
    """URI of the JSON Schema of this event type (see ``schema_uri``)."""
    data: DataT
    """The event's payload, validated by the type's model."""
