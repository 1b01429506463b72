"""Which inbound events are the same event: pure rules of the employee workflow's dedupe.

CloudEvents ids are unique per source, so an event is known by its source and id together (a
course completion from the LMS may carry the id of an earlier review from the review tool).
The same (source, id) with the same content is a duplicate (a redelivery, a DLQ replay) and is
dropped; with other content it is a conflict: the first stands, and the conflict is recorded.
"""

from __future__ import annotations

import hashlib

from schemas.events import InboundEvent

SEPARATOR = "\x1f"
"""Joins source and id in a dedupe key; bare ids (recorded before sources counted) have none."""

_CONTENT = {"type", "review", "completion", "employee_update", "objectives"}


def dedupe_key(ev: InboundEvent) -> str:
    """The key an event is remembered by: its source and its id."""
    return f"{ev.source}{SEPARATOR}{ev.event_id}"


def content_digest(ev: InboundEvent) -> str:
    """A short digest of what the event says (type and data; not its time or Kafka position)."""
    body = ev.model_dump_json(include=_CONTENT)
    return hashlib.sha256(body.encode()).hexdigest()[:16]
