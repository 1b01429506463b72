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
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.lms.activities import as_application_error
from activities.lms.ledger import COMPLETED
from activities.lms.port import LmsError, LmsPort, TrackedCompletions
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
    period_s: float | None = Field(None, gt=0)
    """Seconds between polls (the Schedule's period): one poll stays inside it."""
    calls_per_second: float | None = Field(None, gt=0)
    """The LMS rate limit the poll plans with: at most this x period x `BUDGET_SHARE` checks."""
    page_size: int = Field(50, ge=1, le=1000)
    """Enrolments checked between two heartbeats (and ledger writes)."""
    max_checks: int | None = Field(None, ge=1)
    """At most this many enrolments checked per poll (default: from rate limit and period)."""


BUDGET_SHARE = 0.8
"""Share of a poll period (at the rate limit) a poll may spend: enrolment and withdrawal
calls share the LMS with it."""
MAX_POLL_S = 240.0
"""Longest a poll spends checking (its activity times out after 5 minutes)."""

log = logging.getLogger(__name__)


def poll_budget(req: PollRequest) -> int | None:
    """Enrolments one poll checks at most; None: no limit (no rate limit or period known)."""
    if req.max_checks is not None:
        return req.max_checks
    if req.calls_per_second is None or req.period_s is None:
        return None
    return max(1, int(req.calls_per_second * req.period_s * BUDGET_SHARE))


def polls_per_cycle(open_enrollments: int, budget: int | None) -> int:
    """How many polls it takes to check every open enrolment once."""
    if budget is None or open_enrollments <= budget:
        return 1
    return math.ceil(open_enrollments / budget)


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
        """Completions not delivered yet.

        An LMS that tracks the enrolments it made (Moodle) is asked about its open ones,
        least recently checked first, in pages, within the poll's budget (`poll_budget`);
        any other LMS is asked for completions since the cursor (less the overlap).
        """
        if isinstance(self._lms, TrackedCompletions) and self._lms.ledger is not None:
            return self._poll_tracked(self._lms, req)
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
            raise as_application_error(err) from None
        latest = max((_utc(c.completed_at) for c in found), default=cursor)
        return PolledCompletions(
            source_lms=self._lms.name,
            completions=self._undelivered(found),
            next_since=max(cursor, latest),
        )

    def _undelivered(self, found: list[Completion]) -> list[Completion]:
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
        return list(fresh.values())

    def _poll_tracked(self, lms: TrackedCompletions, req: PollRequest) -> PolledCompletions:
        """Check open tracked enrolments, page by page, heartbeating the progress.

        A retried attempt resumes from its last heartbeat (the poll's start and what it
        found); enrolments already checked since that start are not asked again. When the
        open enrolments exceed one poll's budget, the poll checks its share and the next
        polls go on (least recently checked first): it warns and sets the gauge
        ``talentloop_lms_poll_periods`` rather than outgrowing its period.
        """
        ledger = lms.ledger
        assert ledger is not None
        started, found = datetime.now(UTC), dict[str, Completion]()
        checked = 0
        if activity.in_activity() and activity.info().heartbeat_details:
            last = activity.info().heartbeat_details[0]
            started = datetime.fromisoformat(last["started"])
            checked = int(last["checked"])
            found = {c["enrollment_id"]: Completion.model_validate(c) for c in last["found"]}
        budget = poll_budget(req)
        open_now = ledger.count_open()
        periods = polls_per_cycle(open_now, budget)
        if periods > 1:
            log.warning(
                "completion poll: %d open enrolments at %s calls/s take %d polls to check "
                "once; each poll checks %d",
                open_now,
                req.calls_per_second,
                periods,
                budget,
            )
        if activity.in_activity():
            meter = activity.metric_meter()
            meter.create_gauge(
                "talentloop_lms_poll_periods", "Polls it takes to check every open enrolment"
            ).set(periods)
            meter.create_gauge(
                "talentloop_lms_open_enrollments", "Open enrolments the completion poll checks"
            ).set(open_now)
        deadline = time.monotonic() + min(MAX_POLL_S, (req.period_s or MAX_POLL_S) * BUDGET_SHARE)
        while budget is None or checked < budget:
            if time.monotonic() >= deadline:
                log.warning("completion poll: stopped at its time limit after %d checks", checked)
                break
            size = req.page_size if budget is None else min(req.page_size, budget - checked)
            page = ledger.least_recently_checked(size, checked_before=started)
            if not page:
                break
            results: dict[str, str | None] = {}
            try:
                for t in page:
                    try:
                        when = lms.check_completion(t)
                    except LmsError as err:
                        if err.retryable:
                            raise
                        results[t.enrollment_id] = err.code
                        log.info("completion poll: %s skipped: %s", t.enrollment_id, err.code)
                        continue
                    results[t.enrollment_id] = None
                    if when is not None:
                        found[t.enrollment_id] = Completion(
                            enrollment_id=t.enrollment_id,
                            employee_id=t.employee_id,
                            course_id=t.course_id,
                            completed_at=when,
                            source_lms=lms.name,
                        )
            except LmsError as err:
                ledger.mark_checked(results, now=started)
                raise as_application_error(err) from None
            finally:
                checked += len(results)
                if activity.in_activity():
                    activity.heartbeat(
                        {
                            "started": started.isoformat(),
                            "checked": checked,
                            "found": [c.model_dump(mode="json") for c in found.values()],
                        }
                    )
            ledger.mark_checked(results, now=started)
        return PolledCompletions(
            source_lms=lms.name,
            completions=self._undelivered(sorted(found.values(), key=lambda c: c.completed_at)),
            next_since=started,
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
        if isinstance(self._lms, TrackedCompletions) and self._lms.ledger is not None:
            self._lms.ledger.close([c.enrollment_id for c in req.completions], COMPLETED)
        return added
