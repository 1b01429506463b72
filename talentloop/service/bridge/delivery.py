"""Delivering an event to Temporal, retried with back-off while the server cannot take it.

An employee's event is a signal-with-start of their workflow; an objective set starts its
rollout once. A transient refusal (`TRANSIENT`, and any status not named in `PERMANENT`) is
retried with back-off; a permanent one (`PERMANENT`: no retry changes it) raises
`InvalidEvent` "temporal-refused" with the status's name, and the record is dead-lettered. An
objective-set version sent again is compared with the rollout's start input: the same objective
set is a duplicate, accepted; another one is "conflicting-duplicate" (the first one wins).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from prometheus_client import Histogram
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from schemas.events import InboundEvent
from schemas.rollout import ObjectiveSetEvent
from talentloop.service.bridge.stats import Backoff, BridgeStats
from talentloop.service.cloudevents import InvalidEvent
from talentloop.service.config import Settings
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for
from workflows.rollout import StrategyRolloutWorkflow

log = logging.getLogger("talentloop.service.bridge")

TRANSIENT = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.CANCELLED,
    }
)
"""Statuses of a Temporal that cannot take the call now: retried with back-off."""

PERMANENT = frozenset(
    {
        RPCStatusCode.INVALID_ARGUMENT,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.NOT_FOUND,
        RPCStatusCode.UNIMPLEMENTED,
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.OUT_OF_RANGE,
    }
)
"""Statuses no retry changes (a namespace not found, a request refused as invalid): the
record is dead-lettered as "temporal-refused"."""


def refused_for_good(status: RPCStatusCode) -> bool:
    """Whether a Temporal call failing with `status` is refused for good.

    Only the statuses of `PERMANENT` are; every other one (`TRANSIENT`, and the few neither
    names: ALREADY_EXISTS, UNAUTHENTICATED, DATA_LOSS) is retried, as waiting loses nothing.
    """
    return status in PERMANENT


TEMPORAL_CALL_SECONDS = Histogram(
    "talentloop_bridge_temporal_call_seconds",
    "Duration of the bridge's calls to Temporal (signal-with-start, rollout start), each attempt.",
)
"""Temporal call latency as the bridge sees it (retries: `talentloop_bridge_temporal_retries`)."""


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
        """Deliver one event; returns once Temporal accepted it.

        Raises:
            InvalidEvent: "temporal-refused" (detail: the status's name) when Temporal refused
                it for good; "conflicting-duplicate" for an objective-set version whose rollout
                was started with another objective set.

        """
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
                    started = time.monotonic()
                    try:
                        await call()
                    finally:
                        TEMPORAL_CALL_SECONDS.observe(time.monotonic() - started)
                self._stats.signalled += 1
                return
            except RPCError as err:
                if refused_for_good(err.status):
                    self._stats.temporal_refused += 1
                    log.error("temporal refused event %s for good (%s)", event_id, err.status.name)
                    raise InvalidEvent("temporal-refused", err.status.name) from err
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
        """Start the version's rollout once: a second start of the same id is refused.

        Raises:
            InvalidEvent: "conflicting-duplicate" when the existing rollout was started with
                another objective set; the same one is a duplicate, accepted.

        """
        try:
            await self._client.start_workflow(
                StrategyRolloutWorkflow.run,
                event,
                id=event.workflow_id,
                task_queue=self._settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            first = await self._rollout_input(event.workflow_id)
            if first.objective_set != event.objective_set:
                self._stats.conflicting_duplicates += 1
                log.error(
                    "rollout %s was started by event %s with another objective set; event %s "
                    "conflicts with it",
                    event.workflow_id,
                    first.event_id,
                    event.event_id,
                )
                raise InvalidEvent(
                    "conflicting-duplicate",
                    f"{event.workflow_id} was started by event {first.event_id} with another "
                    "objective set",
                ) from None
            log.info(
                "rollout %s exists; event %s is a duplicate", event.workflow_id, event.event_id
            )

    async def _rollout_input(self, workflow_id: str) -> ObjectiveSetEvent:
        """The event a rollout was started with: its history's first event's input."""
        handle = self._client.get_workflow_handle(workflow_id)
        async for history_event in handle.fetch_history_events(page_size=1):
            started = history_event.workflow_execution_started_event_attributes
            (first,) = await self._client.data_converter.decode(
                list(started.input.payloads), [ObjectiveSetEvent]
            )
            if not isinstance(first, ObjectiveSetEvent):
                raise TypeError(f"rollout {workflow_id} started with {type(first).__name__}")
            return first
        raise LookupError(f"rollout {workflow_id} has no history")
