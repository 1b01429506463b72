"""EmployeeLearningWorkflow: one per employee (`employee-<id>`), fed by signal-with-start.

It deduplicates events by CloudEvent id, turns a completed review into gaps, a plan,
enrollments and one notification email, keeps an audit line per event for the `state`
query, and continues as new before its history grows long.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.directory import DirectoryActivities
    from activities.lms.activities import LmsActivities
    from activities.mail.activities import MailActivities
    from activities.outbound import OutboundActivities
    from activities.planning import PlanningActivities
    from schemas.events import REVIEW_COMPLETED, InboundEvent
    from schemas.learning import (
        EmployeeLearningState,
        EmployeeWorkflowInput,
        EnrolledCourse,
        Enrollment,
        EnrollRequest,
        NoticeRequest,
        PlanRequest,
        ProcessedEvent,
    )
    from schemas.outbound import (
        ENROLLMENT_CREATED,
        EnrollmentCreated,
        PublishRequest,
        outbound_event,
    )
    from workflows.search_attributes import EMPLOYEE_ID, LEARNING_STATE

SEEN_IDS_KEPT = 2000
"""How many recent event ids are carried across continue-as-new for deduplication."""
EVENTS_PER_RUN = 200
"""Events handled in one run before continuing as new."""
HISTORY_KEPT = 50
"""Audit lines kept in the queryable state (all are in the Temporal history)."""
IDLE_BEFORE_CONTINUE = timedelta(days=30)
"""A run idle this long continues as new, so no run's history lives for years."""

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
_TIMEOUT = timedelta(seconds=60)


def workflow_id_for(employee_id: str) -> str:
    """The workflow id of an employee's learning workflow."""
    return f"employee-{employee_id}"


@workflow.defn
class EmployeeLearningWorkflow:
    """Owns one employee's learning plan, from review to enrollment and notification."""

    def __init__(self) -> None:
        """Empty state; `run` restores it from its input."""
        self._queue: list[InboundEvent] = []
        self._seen: list[str] = []
        self._seen_set: set[str] = set()
        self._state = EmployeeLearningState(employee_id="")

    def _remember(self, event_id: str) -> None:
        self._seen.append(event_id)
        self._seen_set.add(event_id)
        if len(self._seen) > SEEN_IDS_KEPT:
            self._seen_set.discard(self._seen.pop(0))

    @workflow.signal
    def event(self, ev: InboundEvent) -> None:
        """Accept an event; one whose id was seen already is counted and dropped."""
        if ev.event_id in self._seen_set:
            self._state = self._state.model_copy(
                update={"duplicates_ignored": self._state.duplicates_ignored + 1}
            )
            return
        self._remember(ev.event_id)
        self._state = self._state.model_copy(
            update={"events_received": self._state.events_received + 1}
        )
        self._queue.append(ev)

    @workflow.query
    def state(self) -> EmployeeLearningState:
        """The employee's enrollments and the audit of recent events."""
        return self._state

    @workflow.run
    async def run(self, inp: EmployeeWorkflowInput) -> None:
        """Handle events in arrival order until it is time to continue as new."""
        self._state = inp.state or EmployeeLearningState(employee_id=inp.employee_id)
        for event_id in inp.seen_event_ids:
            self._remember(event_id)
        self._queue = list(inp.pending) + self._queue
        workflow.upsert_search_attributes(
            [EMPLOYEE_ID.value_set(inp.employee_id), LEARNING_STATE.value_set("idle")]
        )
        handled = 0
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self._queue), timeout=IDLE_BEFORE_CONTINUE
                )
            except TimeoutError:
                break
            while self._queue and handled < EVENTS_PER_RUN:
                ev = self._queue.pop(0)
                self._record(await self._handle(inp, ev))
                handled += 1
            if handled >= EVENTS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            EmployeeWorkflowInput(
                employee_id=inp.employee_id,
                due_days=inp.due_days,
                seen_event_ids=list(self._seen),
                pending=list(self._queue),
                state=self._state,
            )
        )

    def _record(self, line: ProcessedEvent) -> None:
        history = [*self._state.history, line][-HISTORY_KEPT:]
        enrollments = [*self._state.enrollments, *line.enrolled]
        self._state = self._state.model_copy(
            update={"history": history, "enrollments": enrollments}
        )
        status = "failed" if line.error else ("enrolled" if enrollments else "idle")
        workflow.upsert_search_attributes([LEARNING_STATE.value_set(status)])

    async def _announce(self, enrollment: Enrollment, cause_id: str) -> None:
        """Publish `enrollment.created` (its id derives from the cause: a retry repeats it)."""
        event = outbound_event(
            ENROLLMENT_CREATED,
            EnrollmentCreated(
                enrollment_id=enrollment.enrollment_id,
                employee_id=enrollment.employee_id,
                course_id=enrollment.course_id,
                due=enrollment.due,
                reason=enrollment.reason,
                source_event_id=cause_id,
            ),
            cause_id=cause_id,
            time=workflow.now(),
        )
        await workflow.execute_activity_method(
            OutboundActivities.publish,
            PublishRequest.of(event),
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )

    async def _handle(self, inp: EmployeeWorkflowInput, ev: InboundEvent) -> ProcessedEvent:
        if ev.type != REVIEW_COMPLETED or ev.review is None:
            return ProcessedEvent(event_id=ev.event_id, type=ev.type, outcome="recorded")
        try:
            return await self._after_review(inp, ev)
        except ActivityError as err:
            cause = err.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(err)
            workflow.logger.warning("event %s failed: %s", ev.event_id, reason)
            return ProcessedEvent(
                event_id=ev.event_id, type=ev.type, outcome="failed", error=reason
            )

    async def _after_review(self, inp: EmployeeWorkflowInput, ev: InboundEvent) -> ProcessedEvent:
        assert ev.review is not None
        employee = await workflow.execute_activity_method(
            DirectoryActivities.get_employee,
            inp.employee_id,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )
        planned = await workflow.execute_activity_method(
            PlanningActivities.plan_after_review,
            PlanRequest(employee=employee, event_id=ev.event_id, review=ev.review),
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )
        due = ev.review.completed_at.date() + timedelta(days=inp.due_days)
        enrolled: list[EnrolledCourse] = []
        for item in planned.plan.items:
            enrollment = await workflow.execute_activity_method(
                LmsActivities.enroll,
                EnrollRequest(
                    employee_id=employee.id,
                    course_id=item.course_id,
                    due=due,
                    reason=item.reason,
                    source_event=ev.event_id,
                ),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            if enrollment.source_event == ev.event_id:
                await self._announce(enrollment, ev.event_id)
                enrolled.append(
                    EnrolledCourse(
                        course_id=item.course_id,
                        title=item.title,
                        hours=item.hours,
                        due=enrollment.due,
                        reason=item.reason,
                    )
                )
        uncoverable = [f"{u.gap.skill_name}: {u.reason}" for u in planned.plan.uncoverable]
        emails: list[str] = []
        if enrolled:
            sent = await workflow.execute_activity_method(
                MailActivities.send_notice,
                NoticeRequest(
                    dedupe_key=f"enrollment:{ev.event_id}",
                    template="enrollment",
                    employee=employee,
                    courses=enrolled,
                    uncoverable=uncoverable,
                ),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            emails.append(sent.message_id)
        return ProcessedEvent(
            event_id=ev.event_id,
            type=ev.type,
            outcome="enrolled" if enrolled else "no-new-enrollment",
            gaps=planned.gaps,
            enrolled=enrolled,
            uncoverable=uncoverable,
            emails=emails,
        )
