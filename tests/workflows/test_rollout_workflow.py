"""StrategyRolloutWorkflow under the time-skipping test server: the approval's SLA, escalation
and default; who may decide; canary, health gate and waves over real employee workflows, with
continue-as-new; and the released recording-only version's histories replaying unchanged.

The real activities run against SQLite and a real Kafka-protocol broker (rollout.completed)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from support.polling import eventually
from support.temporal import time_skipping_env
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.objectives import ObjectiveActivities
from activities.rollout.fanout import page, rollout_event_id, scope_of
from activities.store.engine import open_engine, session_factory
from activities.store.goals import GoalRow
from activities.store.tables import EmployeeRow, ObjectiveApplicationRow, ObjectiveSetRow
from schemas.rollout import ObjectiveSetEvent, ReconcilePage, RolloutAction, RolloutProgress
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.dev.devstack import DevStack
from talentloop.dev.seed import seed
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.worker import running_worker
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for
from workflows.rollout import StrategyRolloutWorkflow
from workflows.rollout_reconcile import ReconcileInput, RolloutReconcileWorkflow
from workflows.rollout_rules import SLA_DEFAULT_BY

HISTORIES = Path(__file__).parent / "rollout_histories"
"""Histories of released StrategyRolloutWorkflow versions (never re-recorded or edited)."""

RECORD = os.environ.get("TALENTLOOP_RECORD_ROLLOUT_HISTORIES", "")
"""A version folder name: store this run's rollout histories there (`keep_history`)."""

HR = "T-HR1"
EMPLOYEES = 14


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("rollout")
    settings = private_settings(
        state,
        database_url=f"sqlite:///{state / 'app.db'}",
        task_queue="rollout-timeskip",
        rollout_approvers=[HR, "T-HR2"],
        rollout_escalate_to="T-HR2",
        rollout_approval_sla_hours=24,
        rollout_approval_default="reject",
        rollout_canary_count=4,
        rollout_canary_share=0.0,
        rollout_wave_size=4,
        rollout_batch_size=2,
        rollout_gate_poll_seconds=5,
        rollout_gate_wait_seconds=600,
        rollout_history_events=100,
        approval_hours_over=None,
        approval_cost_over=None,
    )
    seed(session_factory(open_engine(settings.db_url)), settings.onet_dir, employees=EMPLOYEES)
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
    async with running_worker(environment.client, settings):
        yield environment
    await environment.shutdown()


def objective_set(set_id: str, version: int = 1) -> ObjectiveSet:
    """A set whose one objective applies to everyone."""
    return ObjectiveSet(
        id=set_id,
        version=version,
        effective_from=date(2026, 1, 1),
        objectives=(
            Objective(
                id="programming",
                title="Everyone codes",
                requirements=(ObjectiveRequirement(skill_id="onet:2.B.3.e", target=5.0),),
            ),
        ),
    )


async def start(client: Client, settings: Settings, s: ObjectiveSet) -> WorkflowHandle[Any, Any]:
    event = ObjectiveSetEvent(event_id=f"ev-{s.id}-{s.version}", source="tests", objective_set=s)
    return await client.start_workflow(
        StrategyRolloutWorkflow.run, event, id=event.workflow_id, task_queue=settings.task_queue
    )


async def awaiting(handle: WorkflowHandle[Any, Any]) -> RolloutProgress:
    async def ask() -> RolloutProgress | None:
        return await handle.query(StrategyRolloutWorkflow.progress)

    found: RolloutProgress = await eventually(
        ask,
        until=lambda p: p is not None and p.status == "awaiting-approval" and p.preview,
        timeout=30,
    )
    return found


async def refused(handle: WorkflowHandle[Any, Any], update: Any, action: RolloutAction) -> str:
    """The validator's message refusing `update`."""
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(update, action)
    return str(getattr(caught.value.cause, "message", caught.value.cause))


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With TALENTLOOP_RECORD_ROLLOUT_HISTORIES=VERSION, keep the run's history for replay."""
    if RECORD:
        folder = HISTORIES / RECORD
        folder.mkdir(parents=True, exist_ok=True)
        history = await handle.fetch_history()
        with (folder / f"{name}.json").open("x") as out:  # never overwrite a kept history
            out.write(history.to_json())


