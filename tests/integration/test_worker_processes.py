"""`talentloop worker --processes N`: N worker processes poll the task queue; SIGTERM stops all."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from talentloop.config import Settings
from talentloop.private import lane


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
    parent = subprocess.Popen(
        [sys.executable, "-m", "talentloop.cli", "worker", "--processes", "2"],
        env=own.to_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen: set[str] = set()
        for _ in range(300):
            seen = await pollers(client, "procs")
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.2)
        assert len(seen) == 2, seen  # two processes: two identities (pid@host)
    finally:
        parent.send_signal(signal.SIGTERM)
        code = parent.wait(60)
    assert code == 0


def test_zero_processes_is_refused_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "talentloop.cli", "worker", "--processes", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "processes" in done.stderr
