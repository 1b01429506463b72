"""Worker wiring: activities built with their adapters, registered with the workflows."""

from __future__ import annotations

import asyncio
import contextlib
import py_compile
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.directory import DirectoryActivities
from activities.lms.activities import LmsActivities
from activities.lms.builtin import BuiltinLms
from activities.lms.completions import CompletionPollActivities
from activities.lms.moodle import MoodleConfig, MoodleLms
from activities.lms.port import LmsPort
from activities.mail.activities import MailActivities
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.objectives import ObjectiveActivities
from activities.outbound import OutboundActivities
from activities.planning import PlanningActivities
from activities.policy import PolicyActivities
from activities.store.engine import open_engine, session_factory
from schemas.learning import PolicySnapshot
from talentloop.service.config import Settings
from talentloop.service.gc_tuning import tune_for_service
from talentloop.service.kafka import make_producer
from talentloop.service.temporal import connect
from workflows.completion_poll import CompletionPollWorkflow
from workflows.employee import EmployeeLearningWorkflow
from workflows.rollout import StrategyRolloutWorkflow

ACTIVITY_THREADS = 32
"""Threads for synchronous activities, and the worker's concurrent-activity limit."""

WORKFLOWS: tuple[type, ...] = (
    EmployeeLearningWorkflow,
    StrategyRolloutWorkflow,
    CompletionPollWorkflow,
)
"""Every workflow the worker runs."""


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """Temporal's workflow sandbox when `settings.workflow_sandbox`, else none.

    The sandbox checks at run time that workflow code makes no non-deterministic call
    (`datetime.now`, `random`, I/O) and isolates module state per run; it costs about a
    quarter of a worker's CPU per review (bench/e2e.py). The test suite runs every workflow
    in it (tests/conftest.py), so a workflow change that makes such a call fails there;
    production workers run the tested code without it unless it is turned on.
    """
    return SandboxedWorkflowRunner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def precompile_workflows(workflows: tuple[type, ...] = WORKFLOWS) -> None:
    """Write the bytecode of the workflows' own modules, so sandboxes stop compiling them.

    The workflow sandbox imports a workflow's modules afresh for every new workflow run (that
    is what keeps its determinism checks on `datetime`, `random` and the like). Where
    bytecode caching is off (PYTHONDONTWRITEBYTECODE) each of those imports compiled the
    source again; with the bytecode on disk they only load it. Every module of the packages
    the workflows live in is compiled (the rules beside a workflow are imported with it). An
    unwritable directory (an installed package) already has its bytecode, or is left to
    compile as before.
    """
    roots = {
        Path(path).parent
        for wf in workflows
        if (path := sys.modules[wf.__module__.split(".")[0]].__file__) is not None
    }
    for root in roots:
        for source in root.rglob("*.py"):
            with contextlib.suppress(OSError, py_compile.PyCompileError):
                py_compile.compile(str(source), doraise=True)


def lms_port(settings: Settings, sessions: sessionmaker[Session]) -> LmsPort:
    """The LMS adapter the settings name: the built-in LMS, or Moodle over its REST API."""
    if settings.lms_adapter == "builtin":
        return BuiltinLms(sessions)
    if not settings.moodle_url or not settings.moodle_token:
        raise ValueError("the Moodle adapter needs TALENTLOOP_MOODLE_URL and _MOODLE_TOKEN")
    return MoodleLms(
        MoodleConfig(
            url=settings.moodle_url,
            token=settings.moodle_token,
            user_field=settings.moodle_user_field,
            course_field=settings.moodle_course_field,
            calls_per_second=settings.lms_rate_limit or 0.0,
            max_concurrent=settings.lms_max_concurrency,
        )
    )


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: Settings,
    *,
    policy_for: Callable[[str], PolicySnapshot] | None = None,
) -> AsyncIterator[Worker]:
    """A running worker on the settings' task queue with every workflow and activity.

    Activities are built with their adapters here (database, LMS, SMTP, Kafka producer); the
    synchronous ones run on `ACTIVITY_THREADS` threads. Leaving the context shuts the worker
    down and closes the producer. The plan policy the workflows read is the settings' one,
    unless `policy_for` answers per employee (tests give each workflow its own).
    """
    if settings.workflow_sandbox:
        precompile_workflows()
    sessions = session_factory(open_engine(settings.db_url))
    directory = DirectoryActivities(sessions)
    planning = PlanningActivities(sessions, directory)
    port = lms_port(settings, sessions)
    lms = LmsActivities(port)
    poller = CompletionPollActivities(port, sessions)
    smtp = SmtpSender(
        host=settings.smtp_server,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
    )
    mail = MailActivities(sessions, smtp, MailRenderer(), settings.mail_from)
    objectives = ObjectiveActivities(sessions)
    snapshot = settings.policy_snapshot()
    policy = PolicyActivities(policy_for or (lambda _employee_id: snapshot))
    outbound = OutboundActivities(partial(make_producer, settings), settings.topic_outbound)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity") as pool:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=list(WORKFLOWS),
            workflow_runner=workflow_runner(settings),
            activities=[
                directory.get_employee,
                directory.apply_update,
                planning.plan_activity,
                planning.plan_review,
                planning.record_completion,
                mail.send_notice,
                objectives.record,
                policy.current,
                outbound.publish,
                outbound.publish_many,
                # The workflows call these as local activities when `lms_calls_local`.
                lms.enroll,
                lms.enroll_many,
                lms.withdraw,
            ],
            activity_executor=pool,
            max_concurrent_activities=ACTIVITY_THREADS,
            # A workflow task runs its local activities (directory, plan, LMS, mail) before it
            # completes; taking only a few at a time keeps each one short, well inside the
            # task timeout, while the rest wait on the server's task queue.
            max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
        )
        # LMS calls have a queue of their own: its rate limit holds across all workers.
        lms_worker = Worker(
            client,
            task_queue=settings.lms_task_queue,
            activities=[
                lms.enroll,
                lms.enroll_many,
                lms.withdraw,
                lms.status,
                lms.catalog,
                lms.completions,
                poller.poll,
                poller.record,
            ],
            activity_executor=pool,
            max_concurrent_activities=settings.lms_max_concurrency,
            max_task_queue_activities_per_second=settings.lms_rate_limit,
        )
        try:
            async with worker, lms_worker:
                yield worker
        finally:
            await smtp.close()
            await asyncio.to_thread(outbound.close)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run a worker until `stop` is set (or forever).

    The worker creates no Schedule: `talentloop setup` does, once per release.
    """
    client = await connect(settings)
    async with running_worker(client, settings):
        tune_for_service()
        await (stop or asyncio.Event()).wait()


def run_worker_processes(count: int, *, verbose: bool = False) -> int:
    """Run `count` worker processes (`talentloop worker`) until SIGTERM or Ctrl-C.

    Each process is a worker of its own on the same task queues (Temporal spreads the work);
    a signal to this process is passed on to each. One process failing stops the others (a
    supervisor restarts the whole); returns its exit code, or 0 after a clean stop.
    """
    argv = [sys.executable, "-m", "talentloop.cli", "worker", *(["--verbose"] if verbose else [])]
    children = [subprocess.Popen(argv) for _ in range(count)]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    while True:
        codes = [child.poll() for child in children]
        failed = next((c for c in codes if c not in (None, 0)), None)
        if failed is not None:
            forward(signal.SIGTERM, None)
            for child in children:
                child.wait()
            return failed
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.2)
