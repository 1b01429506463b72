"""The CloudEvents 1.0 envelope, the strict model base and the schema URI convention.

Every event on a talentloop topic is a CloudEvents 1.0 envelope whose ``type`` carries a
version (``review.completed.v1``) so that a v2 can run beside v1, and whose ``dataschema``
points at the JSON Schema of that exact type.

``dataschema`` convention: the absolute URI ``SCHEMA_BASE_URI + "<type>.json"``, e.g.
``https://talentloop.dev/schemas/json/review.completed.v1.json``. Its path mirrors the
checked-in file ``schemas/json/review.completed.v1.json`` whose ``$id`` is that URI. On input
``dataschema`` is optional; when present it must be the URI of the event's type.

Inbound envelopes accept what CloudEvents 1.0 allows beyond the core attributes: extension
attributes (``traceparent``, ``tracestate``, ...: lower-case letters and digits, a string, a
boolean or an integer; null means absent) and a ``datacontenttype`` of ``application/json`` with
parameters (any case; a ``charset`` must be UTF-8). See ``docs/contract.md``.

Rules added to an event type after it shipped are checked only under ``CONTRACT_CONTEXT`` (the
decoder validates with it): events of that type already inside Temporal histories were
accepted without them, and a worker must still be able to read those histories.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, Final, Generic, Literal, TypeVar, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    model_validator,
)

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

CONTRACT_CONTEXT: Final[Mapping[str, Any]] = MappingProxyType({"talentloop.contract": True})
"""Validation context of an event entering talentloop (the decoder passes it).

Under it the rules added after a type shipped apply too (e.g. a joiner's ``name`` and
``email``); without it (a Temporal payload read back from a history) they do not, so old
histories stay readable.
"""

EXTENSION_NAME = r"^[a-z0-9]{1,64}$"
"""An extension attribute's name: lower-case ASCII letters and digits (CloudEvents 1.0 says
names SHOULD NOT exceed 20 characters; up to 64 are accepted)."""
EXTENSION_MAX_CHARS = 8192
"""Longest string value of an extension attribute (a W3C ``tracestate`` fits)."""
JSON_MEDIA_TYPE = (
    r"^[ \t]*[Aa][Pp][Pp][Ll][Ii][Cc][Aa][Tt][Ii][Oo][Nn]/[Jj][Ss][Oo][Nn][ \t]*(;[^\r\n]*)?$"
)
"""``application/json`` in any case, optionally with parameters (``; charset=utf-8``)."""

_EXTENSION_NAME = re.compile(EXTENSION_NAME)
_JSON_MEDIA_TYPE = re.compile(JSON_MEDIA_TYPE)
_CHARSET = re.compile(r"""^\s*charset\s*=\s*"?([^";\s]*)"?\s*$""", re.IGNORECASE)


def contract_checked(info: ValidationInfo) -> bool:
    """Whether a validation runs under ``CONTRACT_CONTEXT`` (an event entering talentloop)."""
    context = info.context
    return isinstance(context, Mapping) and bool(context.get("talentloop.contract"))


def json_media_type_problem(media_type: str) -> str | None:
    """Why a ``datacontenttype`` (or binary-mode ``content-type``) is not JSON, or None.

    Accepted: ``application/json`` in any case, with optional parameters; a ``charset``
    parameter must name UTF-8 (the only encoding JSON on the wire may use, RFC 8259).

    Args:
        media_type: The media type as sent.

    Returns:
        None when acceptable, else a short reason that quotes at most the media type.
    """
    shown = media_type[:100]
    if _JSON_MEDIA_TYPE.fullmatch(media_type) is None:
        return f"{shown!r} is not application/json"
    for parameter in media_type.split(";")[1:]:
        charset = _CHARSET.match(parameter)
        if charset is not None and charset.group(1).lower() not in ("utf-8", "utf8"):
            return f"{shown!r}: only UTF-8 is accepted"
    return None


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


def _extension_problem(name: str, value: object) -> str | None:
    """Why an extension attribute is not acceptable, or None."""
    if _EXTENSION_NAME.fullmatch(name) is None:
        return "an extension attribute's name is not 1-64 lower-case letters and digits"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return None
        return f"extension attribute {name!r}: an integer outside the 32-bit range"
    if isinstance(value, str):
        if len(value) <= EXTENSION_MAX_CHARS:
            return None
        return f"extension attribute {name!r}: longer than {EXTENSION_MAX_CHARS} characters"
    return f"extension attribute {name!r}: not a string, a boolean or an integer"


def _extensions_schema(schema: dict[str, Any]) -> None:
    """JSON Schema of the extension attributes an inbound envelope may carry."""
    schema["propertyNames"] = {"pattern": EXTENSION_NAME}
    schema["additionalProperties"] = {
        "description": "An extension attribute (e.g. traceparent): a string, a boolean or an "
        "integer; null means absent.",
        "anyOf": [
            {"type": "string", "maxLength": EXTENSION_MAX_CHARS},
            {"type": "boolean"},
            {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
            {"type": "null"},
        ],
    }


class InboundCloudEvent(CloudEvent[DataT], Generic[DataT]):
    """An envelope produced by another system: extension attributes are accepted.

    They are kept in ``extensions`` (``model_extra``); null values count as absent.
    """

    model_config = ConfigDict(extra="allow", json_schema_extra=_extensions_schema)

    @model_validator(mode="after")
    def _check_extensions(self) -> InboundCloudEvent[DataT]:
        for name, value in (self.model_extra or {}).items():
            problem = _extension_problem(name, value)
            if problem is not None:
                raise ValueError(problem)
        return self

    @property
    def extensions(self) -> dict[str, str | bool | int]:
        """The extension attributes with a value, by name."""
        return {k: v for k, v in (self.model_extra or {}).items() if v is not None}


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
    optional (``dataschema``, when given, must be the type's URI; ``datacontenttype``
    ``application/json`` in any case, with parameters) and accept extension attributes
    (`InboundCloudEvent`). Outbound envelopes, which talentloop builds, always carry all four
    and nothing else.

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
        base: type[CloudEvent[Any]] = CloudEvent[data_model]  # type: ignore[valid-type]
    else:
        fields["dataschema"] = (
            uri_literal | None,
            Field(None, description="URI of this type's JSON Schema, if given."),
        )
        fields["datacontenttype"] = (
            Annotated[str, StringConstraints(max_length=256, pattern=JSON_MEDIA_TYPE)] | None,
            Field(
                None,
                description="Media type of `data`: application/json (any case), parameters "
                "allowed; a charset must be UTF-8.",
            ),
        )
        base = InboundCloudEvent[data_model]  # type: ignore[valid-type]
    doc = f"CloudEvents 1.0 envelope of `{event_type}` ({direction}), structured JSON mode."
    model = create_model(
        model_name(event_type),
        __base__=base,
        __doc__=doc,
        __module__=__name__,
        **fields,
    )
    return cast("type[CloudEvent[Any]]", model)
