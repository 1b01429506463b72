"""`talentloop worker --processes N`: N worker processes poll the task queue; one that dies is
started again while the others go on; SIGTERM stops all, each within a bounded time."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from subprocess import Popen

from sqlalchemy.orm import Session, sessionmaker
from support.cli import start_talentloop, talentloop
from support.delivery import fresh_employee, wait_handled
from support.events import inbound_review
from support.polling import eventually
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from talentloop.dev.processes import alive
from talentloop.dev.teststack import lane
from talentloop.service.config import Settings
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for


async def pollers(client: Client, queue: str) -> set[str]:
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity for p in answer.pollers}


def pid_of(identity: str) -> int:
    """The pid in a worker's default identity, "PID@HOST"."""
    pid, _, host = identity.partition("@")
    assert host == socket.gethostname(), identity
    return int(pid)


async def wait_pollers(client: Client, queue: str, count: int) -> set[str]:
    return await eventually(
        lambda: pollers(client, queue),
        timeout=90,
        interval=0.1,
        until=lambda seen: len(seen) >= count,
        message=lambda seen: seen,
    )


@contextmanager
def supervisor(settings: Settings, log: Path, *args: str) -> Iterator[Popen[bytes]]:
    """`talentloop worker --processes 2 ARGS` on the lane's queues, its stderr in `log`; at the
    end, it and every worker process it started that still runs are killed."""
    with log.open("wb") as err:
        parent = start_talentloop(
            "worker", "--processes", "2", *args, env=settings.to_env(), stderr=err
        )
    try:
        yield parent
    finally:
        with suppress(OSError):  # no such file: the parent has ended
            children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text()
            for pid in children.split():
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


async def test_two_worker_processes_poll_and_stop_on_sigterm(
    settings: Settings, client: Client, tmp_path: Path
) -> None:
    own = lane(settings, "procs", task_queue="procs", lms_task_queue="procs-lms")
    with supervisor(own, tmp_path / "stderr") as parent:
        seen = await wait_pollers(client, "procs", 2)
        assert len(seen) == 2, seen  # two processes: two identities (pid@host)
        parent.send_signal(signal.SIGTERM)
        code = parent.wait(60)
    assert code == 0


async def test_a_killed_worker_process_is_back_within_10_s_while_the_other_works(
    settings: Settings, client: Client, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    queue = "procs-kill"
    own = lane(settings, queue, task_queue=queue, lms_task_queue=f"{queue}-lms")
    with supervisor(own, tmp_path / "stderr") as parent:
        first = await wait_pollers(client, queue, 2)
        killed, survivor = sorted(first)
        os.kill(pid_of(killed), signal.SIGKILL)
        killed_at = time.monotonic()

        # The survivor takes the work meanwhile: a review reaches an employee at once.
        # An employee no other test has touched: an existing workflow (a rollout signals every
        # seeded employee on its own lane's queue) would be signalled instead, elsewhere.
        employee = fresh_employee(sessions, like="E00030", tag="PROCSKILL")
        event_id = "ev-procs-kill-1"
        await client.start_workflow(
            EmployeeLearningWorkflow.run,
            own.employee_workflow_input(employee),
            id=workflow_id_for(employee),
            task_queue=queue,
            start_signal="event",
            start_signal_args=[inbound_review(sessions, employee, event_id)],
        )
        now = await wait_pollers(client, queue, 3)
        back_after = time.monotonic() - killed_at
        await wait_handled(client, employee, event_id, timeout=120)
        history = await client.get_workflow_handle(workflow_id_for(employee)).fetch_history()
        completed_by = [
            e.workflow_task_completed_event_attributes.identity
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        ]
        assert survivor in completed_by, (survivor, completed_by)
        assert alive(pid_of(survivor)) and not alive(pid_of(killed))
        (restarted,) = now - first
        assert alive(pid_of(restarted))
        assert back_after < 10, f"the killed worker process was back after {back_after:.1f} s"

        parent.send_signal(signal.SIGTERM)
        code = parent.wait(60)
    assert code == 0
    log = (tmp_path / "stderr").read_text()
    assert f"(pid {pid_of(killed)}) ended after" in log and "killed by SIGKILL" in log


async def test_stop_kills_a_worker_process_that_does_not_stop_in_time(
    settings: Settings, client: Client, tmp_path: Path
) -> None:
    queue = "procs-stuck"
    own = lane(settings, queue, task_queue=queue, lms_task_queue=f"{queue}-lms")
    with supervisor(own, tmp_path / "stderr", "--stop-timeout", "3") as parent:
        stuck, other = (pid_of(i) for i in sorted(await wait_pollers(client, queue, 2)))
        os.kill(stuck, signal.SIGSTOP)  # SIGTERM stays pending: it cannot stop
        parent.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = parent.wait(30)
        took = time.monotonic() - stopping
    assert code == 1
    assert 3 <= took < 20, took
    assert not alive(stuck) and not alive(other)
    last = (tmp_path / "stderr").read_text().strip().splitlines()[-1]
    assert last.startswith("talentloop: worker process ") and last.endswith(
        f"(pid {stuck}) did not stop within 3 s of SIGTERM; killed"
    ), last


def test_zero_processes_is_refused_in_one_line() -> None:
    done = talentloop("worker", "--processes", "0")
    assert done.exit_code != 0
    assert "Traceback" not in done.stderr and "processes" in done.stderr
