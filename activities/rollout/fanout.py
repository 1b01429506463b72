"""The rollout's side effects: who is in scope, signalling them, and how they are doing.

The rollout workflow never holds its population: each activity pages through the directory
from a cursor (employee ids in order), so the workflow's history carries a cursor and counts,
whatever the number of employees.

An employee is in scope of a version when an objective of that version, or of the version it
replaces, applies to their role or department (an objective naming neither applies to
everyone): their requirements may change. Each is sent one ``objectives.changed.v1`` event
(signal-with-start of ``employee-<id>``), whose id derives from the rollout and the employee:
a retried batch signals the same events again, and the employee workflow drops those it saw.
The nightly reconciliation (``reconcile``) sends the same kind of event to employees the
``objective_applications`` table shows behind the version in force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, String, cast, false, func, or_, select, true
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.metrics import ROLLOUT_SIGNALS
from activities.objectives import sets_in_force
from activities.rollout.applied import applied_versions, count_applied
from activities.store.goals import GoalRow
from activities.store.tables import EmployeeRow, LmsEnrollmentRow, ObjectiveSetRow
from schemas.events import OBJECTIVES_CHANGED, InboundEvent, ObjectivesApplied
from schemas.learning import EmployeeLearningState, EmployeeWorkflowInput
from schemas.rollout import (
    ROLLOUT_SOURCE,
    ApprovalSummary,
    ReconcileOutcome,
    ReconcilePage,
    RolloutConfig,
    ScopeHealth,
    ScopeRequest,
    SignalBatch,
    SignalOutcome,
)
from schemas.skills import ObjectiveSet

log = logging.getLogger(__name__)

QUERY_AT_MOST = 200
"""`health` asks at most this many employee workflows whether they failed (else it says 0)."""

QUERY_WINDOW = 32
"""Queries to employee workflows in flight at once."""

QUERY_TIMEOUT = timedelta(seconds=5)
"""An employee workflow whose worker does not answer a query in this long counts as pending."""

EMPLOYEE_WORKFLOW = "EmployeeLearningWorkflow"
"""The employee workflow's type (``workflows.employee``); its id is ``employee-<id>``."""


def employee_workflow_id(employee_id: str) -> str:
    """The employee's workflow id (as ``workflows.employee.workflow_id_for`` names it)."""
    return f"employee-{employee_id}"


def rollout_event_id(rollout_id: str, employee_id: str) -> str:
    """The id of the event a rollout sends an employee: the same for every retry."""
    return f"{rollout_id}/{employee_id}"


@dataclass(frozen=True)
class Scope:
    """Who a version applies to: everyone, or these roles and departments.

    Employees with a goal aligned to the set are in scope too: their goal-derived
    requirements follow the set's objectives.
    """

    everyone: bool
    roles: frozenset[str]
    departments: frozenset[str]
    set_id: str = ""

    @classmethod
    def of(cls, sets: Sequence[ObjectiveSet]) -> Scope:
        """The union of the scopes of every objective of these versions."""
        everyone, roles, departments = False, set[str](), set[str]()
        for s in sets:
            for o in s.objectives:
                if not o.roles and not o.departments:
                    everyone = True
                roles.update(o.roles)
                departments.update(o.departments)
        set_id = sets[0].id if sets else ""
        return cls(everyone, frozenset(roles), frozenset(departments), set_id)

    def where(self) -> ColumnElement[bool]:
        """The SQL condition on ``employees`` (active employees only)."""
        if self.everyone:
            scoped: ColumnElement[bool] = true()
        elif self.roles or self.departments:
            scoped = or_(
                EmployeeRow.role_id.in_(sorted(self.roles)),
                EmployeeRow.department.in_(sorted(self.departments)),
            )
        else:
            scoped = false()
        if self.set_id and not self.everyone:
            # The aligned goals' JSON names the set (a rare false match only adds an employee
            # whose re-plan changes nothing).
            aligned = select(GoalRow.employee_id).where(
                cast(GoalRow.aligned_to, String).like(f'%"{self.set_id}"%')
            )
            scoped = or_(scoped, EmployeeRow.id.in_(aligned))
        return EmployeeRow.active.is_(True) & scoped


def scope_of(s: Session, set_id: str, version: int) -> Scope:
    """The scope of a recorded version together with the version before it.

    Raises:
        LookupError: The version is not recorded.
    """
    row = s.get(ObjectiveSetRow, (set_id, version))
    if row is None:
        raise LookupError(f"objective set {set_id} v{version} is not recorded")
    sets = [ObjectiveSet.model_validate(row.body)]
    previous = s.scalar(
        select(ObjectiveSetRow.body)
        .where(ObjectiveSetRow.set_id == set_id, ObjectiveSetRow.version < version)
        .order_by(ObjectiveSetRow.version.desc())
        .limit(1)
    )
    if previous is not None:
        sets.append(ObjectiveSet.model_validate(previous))
    return Scope.of(sets)


