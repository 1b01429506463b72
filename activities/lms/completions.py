"""Completions back from the LMS: the poller's ledger, and completions as CloudEvents.

A Temporal Schedule runs `workflows.completion_poll.CompletionPollWorkflow`, which asks
``lms.poll_completions`` for completions since the stored cursor (less an overlap, so late
writes are not missed), signals each to the employee's workflow, then ``lms.record_deliveries``
stores them and moves the cursor. Deduplication is by enrollment id twice over: the ledger
skips what was delivered, and the event id (`completion_event_id`) is the same on every path
(poll, ``talentloop lms complete``), so the employee workflow drops repeats.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.lms.activities import as_application_error
from activities.lms.port import LmsError, LmsPort
from activities.store.tables import LmsCompletionDeliveryRow, LmsPollCursorRow
from schemas.events import COURSE_COMPLETED, EVENT_TYPES
from schemas.lms import Completion, CompletionsRequest, PolledCompletions


class PollRequest(BaseModel):
    """One poll: how far back to look the first time, and how much to overlap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overlap_s: int = Field(600, ge=0)
    first_lookback_s: int = Field(7 * 86400, ge=0)
    limit: int = Field(500, ge=1, le=10_000)
    employee_ids: list[str] | None = None
    course_ids: list[str] | None = None
    activity_task_queue: str | None = None
    """Task queue of the LMS activities (the rate-limited LMS queue); None: the workflow's."""


class RecordDeliveries(BaseModel):
    """Completions handed to the employee workflows, and the cursor to move to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_lms: str
    completions: list[Completion]
    next_since: datetime


def completion_event_id(source_lms: str, enrollment_id: str) -> str:
    """The CloudEvent id of an enrollment's completion: the same from every path."""
    return f"lms-completion-{source_lms}-{enrollment_id}"


def completion_source(source_lms: str) -> str:
    """The CloudEvent ``source`` of completions reported by an LMS."""
    return f"urn:talentloop:lms:{source_lms}"


def completion_event(c: Completion, *, now: datetime | None = None) -> dict[str, Any]:
    """A structured-mode ``course.completed.v1`` CloudEvent of a completion (validated)."""
    spec = EVENT_TYPES[COURSE_COMPLETED]
    data: dict[str, Any] = {
        "employee_id": c.employee_id,
        "course_id": c.course_id,
        "completed_at": c.completed_at.isoformat(),
        "source_lms": c.source_lms,
    }
    if c.score is not None:
        data["score"] = c.score
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": completion_event_id(c.source_lms, c.enrollment_id),
        "source": completion_source(c.source_lms),
        "type": COURSE_COMPLETED,
        "subject": c.employee_id,
        "time": (now or datetime.now(UTC)).isoformat(),
        "datacontenttype": "application/json",
        "dataschema": spec.schema_uri,
        "data": data,
    }
    spec.envelope.model_validate_json(json.dumps(doc))
    return doc


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CompletionPollActivities:
    """The completion poller's side: read the LMS, keep the ledger and the cursor."""

    def __init__(self, lms: LmsPort, sessions: sessionmaker[Session]) -> None:
        """Build over the LMS adapter to poll and the app database holding the ledger."""
        self._lms = lms
        self._sessions = sessions

    def cursor(self) -> datetime | None:
        """Where the last poll of this LMS got to."""
        with self._sessions() as s:
            row = s.get(LmsPollCursorRow, self._lms.name)
            return None if row is None else _utc(row.since)

    @activity.defn(name="lms.poll_completions")
    def poll(self, req: PollRequest) -> PolledCompletions:
        """Completions since the cursor (less the overlap) that were not delivered yet."""
        now = datetime.now(UTC)
        cursor = self.cursor() or now - timedelta(seconds=req.first_lookback_s)
        try:
            found = self._lms.completions(
                CompletionsRequest(
                    since=cursor - timedelta(seconds=req.overlap_s),
                    limit=req.limit,
                    employee_ids=req.employee_ids,
                    course_ids=req.course_ids,
                )
            )
        except LmsError as err:
            raise as_application_error(err) from err
        ids = [c.enrollment_id for c in found]
        with self._sessions() as s:
            delivered = set(
                s.scalars(
                    select(LmsCompletionDeliveryRow.enrollment_id).where(
                        LmsCompletionDeliveryRow.source_lms == self._lms.name,
                        LmsCompletionDeliveryRow.enrollment_id.in_(ids),
                    )
                )
            )
        fresh: dict[str, Completion] = {}
        for c in found:
            if c.enrollment_id not in delivered:
                fresh.setdefault(c.enrollment_id, c)
        latest = max((_utc(c.completed_at) for c in found), default=cursor)
        return PolledCompletions(
            source_lms=self._lms.name,
            completions=list(fresh.values()),
            next_since=max(cursor, latest),
        )

    @activity.defn(name="lms.record_deliveries")
    def record(self, req: RecordDeliveries) -> int:
        """Store delivered completions (once per enrollment) and move the cursor forward."""
        now = datetime.now(UTC)
        added = 0
        with self._sessions.begin() as s:
            for c in req.completions:
                if s.get(LmsCompletionDeliveryRow, (req.source_lms, c.enrollment_id)) is None:
                    s.add(
                        LmsCompletionDeliveryRow(
                            source_lms=req.source_lms,
                            enrollment_id=c.enrollment_id,
                            employee_id=c.employee_id,
                            course_id=c.course_id,
                            completed_at=c.completed_at,
                            delivered_at=now,
                        )
                    )
                    added += 1
            cursor = s.get(LmsPollCursorRow, req.source_lms, with_for_update=True)
            if cursor is None:
                s.add(
                    LmsPollCursorRow(
                        source_lms=req.source_lms, since=req.next_since, updated_at=now
                    )
                )
            elif _utc(cursor.since) < _utc(req.next_since):
                cursor.since, cursor.updated_at = req.next_since, now
        return added
