"""`talentloop worker --processes N`: N worker processes poll the task queue; SIGTERM stops all."""

from __future__ import annotations

import signal

from support.cli import start_talentloop, talentloop
from support.polling import eventually
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from talentloop.dev.teststack import lane
from talentloop.service.config import Settings


async def pollers(client: Client, queue: str) -> set[str]:
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity for p in answer.pollers}


async def test_two_worker_processes_poll_and_stop_on_sigterm(
    settings: Settings, client: Client
) -> None:
    own = lane(settings, "procs", task_queue="procs", lms_task_queue="procs-lms")
    parent = start_talentloop("worker", "--processes", "2", env=own.to_env())
    try:
        seen = await eventually(
            lambda: pollers(client, "procs"),
            timeout=60,
            interval=0.2,
            until=lambda seen: len(seen) >= 2,
            message=lambda seen: seen,
        )
        assert len(seen) == 2, seen  # two processes: two identities (pid@host)
    finally:
        parent.send_signal(signal.SIGTERM)
        code = parent.wait(60)
    assert code == 0


def test_zero_processes_is_refused_in_one_line() -> None:
    done = talentloop("worker", "--processes", "0")
    assert done.exit_code != 0
    assert "Traceback" not in done.stderr and "processes" in done.stderr
