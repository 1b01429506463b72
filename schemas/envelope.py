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

from functools import cache
from typing import Annotated, Any, Generic, Literal, TypeVar, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, create_model

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


AnyCloudEvent = CloudEvent[dict[str, Any]]
"""An envelope whose data is not yet typed."""

Direction = Literal["inbound", "outbound"]
"""Inbound events are produced by other systems and consumed by talentloop; outbound the reverse."""


def model_name(event_type: str) -> str:
    """The envelope model's name of a type: ``review.completed.v1`` -> ``ReviewCompletedV1``."""
    return "".join(part[:1].upper() + part[1:] for part in event_type.replace("_", ".").split("."))


@cache
def envelope_model(
    event_type: str, data_model: type[BaseModel], direction: Direction
) -> type[CloudEvent[Any]]:
    """The envelope of one event type: ``type`` fixed, ``data`` typed, ``dataschema`` pinned.

    Inbound envelopes keep ``subject``, ``time``, ``datacontenttype`` and ``dataschema``
    optional (``dataschema``, when given, must be the type's URI). Outbound envelopes, which
    talentloop builds, always carry all four.

    Args:
        event_type: The versioned type, e.g. ``review.completed.v1``.
        data_model: The model of ``data``.
        direction: "inbound" or "outbound".

    Returns:
        A ``CloudEvent`` subclass named after the type, e.g. ``ReviewCompletedV1``.
    """
    type_literal = Literal[event_type]  # type: ignore[valid-type]
    uri_literal = Literal[schema_uri(event_type)]  # type: ignore[valid-type]
    fields: dict[str, Any] = {"type": (type_literal, Field(description="The event type."))}
    if direction == "outbound":
        fields |= {
            "subject": (Id, Field(description="The Kafka key: employee or objective set id.")),
            "time": (AwareDatetime, Field(description="When the occurrence happened.")),
            "datacontenttype": (Literal["application/json"], Field(description="Always JSON.")),
            "dataschema": (uri_literal, Field(description="URI of this type's JSON Schema.")),
        }
    else:
        fields["dataschema"] = (
            uri_literal | None,
            Field(None, description="URI of this type's JSON Schema, if given."),
        )
    doc = f"CloudEvents 1.0 envelope of `{event_type}` ({direction}), structured JSON mode."
    model = create_model(
        model_name(event_type),
        __base__=CloudEvent[data_model],  # type: ignore[valid-type]
        __doc__=doc,
        __module__=__name__,
        **fields,
    )
    return cast("type[CloudEvent[Any]]", model)
