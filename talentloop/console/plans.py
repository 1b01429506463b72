"""The console's path to the employees' workflows: decisions (updates) and plans (queries)."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from schemas.learning import ApprovalDecision, EmployeeLearningState
from talentloop.console.app import DecisionRefused
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

log = logging.getLogger(__name__)

AWAITING_QUERY = 'PlanState = "awaiting_approval"'
"""Visibility query of the workflows with an approval pending (the search attribute)."""


class TemporalPlans:
    """Decides approvals and reads plans through a Temporal client.

    Args:
        client: A connected client (``talentloop.service.temporal.connect``).
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    async def decide(
        self, employee_id: str, course_id: str, approver_id: str, approve: bool, comment: str
    ) -> str:
        """Send the decision as the workflow's ``decide`` update; the item's new status.

        Raises:
            DecisionRefused: When the workflow refuses it (not pending, not the approver, no
                such workflow).
        """
        handle = self._client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee_id)
        )
        decision = ApprovalDecision(
            course_id=course_id, approver_id=approver_id, approve=approve, comment=comment
        )
        try:
            item = await handle.execute_update(EmployeeLearningWorkflow.decide, decision)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise DecisionRefused(getattr(cause, "message", None) or str(cause)) from err
        except RPCError as err:
            raise DecisionRefused(f"no learning plan for employee {employee_id}") from err
        return item.status

    async def state(self, employee_id: str) -> EmployeeLearningState | None:
        """The workflow's ``state`` answer, or None when there is no workflow or no answer."""
        handle = self._client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee_id)
        )
        try:
            return await handle.query(EmployeeLearningWorkflow.state)
        except RPCError as err:
            log.info("no plan state for one employee: %s", err.status)
            return None

    async def states(
        self, employee_ids: set[str], concurrency: int = 16
    ) -> list[EmployeeLearningState]:
        """The plans of several employees (those without a workflow left out)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(emp: str) -> EmployeeLearningState | None:
            async with gate:
                return await self.state(emp)

        found = await asyncio.gather(*(one(e) for e in sorted(employee_ids)))
        return [s for s in found if s is not None]

    async def awaiting_approval(self, limit: int = 5000) -> set[str]:
        """Employees whose workflow has an approval pending (visibility search attribute)."""
        out: set[str] = set()
        async for wf in self._client.list_workflows(AWAITING_QUERY, limit=limit):
            if wf.id.startswith("employee-"):
                out.add(wf.id.removeprefix("employee-"))
        return out