def page(s: Session, scope: Scope, after: str, limit: int, upto: str = "") -> list[str]:
    """Ids of employees in scope after `after` (and up to `upto`), in order, at most `limit`."""
    q = select(EmployeeRow.id).where(scope.where(), EmployeeRow.id > after)
    if upto:
        q = q.where(EmployeeRow.id <= upto)
    return list(s.scalars(q.order_by(EmployeeRow.id).limit(limit)))


class RolloutActivities:
    """Signals a rollout's employees and reports on them, over the app database and Temporal."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: Client,
        *,
        config: Callable[[], RolloutConfig],
        start_input: EmployeeWorkflowInput,
        task_queue: str,
        preview: Callable[[ObjectiveSet], ApprovalSummary] | None = None,
    ) -> None:
        """Build the activities.

        Args:
            sessions: The app database.
            client: Temporal, to signal-with-start the employees' workflows.
            config: The rollout configuration (the settings').
            start_input: An employee workflow's start input (its employee id is replaced).
            task_queue: The employee workflows' task queue.
            preview: Summarises a version's preview for its approver (None: no preview).
        """
        self._sessions = sessions
        self._client = client
        self._config = config
        self._start_input = start_input
        self._task_queue = task_queue
        self._preview = preview

    @activity.defn(name="rollout.config")
    def config(self, rollout_id: str) -> RolloutConfig:
        """The rollout configuration a rollout runs with (read once, when it starts)."""
        return self._config()

    @activity.defn(name="rollout.preview")
    def preview(self, objective_set: ObjectiveSet) -> ApprovalSummary:
        """The version's preview, summarised for its approver (reads only)."""
        if self._preview is None:
            return ApprovalSummary(unavailable="this worker computes no preview")
        return self._preview(objective_set)

    @activity.defn(name="rollout.census")
    def census(self, req: ScopeRequest) -> int:
        """How many active employees are in scope of the version."""
        with self._sessions() as s:
            scope = scope_of(s, req.set_id, req.version)
            return int(
                s.scalar(select(func.count()).select_from(EmployeeRow).where(scope.where())) or 0
            )

    @activity.defn(name="rollout.signal")
    async def signal(self, batch: SignalBatch) -> SignalOutcome:
        """Signal the next employees in scope after the cursor, a window of them at a time.

        Each gets its ``objectives.changed.v1`` by signal-with-start; a retry sends the same
        event ids, which the employee workflows drop. A signal Temporal refuses is counted
        as failed (the reconciliation applies the version to that employee later).
        """

        def read() -> list[str]:
            with self._sessions() as s:
                return page(s, scope_of(s, batch.set_id, batch.version), batch.cursor, batch.limit)

        def tally() -> tuple[int, int | None]:
            with self._sessions() as s:
                latest = s.scalar(
                    select(func.max(ObjectiveSetRow.version)).where(
                        ObjectiveSetRow.set_id == batch.set_id
                    )
                )
                return count_applied(s, batch.set_id, batch.version), latest

        ids = await asyncio.to_thread(read)  # the event loop keeps serving other activities
        failed = await self._send(batch.rollout_id, batch.set_id, batch.version, ids, batch.window)
        version = str(batch.version)
        ROLLOUT_SIGNALS.labels(batch.set_id, version, "signalled").inc(len(ids) - failed)
        ROLLOUT_SIGNALS.labels(batch.set_id, version, "failed").inc(failed)
        applied, latest = await asyncio.to_thread(tally)
        return SignalOutcome(
            signalled=len(ids) - failed,
            failed=failed,
            first=ids[0] if ids else "",
            cursor=ids[-1] if ids else batch.cursor,
            exhausted=len(ids) < batch.limit,
            applied=applied,
            latest_version=int(latest or 0),
        )

    async def _send(
        self, cause: str, set_id: str, version: int, ids: Sequence[str], window: int
    ) -> int:
        """Signal-with-start each employee's workflow, `window` at a time; returns the refused.

        The event id derives from `cause` (a rollout, or a reconciliation of a version) and
        the employee.
        """
        gate = asyncio.Semaphore(window)
        failed = 0

        async def one(employee_id: str) -> None:
            nonlocal failed
            event = InboundEvent(
                event_id=rollout_event_id(cause, employee_id),
                type=OBJECTIVES_CHANGED,
                source=ROLLOUT_SOURCE,
                objectives=ObjectivesApplied(
                    employee_id=employee_id, objective_set_id=set_id, version=version
                ),
            )
            async with gate:
                try:
                    await self._client.start_workflow(
                        EMPLOYEE_WORKFLOW,
                        self._start_input.model_copy(update={"employee_id": employee_id}),
                        id=employee_workflow_id(employee_id),
                        task_queue=self._task_queue,
                        start_signal="event",
                        start_signal_args=[event],
                    )
                except RPCError as err:
                    failed += 1
                    log.warning(
                        "%s: signal to an employee refused (%s)",
                        cause,
                        err.status.name if err.status else "unknown",
                    )

        await asyncio.gather(*(one(e) for e in ids))
        return failed

    @activity.defn(name="rollout.reconcile")
    async def reconcile(self, req: ReconcilePage) -> ReconcileOutcome:
        """Apply the versions in force to employees in scope who are behind them (one page).

        For each set, the latest version in force today; a version whose rollout is still
        running is left to it. Employees in scope whose recorded version is older (or none:
        new joiners, a missed signal, a restored backup) get it, under an event id naming the
        reconciliation of that version, so each is reconciled once per version.
        """
        today = datetime.now(UTC).date()

        def in_force_today() -> list[ObjectiveSet]:
            with self._sessions() as s:
                return sorted(sets_in_force(s, today), key=lambda o: o.id)

        def behind_of(o: ObjectiveSet, after: str) -> tuple[list[str], dict[str, int]]:
            with self._sessions() as s:
                ids = page(s, scope_of(s, o.id, o.version), after, req.limit)
                return ids, applied_versions(s, o.id, ids)

        in_force = await asyncio.to_thread(in_force_today)
        todo = [o for o in in_force if o.id >= req.after_set]
        skipped: list[str] = []
        for objective_set in todo:
            after = req.after_employee if objective_set.id == req.after_set else ""
            rollout_id = f"rollout-{objective_set.id}-v{objective_set.version}"
            if await self._running(rollout_id):
                skipped.append(rollout_id)
                continue
            ids, versions = await asyncio.to_thread(behind_of, objective_set, after)
            if not ids:
                continue
            behind = [e for e in ids if versions.get(e, 0) < objective_set.version]
            cause = f"reconcile-{objective_set.id}-v{objective_set.version}"
            failed = await self._send(
                cause, objective_set.id, objective_set.version, behind, req.window
            )
            return ReconcileOutcome(
                looked_at=len(ids),
                behind=len(behind),
                signalled=len(behind) - failed,
                failed=failed,
                skipped_sets=tuple(skipped),
                after_set=objective_set.id,
                after_employee=ids[-1],
                done=False,
            )
        return ReconcileOutcome(
            looked_at=0,
            behind=0,
            signalled=0,
            failed=0,
            skipped_sets=tuple(skipped),
            after_set=req.after_set,
            after_employee=req.after_employee,
            done=True,
        )

    async def _running(self, workflow_id: str) -> bool:
        """Whether the workflow is running (False when there is none)."""
        try:
            described = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return described.status == WorkflowExecutionStatus.RUNNING

    @activity.defn(name="rollout.health")
    async def health(self, req: ScopeRequest) -> ScopeHealth:
        """How the employees in scope with ids in (after, upto] are doing with the version.

        Applied: the planner recorded the version for them. Failed: their workflow handled
        the rollout's event and it failed (asked of each employee not applied yet, so meant
        for a canary, not the whole population).
        """

        def read() -> tuple[list[str], dict[str, int]]:
            with self._sessions() as s:
                scope = scope_of(s, req.set_id, req.version)
                ids = page(s, scope, req.after, 1_000_000, upto=req.upto)
                return ids, applied_versions(s, req.set_id, ids)

        ids, versions = await asyncio.to_thread(read)  # the event loop keeps signalling
        waiting = [e for e in ids if versions.get(e, 0) < req.version]
        applied = len(ids) - len(waiting)
        if len(waiting) > QUERY_AT_MOST:  # far from settled: failures are counted later
            return ScopeHealth(in_scope=len(ids), applied=applied, failed=0)
        gate = asyncio.Semaphore(QUERY_WINDOW)

        async def failed_one(employee_id: str) -> bool:
            event_id = rollout_event_id(req.rollout_id, employee_id)
            async with gate:
                try:
                    state = await self._client.get_workflow_handle(
                        employee_workflow_id(employee_id)
                    ).query("state", result_type=EmployeeLearningState, rpc_timeout=QUERY_TIMEOUT)
                except (RPCError, WorkflowQueryFailedError):
                    return False  # no workflow yet, or no worker answers now: pending
            return any(h.event_id == event_id and h.outcome == "failed" for h in state.history)

        failed = sum(await asyncio.gather(*(failed_one(e) for e in waiting)))
        return ScopeHealth(in_scope=len(ids), applied=applied, failed=failed)

    @activity.defn(name="rollout.enrollments")
    def enrollments(self, rollout_id: str) -> int:
        """Enrollments the rollout's events created (in the built-in LMS)."""
        prefix = rollout_event_id(rollout_id, "")
        with self._sessions() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(LmsEnrollmentRow)
                    .where(LmsEnrollmentRow.source_event.startswith(prefix, autoescape=True))
                )
                or 0
            )
