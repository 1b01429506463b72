"""The Temporal Schedule that polls the LMS for completions (`CompletionPollWorkflow`)."""

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

from activities.lms.completions import PollRequest
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
