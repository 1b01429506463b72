"""Worker wiring: activities built with their adapters, registered with the workflows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import py_compile
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.digests import DigestActivities
from activities.directory import DirectoryActivities
from activities.goals import GoalActivities
from activities.lms.activities import LmsActivities
from activities.lms.catalog_sync import CatalogSyncActivities
from activities.lms.completions import CompletionPollActivities
from activities.lms.port import LmsPort
from activities.mail.activities import MailActivities
from activities.mail.links import ApprovalLinks
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.objectives import ObjectiveActivities
from activities.outbound import OutboundActivities
from activities.planning import PlanningActivities
from activities.policy import PolicyActivities
from activities.rollout.approval import ApprovalPreview
from activities.rollout.fanout import RolloutActivities
from activities.rollout.preview import PlanRules
from activities.store.engine import open_engine, session_factory
from schemas.learning import PolicySnapshot
from talentloop.console.secret import public_url, secret_key
from talentloop.service import lms_adapter, metrics
from talentloop.service.config import Settings
from talentloop.service.gc_tuning import tune_for_service
from talentloop.service.kafka import make_producer
from talentloop.service.supervisor import STOP_TIMEOUT, RestartPolicy, Supervisor
from talentloop.service.temporal import connect
from workflows.catalog_sync import CatalogSyncWorkflow
from workflows.completion_poll import CompletionPollWorkflow
from workflows.digests import DigestWorkflow
from workflows.employee import EmployeeLearningWorkflow
from workflows.employee.approvals import approver_for, needs_approval
from workflows.rollout import StrategyRolloutWorkflow
from workflows.rollout_reconcile import RolloutReconcileWorkflow

log = logging.getLogger(__name__)

ACTIVITY_THREADS = 32
"""Threads for synchronous activities, and the worker's concurrent-activity limit."""

WORKFLOWS: tuple[type, ...] = (
    EmployeeLearningWorkflow,
    StrategyRolloutWorkflow,
    RolloutReconcileWorkflow,
    CompletionPollWorkflow,
    CatalogSyncWorkflow,
    DigestWorkflow,
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
    """The LMS adapter the settings name (`talentloop.service.lms_adapter.lms_port`)."""
    return lms_adapter.lms_port(settings, sessions, check_fields=True)


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
    planning = PlanningActivities(
        sessions, directory, policy=settings.assessment_policy, min_gap=settings.min_gap
    )
    goals = GoalActivities(sessions)
    port = lms_port(settings, sessions)
    lms = LmsActivities(port)
    poller = CompletionPollActivities(port, sessions)
    catalog_sync = CatalogSyncActivities(port, sessions)
    smtp = SmtpSender(
        host=settings.smtp_server,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        use_tls=settings.smtp_ssl,
        ca_path=settings.smtp_ca_path,
    )
    try:
        links: ApprovalLinks | None = ApprovalLinks(secret_key(settings), public_url(settings))
    except (OSError, RuntimeError) as err:  # no key and a state dir it cannot write
        log.warning("approval emails carry no links: no console secret key (%s)", err)
        links = None
    mail = MailActivities(sessions, smtp, MailRenderer(), settings.mail_from, links)
    objectives = ObjectiveActivities(sessions)
    digests = DigestActivities(sessions, mail, settings.approval_sla_days)
    snapshot = settings.policy_snapshot()
    policy = PolicyActivities(policy_for or (lambda _employee_id: snapshot))
    outbound = OutboundActivities(partial(make_producer, settings), settings.topic_outbound)
    rollout = RolloutActivities(
        sessions,
        client,
        config=settings.rollout_config,
        start_input=settings.employee_workflow_input(""),
        task_queue=settings.task_queue,
        preview=ApprovalPreview(
            sessions,
            policy=snapshot.policy,
            rules=PlanRules(needs_approval=needs_approval, approver_for=approver_for),
            policy_version=snapshot.version,
        ),
    )
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
                rollout.config,
                rollout.preview,
                rollout.census,
                rollout.signal,
                rollout.health,
                rollout.enrollments,
                rollout.reconcile,
                # The workflows call these as local activities when `lms_calls_local`.
                lms.enroll,
                lms.enroll_many,
                lms.withdraw,
                lms.status,
                goals.apply_activity,
                digests.recipients,
                digests.send,
            ],
            activity_executor=pool,
            max_concurrent_activities=ACTIVITY_THREADS,
            # A workflow task runs its local activities (directory, plan, LMS, mail) before it
            # completes; taking only a few at a time keeps each one short, well inside the
            # task timeout, while the rest wait on the server's task queue.
            max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
            interceptors=[metrics.ActivityMetrics()],
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
                catalog_sync.sync,
            ],
            activity_executor=pool,
            max_concurrent_activities=settings.lms_max_concurrency,
            max_task_queue_activities_per_second=settings.lms_rate_limit,
            interceptors=[metrics.ActivityMetrics()],
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
    tries = metrics.MAX_PROCESSES  # with --processes N: the first free port from the base
    metrics.install_temporal_metrics(
        settings.metrics_temporal_port, host=settings.metrics_host, tries=tries
    )
    client = await connect(settings)
    exporter = metrics.serve(settings.metrics_worker_port, host=settings.metrics_host, tries=tries)
    try:
        async with running_worker(client, settings):
            tune_for_service()
            await (stop or asyncio.Event()).wait()
    finally:
        if exporter is not None:
            exporter.close()


def run_worker_processes(
    count: int,
    *,
    verbose: bool = False,
    stop_timeout: float = STOP_TIMEOUT,
    policy: RestartPolicy | None = None,
) -> int:
    """Run `count` worker processes (`talentloop worker`) until SIGTERM or Ctrl-C.

    Each process is a worker of its own on the same task queues (Temporal spreads the work).
    One that ends is started again after a back-off, while the others go on working; one
    that keeps failing right after it starts makes this give up (`ProcessesFailed`, after the
    others were stopped). A signal to this process is passed on to each; each gets
    `stop_timeout` seconds to stop before it is killed. Returns 0 once all stopped in time.

    Raises:
        ProcessesFailed: A process kept failing, or one had to be killed at the stop.

    """
    argv = [sys.executable, "-m", "talentloop.cli", "worker", *(["--verbose"] if verbose else [])]
    supervisor = Supervisor(
        argv, count, name="worker process", policy=policy, stop_timeout=stop_timeout
    )
    return supervisor.run()
