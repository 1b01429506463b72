"""Worker wiring: activities built with their adapters, registered with the workflows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial

from temporalio.client import Client
from temporalio.worker import Worker

from activities.directory import DirectoryActivities
from activities.lms.activities import LmsActivities
from activities.lms.builtin import BuiltinLms
from activities.mail.activities import MailActivities
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.objectives import ObjectiveActivities
from activities.outbound import OutboundActivities
from activities.planning import PlanningActivities
from activities.store.engine import open_engine, session_factory
from talentloop.config import Settings
from talentloop.kafka import make_producer
from talentloop.temporal import connect
from workflows.employee import EmployeeLearningWorkflow
from workflows.rollout import StrategyRolloutWorkflow

ACTIVITY_THREADS = 32
"""Threads for synchronous activities, and the worker's concurrent-activity limit."""


@asynccontextmanager
async def running_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A running worker on the settings' task queue with every workflow and activity.

    Activities are built with their adapters here (database, LMS, SMTP, Kafka producer); the
    synchronous ones run on `ACTIVITY_THREADS` threads. Leaving the context shuts the worker
    down and closes the producer.
    """
    sessions = session_factory(open_engine(settings.db_url))
    directory = DirectoryActivities(sessions)
    planning = PlanningActivities(sessions)
    lms = LmsActivities(BuiltinLms(sessions))
    mail = MailActivities(
        sessions,
        SmtpSender(
            host=settings.smtp_server,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        ),
        MailRenderer(),
        settings.mail_from,
    )
    objectives = ObjectiveActivities(sessions)
    outbound = OutboundActivities(partial(make_producer, settings), settings.topic_outbound)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity") as pool:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[EmployeeLearningWorkflow, StrategyRolloutWorkflow],
            activities=[
                directory.get_employee,
                directory.apply_update,
                planning.plan_activity,
                planning.record_completion,
                lms.enroll,
                mail.send_notice,
                objectives.record,
                outbound.publish,
            ],
            activity_executor=pool,
            max_concurrent_activities=ACTIVITY_THREADS,
        )
        try:
            async with worker:
                yield worker
        finally:
            await asyncio.to_thread(outbound.close)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run a worker until `stop` is set (or forever)."""
    async with running_worker(await connect(settings), settings):
        await (stop or asyncio.Event()).wait()
