"""EmployeeLearningWorkflow with stubbed activities, as Temporal's own samples test workflows.

Fast checks of the workflow's own rules beside the integration tests that run the real
activities: the stubs answer what the real ones would (same activity names, same models) and
can fail on demand, so dependency outages are cheap to reproduce here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from support.delivery import state_until
from support.temporal import time_skipping_env
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from schemas.events import REVIEW_COMPLETED, InboundEvent, ReviewCompleted
from schemas.learning import (
    Employee,
    EmployeeLearningState,
    EmployeeWorkflowInput,
    Enrollment,
    EventRetry,
    LearningPlan,
    LearningPolicy,
    MailResult,
    NoticeRequest,
    PolicySnapshot,
    ReviewPlan,
    ReviewPlanRequest,
)
from schemas.lms import BulkEnrollRequest, BulkEnrollResult, EnrollOutcome
from schemas.outbound import PublishBatch, PublishResult
from schemas.skills import Gap, Plan, PlanItem
from workflows.employee import EmployeeLearningWorkflow

QUEUE = "stubbed"
POLICY = LearningPolicy(approval_hours_over=None, approval_cost_over=None)


def employee(eid: str) -> Employee:
    return Employee(
        id=eid,
        name=f"Person {eid}",
        email=f"{eid.lower()}@example.com",
        role_id="role",
        role_title="Role",
        manager_id="M",
    )


def plan_for(req: ReviewPlanRequest) -> LearningPlan:
    gap = Gap(skill_id="s1", skill_name="Skill one", target=4, current=2, size=2, weight=1)
    item = PlanItem(course_id="c1", title="Course one", hours=4, closes=("s1",), reason="s1 2→4")
    return LearningPlan(
        employee_id=req.employee_id,
        event_id=req.event_id,
        policy="stub",
        gaps=[gap],
        plan=Plan(items=(item,), total_hours=4),
    )


@dataclass
class Stubs:
    """The activities, answering as the real ones do; `smtp_up` and `planning_fails` steer."""

    smtp_up: bool = True
    planning_fails: set[str] = field(default_factory=set)
    sent: list[str] = field(default_factory=list)

    @activity.defn(name="policy.current")
    async def policy(self, employee_id: str) -> PolicySnapshot:
        return PolicySnapshot(policy=POLICY, lms_task_queue=QUEUE, lms_local=True, version="v")

    @activity.defn(name="directory.get_employee")
    async def get_employee(self, employee_id: str) -> Employee:
        return employee(employee_id)

    @activity.defn(name="skills.plan_review")
    async def plan_review(self, req: ReviewPlanRequest) -> ReviewPlan:
        if req.event_id in self.planning_fails:
            # What planning raises for a permanent problem (activities.errors.permanent).
            raise ApplicationError("role role is not in the directory", non_retryable=True)
        return ReviewPlan(employee=employee(req.employee_id), planned=plan_for(req))

    @activity.defn(name="lms.enroll_many")
    async def enroll_many(self, req: BulkEnrollRequest) -> BulkEnrollResult:
        now = datetime.now(UTC)
        return BulkEnrollResult(
            outcomes=[
                EnrollOutcome(
                    employee_id=r.employee_id,
                    course_id=r.course_id,
                    enrollment=Enrollment(
                        enrollment_id=f"lms-{r.employee_id}-{r.course_id}",
                        employee_id=r.employee_id,
                        course_id=r.course_id,
                        status="enrolled",
                        due=r.due,
                        reason=r.reason,
                        source_event=r.source_event,
                        created_at=now,
                    ),
                )
                for r in req.requests
            ]
        )

    @activity.defn(name="events.publish_many")
    async def publish_many(self, batch: PublishBatch) -> list[PublishResult]:
        return []

    @activity.defn(name="mail.send_notice")
    async def send_notice(self, req: NoticeRequest) -> MailResult:
        if not self.smtp_up:
            # What the SMTP sender raises with the server down: retryable.
            raise ApplicationError("SMTP unreachable: connection refused")
        self.sent.append(req.dedupe_key)
        return MailResult(dedupe_key=req.dedupe_key, message_id="<m@t>", sent_now=True)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await time_skipping_env()
    yield environment
    await environment.shutdown()


def review(eid: str, event_id: str) -> InboundEvent:
    body = ReviewCompleted.model_validate_json(
        json.dumps(
            {
                "review_id": f"rev-{event_id}",
                "employee_id": eid,
                "reviewer_id": "M",
                "reviewer_kind": "manager",
                "cycle": "2026-H2",
                "completed_at": "2026-11-20T09:00:00Z",
                "ratings": [{"skill_id": "s1", "rating": 2}],
            }
        )
    )
    return InboundEvent(event_id=event_id, type=REVIEW_COMPLETED, source="stub", review=body)


async def run_with(env: WorkflowEnvironment, stubs: Stubs, eid: str, first: InboundEvent):
    worker = Worker(
        env.client,
        task_queue=QUEUE,
        workflows=[EmployeeLearningWorkflow],
        activities=[
            stubs.policy,
            stubs.get_employee,
            stubs.plan_review,
            stubs.enroll_many,
            stubs.publish_many,
            stubs.send_notice,
        ],
    )
    handle = await env.client.start_workflow(
        EmployeeLearningWorkflow.run,
        EmployeeWorkflowInput(employee_id=eid, policy=POLICY, lms_local=True),
        id=f"employee-{eid}-{uuid.uuid4().hex[:6]}",
        task_queue=QUEUE,
        start_signal="event",
        start_signal_args=[first],
    )
    return worker, handle


async def test_smtp_down_holds_up_no_enrollment_and_the_email_follows(
    env: WorkflowEnvironment,
) -> None:
    stubs = Stubs(smtp_up=False)
    worker, handle = await run_with(env, stubs, "S1", review("S1", "r1"))
    async with worker:
        state: EmployeeLearningState = await state_until(
            handle, lambda s: any(i.status == "enrolled" for i in s.items)
        )
        item = state.items[0]
        assert item.notice is not None and item.notice.status == "pending"
        assert state.emails_in_flight == 1 and state.history[0].outcome == "enrolled"
        stubs.smtp_up = True
        state = await state_until(handle, lambda s: s.emails_in_flight == 0, timeout=30)
        assert state.items[0].notice is not None and state.items[0].notice.status == "sent"
        assert stubs.sent == ["enrollment:r1"]


async def test_a_permanent_failure_fails_that_event_only_and_hr_can_retry_it(
    env: WorkflowEnvironment,
) -> None:
    stubs = Stubs(planning_fails={"r1"})
    worker, handle = await run_with(env, stubs, "S2", review("S2", "r1"))
    async with worker:
        state = await state_until(handle, lambda s: len(s.history) == 1)
        assert state.history[0].outcome == "failed" and "not in the directory" in (
            state.history[0].error or ""
        )
        await handle.signal(EmployeeLearningWorkflow.event, review("S2", "r2"))
        state = await state_until(handle, lambda s: len(s.history) == 2)
        assert state.history[1].outcome == "enrolled"  # the next event is not held up
        stubs.planning_fails.clear()
        retried = await handle.execute_update(
            EmployeeLearningWorkflow.retry_events, EventRetry(event_id="r1", by="HR1")
        )
        assert retried == ["r1"]
        state = await state_until(handle, lambda s: len(s.history) == 3)
        assert state.history[2].event_id == "r1" and state.history[2].outcome != "failed"
