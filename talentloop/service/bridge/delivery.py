"""Delivering an event to Temporal, retried with back-off until the server accepts it.

An employee's event is a signal-with-start of their workflow; an objective set starts its
rollout once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from schemas.events import InboundEvent
from schemas.rollout import ObjectiveSetEvent
from talentloop.service.bridge.stats import Backoff, BridgeStats
from talentloop.service.config import Settings
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for
from workflows.rollout import StrategyRolloutWorkflow

log = logging.getLogger("talentloop.service.bridge")


class Delivery:
    """Hands events to Temporal, `max_calls` calls at a time.

    Args:
        settings: The task queue and the employee workflow's start input.
        client: A Temporal client using the pydantic data converter.
        stats: Counts deliveries and retries.
        max_calls: Temporal calls at once.

    """

    def __init__(
        self, settings: Settings, client: Client, stats: BridgeStats, max_calls: int
    ) -> None:
        self._settings = settings
        self._client = client
        self._stats = stats
        self._calls = asyncio.Semaphore(max_calls)
        self._start_input = settings.employee_workflow_input("")

    async def deliver(self, event: InboundEvent | ObjectiveSetEvent) -> None:
        """Deliver one event; returns once Temporal accepted it."""
        if isinstance(event, ObjectiveSetEvent):
            await self._until_accepted(partial(self._start_rollout, event), event.event_id)
        else:
            await self._until_accepted(partial(self._signal_employee, event), event.event_id)

    async def _until_accepted(self, call: Callable[[], Awaitable[None]], event_id: str) -> None:
        """Make a Temporal call until the server accepts it, backing off while it cannot."""
        backoff = Backoff()
        while True:
            try:
                async with self._calls:
                    await call()
                self._stats.signalled += 1
                return
            except RPCError as err:
                self._stats.temporal_retries += 1
                log.warning("temporal refused event %s (%s); retrying", event_id, err.status)
                await backoff.wait()

    async def _signal_employee(self, event: InboundEvent) -> None:
        """Signal-with-start the employee's workflow; the workflow drops a seen event id."""
        await self._client.start_workflow(
            EmployeeLearningWorkflow.run,
            self._start_input.model_copy(update={"employee_id": event.employee_id}),
            id=workflow_id_for(event.employee_id),
            task_queue=self._settings.task_queue,
            start_signal="event",
            start_signal_args=[event],
        )

    async def _start_rollout(self, event: ObjectiveSetEvent) -> None:
        """Start the version's rollout once: a second start of the same id is refused."""
        try:
            await self._client.start_workflow(
                StrategyRolloutWorkflow.run,
                event,
                id=event.workflow_id,
                task_queue=self._settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            log.info(
                "rollout %s exists; event %s is a duplicate", event.workflow_id, event.event_id
            )
