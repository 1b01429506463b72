"""The Temporal Schedules of the LMS: the completion poll and, for Moodle, the catalog sync."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from activities.lms.catalog_sync import SyncRequest
from activities.lms.completions import PollRequest
from talentloop.service.config import Settings
from workflows.catalog_sync import CATALOG_SYNC_SCHEDULE_ID, CatalogSyncWorkflow
from workflows.completion_poll import COMPLETION_POLL_SCHEDULE_ID, CompletionPollWorkflow


def completion_poll_schedule(task_queue: str, every: timedelta, req: PollRequest) -> Schedule:
    """A schedule starting one poll every ``every`` (a poll still running skips the next)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CompletionPollWorkflow.run,
            req,
            id=f"{COMPLETION_POLL_SCHEDULE_ID}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def poll_request(settings: Settings) -> PollRequest:
    """The scheduled poll: on the LMS queue, planned with the LMS rate limit and the period.

    The rate is the deployment's ``lms_rate_limit``, else (Moodle) the per-process
    ``moodle_calls_per_second``; the built-in LMS without a limit is polled without one.
    """
    rate = settings.lms_rate_limit
    if rate is None and settings.lms_adapter == "moodle" and settings.moodle_calls_per_second:
        rate = settings.moodle_calls_per_second
    return PollRequest(
        activity_task_queue=settings.lms_task_queue,
        period_s=settings.lms_poll_minutes * 60,
        calls_per_second=rate,
    )


def catalog_sync_schedule(task_queue: str, every: timedelta, req: SyncRequest) -> Schedule:
    """A schedule syncing the catalog from the LMS every ``every`` (never overlapping)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CatalogSyncWorkflow.run,
            req,
            id=f"{CATALOG_SYNC_SCHEDULE_ID}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def lms_schedules(settings: Settings) -> dict[str, Schedule]:
    """The LMS's Schedules by id: the completion poll; the catalog sync for Moodle."""
    schedules = {
        COMPLETION_POLL_SCHEDULE_ID: completion_poll_schedule(
            settings.task_queue,
            timedelta(minutes=settings.lms_poll_minutes),
            poll_request(settings),
        )
    }
    if settings.lms_adapter == "moodle":
        schedules[CATALOG_SYNC_SCHEDULE_ID] = catalog_sync_schedule(
            settings.task_queue,
            timedelta(minutes=settings.lms_sync_minutes),
            SyncRequest(activity_task_queue=settings.lms_task_queue),
        )
    return schedules
