"""Talking to rollouts from outside: the event `rollout submit` publishes, updates, progress.

`talentloop rollout ...` is a thin shell over these.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.store.tables import ObjectiveSetRow
from schemas.events import OBJECTIVES_CHANGED, ObjectivesChanged
from schemas.rollout import RolloutAction, RolloutProgress
from schemas.skills import ObjectiveSet
from talentloop.errors import TalentloopError, UsageProblem
from workflows.rollout import StrategyRolloutWorkflow

SUBMIT_SOURCE = "talentloop/cli/rollout-submit"
"""The CloudEvents ``source`` of the ``objectives.changed`` events `rollout submit` publishes."""

Control = Literal["approve", "reject", "pause", "resume", "cancel"]

_UPDATES: dict[Control, Any] = {
    "approve": StrategyRolloutWorkflow.approve,
    "reject": StrategyRolloutWorkflow.reject,
    "pause": StrategyRolloutWorkflow.pause,
    "resume": StrategyRolloutWorkflow.resume,
    "cancel": StrategyRolloutWorkflow.cancel,
}


def rollout_id(set_id: str, version: int) -> str:
    """The rollout workflow's id (`ObjectiveSetEvent.workflow_id`)."""
    return f"rollout-{set_id}-v{version}"


ROLLBACK_SOURCE = "talentloop/cli/rollout-rollback"
"""The ``source`` of the events `rollout rollback` publishes."""


def submit_event(
    data: ObjectivesChanged, now: datetime, source: str = SUBMIT_SOURCE
) -> dict[str, Any]:
    """The structured-mode ``objectives.changed.v1`` CloudEvent a producer would send.

    Its id names the set and version: submitting the same version again is a duplicate the
    bridge accepts once (with other content, the first wins).
    """
    return {
        "specversion": "1.0",
        "id": f"objectives-{data.objective_set_id}-v{data.version}",
        "source": source,
        "type": OBJECTIVES_CHANGED,
        "subject": data.objective_set_id,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": data.model_dump(mode="json", exclude_none=True),
    }


def rollback_set(s: Session, set_id: str, to: int, on: date) -> ObjectiveSet:
    """The new version that puts version `to` of the set in force again from `on`.

    It takes effect on `on`, or on `to`'s own ``effective_from`` if that is later.
    Versions only go forward: the objectives of `to` are re-issued as the version after the
    newest recorded one, so the rollback is a rollout like any other (approved, in waves,
    audited), and every employee's plan follows (courses whose gaps close are waived).

    Raises:
        UsageProblem: `to` is not recorded, or is the newest version already.
    """
    target = s.get(ObjectiveSetRow, (set_id, to))
    if target is None:
        raise UsageProblem(f"version {to} of {set_id} is not recorded")
    latest = s.scalar(
        select(func.max(ObjectiveSetRow.version)).where(ObjectiveSetRow.set_id == set_id)
    )
    assert latest is not None
    if to >= latest:
        raise UsageProblem(f"version {to} of {set_id} is the newest recorded: nothing to roll back")
    body = ObjectiveSet.model_validate(target.body)
    effective = max(on, body.effective_from)  # never in force before `to` was meant to be
    return body.model_copy(update={"version": latest + 1, "effective_from": effective})


def _refusal(err: WorkflowUpdateFailedError) -> str:
    cause = err.cause
    return str(getattr(cause, "message", None) or cause)


async def control(
    client: Client, workflow_id: str, op: Control, action: RolloutAction
) -> RolloutProgress:
    """Send an approve / reject / pause / resume / cancel update; its answer is the progress.

    Raises:
        UsageProblem: The rollout refused it (who may, or when), or there is no such rollout.
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        result: RolloutProgress = await handle.execute_update(_UPDATES[op], action)
    except WorkflowUpdateFailedError as err:
        raise UsageProblem(f"{workflow_id}: {_refusal(err)}") from err
    except RPCError as err:
        raise UsageProblem(f"{workflow_id}: {err.message}") from err
    return result


async def approve_when_started(
    client: Client, workflow_id: str, action: RolloutAction, timeout: float = 120.0
) -> RolloutProgress:
    """Approve a rollout as soon as the bridge has started it and it awaits approval.

    Raises:
        TalentloopError: It did not start, or refused the approval, within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last = "it has not started (is the bridge running?)"
    while time.monotonic() < deadline:
        found = await progress(client, workflow_id)
        if found is not None and found.status == "awaiting-approval":
            try:
                return await control(client, workflow_id, "approve", action)
            except UsageProblem as err:
                last = str(err)
        elif found is not None and found.status != "recording":
            raise TalentloopError(f"{workflow_id} is {found.status}: not awaiting approval")
        await asyncio.sleep(0.5)
    raise TalentloopError(f"{workflow_id}: not approved within {timeout:g} s: {last}")


async def progress(client: Client, workflow_id: str) -> RolloutProgress | None:
    """The rollout's progress; None when there is no such rollout (or it is not ready)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        found: RolloutProgress | None = await handle.query(StrategyRolloutWorkflow.progress)
    except (RPCError, WorkflowQueryFailedError) as err:
        if isinstance(err, RPCError) and err.status not in (
            RPCStatusCode.NOT_FOUND,
            RPCStatusCode.FAILED_PRECONDITION,
        ):
            raise
        return None
    return found


async def latest_rollout(client: Client, set_id: str) -> str:
    """The id of the set's rollout with the highest version.

    Raises:
        UsageProblem: The set has no rollout.
    """
    best: tuple[int, str] | None = None
    prefix = f"rollout-{set_id}-v"
    async for wf in client.list_workflows("WorkflowType = 'StrategyRolloutWorkflow'"):
        if wf.id.startswith(prefix) and wf.id[len(prefix) :].isdigit():
            found = (int(wf.id[len(prefix) :]), wf.id)
            best = found if best is None or found > best else best
    if best is None:
        raise UsageProblem(f"no rollout of objective set {set_id}")
    return best[1]


@dataclass(frozen=True)
class RolloutRow:
    """One rollout as `rollout list` shows it."""

    workflow_id: str
    execution: str
    progress: RolloutProgress | None


async def list_rollouts(client: Client) -> list[RolloutRow]:
    """Every rollout the namespace knows (newest first), with its progress where it answers."""
    rows = []
    async for wf in client.list_workflows("WorkflowType = 'StrategyRolloutWorkflow'"):
        status = wf.status.name.lower() if wf.status is not None else "unknown"
        found = None
        if wf.status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
            found = await progress(client, wf.id)
        rows.append(RolloutRow(wf.id, status, found))
    seen: set[str] = set()
    unique = []
    for row in rows:  # a rollout continued as new is listed once per run: keep the newest
        if row.workflow_id not in seen:
            seen.add(row.workflow_id)
            unique.append(row)
    return unique
