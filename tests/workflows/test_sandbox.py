"""Tests run workflows in the sandbox, and the sandbox refuses a non-deterministic call."""

from __future__ import annotations

import uuid
from datetime import timedelta

from restricted import ReadsTheClock
from support.polling import eventually
from support.temporal import time_skipping_env
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from talentloop.service.config import Settings
from talentloop.service.worker import workflow_runner


def test_the_test_session_runs_workflows_in_the_sandbox() -> None:
    assert Settings().workflow_sandbox
    assert isinstance(workflow_runner(Settings()), SandboxedWorkflowRunner)
    assert isinstance(workflow_runner(Settings(workflow_sandbox=False)), UnsandboxedWorkflowRunner)


async def test_the_sandbox_fails_the_task_of_a_workflow_reading_the_clock() -> None:
    env = await time_skipping_env()
    async with env:
        queue = f"sandbox-{uuid.uuid4()}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[ReadsTheClock],
            workflow_runner=workflow_runner(Settings()),
        ):
            handle = await env.client.start_workflow(
                ReadsTheClock.run,
                id=f"clock-{uuid.uuid4()}",
                task_queue=queue,
                execution_timeout=timedelta(minutes=5),
            )

            async def task_failures() -> list[str]:
                history = await handle.fetch_history()
                return [
                    e.workflow_task_failed_event_attributes.failure.message
                    for e in history.events
                    if e.HasField("workflow_task_failed_event_attributes")
                ]

            failures = await eventually(task_failures, timeout=10, interval=0.1)
    assert failures and "datetime.datetime.now" in failures[0]
