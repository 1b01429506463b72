"""CompletionPollWorkflow: one poll of an LMS's completions, run by a Temporal Schedule.

It asks for the completions not delivered yet, signals each to the employee's workflow as a
``course.completed.v1`` event (its id derived from the enrollment id, so the employee workflow
drops a repeat), then records them and moves the cursor. An employee without a running
workflow is counted, and the completion recorded: nobody is waiting for it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.calls import call_remote

with workflow.unsafe.imports_passed_through():
    from activities.lms.completions import (
        CompletionPollActivities,
        PollRequest,
        RecordDeliveries,
        completion_event_id,
        completion_source,
    )
    from schemas.events import COURSE_COMPLETED, CourseCompleted, InboundEvent
    from schemas.lms import Completion
    from workflows.employee import workflow_id_for

COMPLETION_POLL_SCHEDULE_ID = "lms-completion-poll"
"""The Schedule's id (one per deployment)."""


class PollOutcome(BaseModel):
    """What one poll did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    found: int
    signalled: int
    no_workflow: list[str]
    recorded: int


def completion_inbound_event(c: Completion) -> InboundEvent:
    """The event an employee workflow receives for a completion."""
    return InboundEvent(
        event_id=completion_event_id(c.source_lms, c.enrollment_id),
        type=COURSE_COMPLETED,
        source=completion_source(c.source_lms),
        time=c.completed_at,
        completion=CourseCompleted(
            employee_id=c.employee_id,
            course_id=c.course_id,
            completed_at=c.completed_at,
            score=c.score,
            source_lms=c.source_lms,
        ),
    )


@workflow.defn(name="CompletionPollWorkflow")
class CompletionPollWorkflow:
    """Poll the LMS once and hand every new completion to its employee's workflow."""

    @workflow.run
    async def run(self, req: PollRequest) -> PollOutcome:
        """Poll, signal, record."""
        polled = await call_remote(
            CompletionPollActivities.poll, req, "poll", task_queue=req.activity_task_queue
        )
        signalled = 0
        missing: list[str] = []
        for c in polled.completions:
            handle = workflow.get_external_workflow_handle(workflow_id_for(c.employee_id))
            try:
                await handle.signal("event", completion_inbound_event(c))
                signalled += 1
            except ApplicationError:
                missing.append(c.employee_id)
        recorded = await call_remote(
            CompletionPollActivities.record,
            RecordDeliveries(
                source_lms=polled.source_lms,
                completions=polled.completions,
                next_since=polled.next_since,
            ),
            "poll-record",
            task_queue=req.activity_task_queue,
        )
        return PollOutcome(
            found=len(polled.completions),
            signalled=signalled,
            no_workflow=missing,
            recorded=recorded,
        )