@pytest.mark.parametrize(
    "path",
    sorted(HISTORIES.rglob("*.json")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
async def test_released_rollout_histories_replay(path: Path) -> None:
    replayer = Replayer(
        workflows=[StrategyRolloutWorkflow, EmployeeLearningWorkflow],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(path.stem, path.read_text()), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure
    commit = (path.parent / "RECORDED_AT").read_text().split()[0]
    assert len(commit) == 40


async def test_an_undecided_rollout_escalates_then_the_default_rejects_it(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    handle = await start(env.client, settings, objective_set("t-sla"))
    await awaiting(handle)

    await env.sleep(timedelta(hours=25))
    progress = await handle.query(StrategyRolloutWorkflow.progress)
    assert progress is not None and progress.status == "awaiting-approval"
    assert [a.action for a in progress.audit] == ["submitted", "escalated"]
    assert "escalated to T-HR2" in progress.audit[-1].reason

    result = await handle.result()  # another SLA passes: the default applies
    assert result.status == "rejected"
    assert result.audit[-1].action == "rejected" and result.audit[-1].by == SLA_DEFAULT_BY
    assert "default (reject)" in result.reason
    with sessions() as s:  # a rejected version is never in force
        assert s.get(ObjectiveSetRow, ("t-sla", 1)) is None
    await keep_history(handle, "sla_default_reject")


async def test_only_hr_approvers_decide_then_canary_gate_and_waves_apply_everyone_once(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    handle = await start(env.client, settings, objective_set("t-waves"))
    await awaiting(handle)

    refusal = await refused(
        handle, StrategyRolloutWorkflow.approve, RolloutAction(by="T-NOBODY", reason="me")
    )
    assert "not an HR rollout approver" in refusal
    assert "say why" in await refused(handle, StrategyRolloutWorkflow.reject, RolloutAction(by=HR))
    refusal = await refused(
        handle, StrategyRolloutWorkflow.resume, RolloutAction(by=HR, reason="too early")
    )
    assert "not paused" in refusal
    waiting = await awaiting(handle)
    assert waiting.preview is not None and not waiting.preview.unavailable
    assert waiting.preview.in_scope == EMPLOYEES
    approved = await handle.execute_update(
        StrategyRolloutWorkflow.approve, RolloutAction(by=HR, reason="Q1 plan")
    )
    assert approved.audit[-1].action == "approved" and approved.audit[-1].by == HR

    result: RolloutProgress = await handle.result()
    with sessions() as s:
        everyone = sorted(s.scalars(select(EmployeeRow.id).where(EmployeeRow.active.is_(True))))
        applied = s.scalar(
            select(func.count()).where(
                ObjectiveApplicationRow.set_id == "t-waves", ObjectiveApplicationRow.version == 1
            )
        )
    assert result.status == "completed"
    assert result.in_scope == len(everyone) == result.signalled
    assert result.failed == 0 and result.pending == 0
    assert applied == len(everyone)
    # The preview the approver saw is what the rollout did (seats are not binding here).
    assert result.preview is not None and result.enrollments is not None
    assert result.enrollments == result.preview.enrollments_create
    kinds = [w.kind for w in result.waves]
    assert kinds[0] == "canary" and result.waves[0].signalled == 4
    assert all(w.signalled <= 4 for w in result.waves[1:]) and len(kinds) >= 3
    actions = [a.action for a in result.audit]
    assert actions[:2] == ["submitted", "approved"] and "gate passed" in actions

    # Every employee handled the rollout's event exactly once.
    for employee_id in everyone:
        state = await env.client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee_id)
        ).query(EmployeeLearningWorkflow.state)
        seen = [
            h
            for h in state.history
            if h.event_id == rollout_event_id("rollout-t-waves-v1", employee_id)
        ]
        assert len(seen) == 1 and seen[0].outcome != "failed", employee_id

    # The history stayed bounded: the rollout continued as new on the way.
    assert result.runs >= 2
    assert len((await handle.fetch_history()).events) < 150
    await keep_history(handle, "canary_gate_waves")


async def test_a_newer_version_supersedes_an_older_rollout_at_its_first_batch(
    env: WorkflowEnvironment, settings: Settings
) -> None:
    older = await start(env.client, settings, objective_set("t-super", 1))
    newer = await start(env.client, settings, objective_set("t-super", 2))
    await awaiting(older)
    await awaiting(newer)
    await newer.execute_update(
        StrategyRolloutWorkflow.approve, RolloutAction(by=HR, reason="v2 replaces v1")
    )
    assert (await newer.result()).status == "completed"

    await older.execute_update(
        StrategyRolloutWorkflow.approve, RolloutAction(by="T-HR2", reason="late")
    )
    result: RolloutProgress = await older.result()
    assert result.status == "superseded" and result.reason == "superseded by version 2"
    assert result.signalled <= 2  # one batch at most
    assert result.audit[-1].action == "superseded"


async def test_the_reconciliation_applies_the_version_in_force_to_employees_behind(
    env: WorkflowEnvironment, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:  # after test_only_hr_approvers...: t-waves v1 applied to all
        model = s.scalars(select(EmployeeRow).limit(1)).one()
        s.add(
            EmployeeRow(
                id="T-JOINER",
                name="New Joiner",
                email="joiner@example.com",
                role_id=model.role_id,
                department=model.department,
            )
        )
        missed = s.get(ObjectiveApplicationRow, (model.id, "t-waves"))
        assert missed is not None
        s.delete(missed)
    totals = await env.client.execute_workflow(
        RolloutReconcileWorkflow.run,
        ReconcileInput(page=ReconcilePage(limit=5)),
        id="reconcile-test",
        task_queue=settings.task_queue,
    )
    assert totals.behind >= 2 and totals.failed == 0

    def applied(employee_id: str) -> int:
        with sessions() as s:
            row = s.get(ObjectiveApplicationRow, (employee_id, "t-waves"))
            return 0 if row is None else row.version

    for employee_id in ("T-JOINER", model.id):  # the employees' workflows apply it
        await eventually(lambda e=employee_id: applied(e), until=lambda v: v == 1, timeout=30)

    again = await env.client.execute_workflow(
        RolloutReconcileWorkflow.run,
        ReconcileInput(page=ReconcilePage(limit=5)),
        id="reconcile-test-2",
        task_queue=settings.task_queue,
    )
    with sessions() as s:
        behind_now = s.scalar(
            select(func.count())
            .select_from(EmployeeRow)
            .where(
                EmployeeRow.active.is_(True),
                ~EmployeeRow.id.in_(
                    select(ObjectiveApplicationRow.employee_id).where(
                        ObjectiveApplicationRow.set_id == "t-waves"
                    )
                ),
            )
        )
    assert behind_now == 0 and again.looked_at >= totals.looked_at


def test_employees_with_a_goal_aligned_to_the_set_are_in_its_scope(
    sessions: sessionmaker[Session],
) -> None:
    narrow = ObjectiveSet(
        id="t-goals",
        version=1,
        effective_from=date(2026, 1, 1),
        objectives=(
            Objective(
                id="nobody",
                title="A department nobody works in",
                departments=("No such department",),
                requirements=(ObjectiveRequirement(skill_id="onet:2.B.3.e", target=5.0),),
            ),
        ),
    )
    ObjectiveActivities(sessions).record(
        ObjectiveSetEvent(event_id="ev-goals", source="tests", objective_set=narrow)
    )
    with sessions.begin() as s:
        employee_id = s.scalars(select(EmployeeRow.id).order_by(EmployeeRow.id)).first()
        assert employee_id is not None
        s.add(
            GoalRow(
                employee_id=employee_id,
                goal_id="g-1",
                title="Ship it",
                status="active",
                aligned_to=[{"objective_set_id": "t-goals", "objective_id": "nobody"}],
                skills=[],
                source_event="ev-goal-1",
                recorded_at=datetime.now(UTC),
            )
        )
    with sessions() as s:
        assert page(s, scope_of(s, "t-goals", 1), "", 100) == [employee_id]
