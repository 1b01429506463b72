"""The Temporal Schedule that polls the LMS for completions (`CompletionPollWorkflow`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
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


async def ensure_completion_poll_schedule(
    client: Client,
    task_queue: str,
    every: timedelta = timedelta(minutes=5),
    req: PollRequest | None = None,
) -> str:
    """Create the completion-poll Schedule, or update it to these settings; returns its id."""
    schedule = completion_poll_schedule(task_queue, every, req or PollRequest())
    try:
        await client.create_schedule(COMPLETION_POLL_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(COMPLETION_POLL_SCHEDULE_ID).update(update)
    return COMPLETION_POLL_SCHEDULE_ID
