"""RolloutReconcileWorkflow: applies the objective-set versions in force to employees behind.

Run by a Temporal Schedule (`RECONCILE_SCHEDULE_ID`, created by `talentloop setup`): new
joiners, a missed signal, a restored backup, employees without a workflow yet. It pages
through the directory set by set (one activity per page, which signals the employees behind)
and continues as new when its history grows, so it stays bounded at any population size.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from temporalio import workflow

from workflows.calls import call_remote

with workflow.unsafe.imports_passed_through():
    from activities.rollout.fanout import RolloutActivities
    from schemas.rollout import ReconcilePage

RECONCILE_SCHEDULE_ID = "rollout-reconcile"
"""The Schedule's id (one per deployment)."""

HISTORY_EVENTS = 2000
"""Continue as new once the run's history is this long."""


class ReconcileTotals(BaseModel):
    """What a reconciliation did (over all its runs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    looked_at: int = 0
    behind: int = 0
    signalled: int = 0
    failed: int = 0
    skipped: tuple[str, ...] = ()
    """Rollouts still running, whose employees were left to them."""


class ReconcileInput(BaseModel):
    """Where to start (a run continued as new goes on from its cursor and totals)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    page: ReconcilePage = ReconcilePage()
    totals: ReconcileTotals = ReconcileTotals()


@workflow.defn
class RolloutReconcileWorkflow:
    """Reconciles every employee with the objective-set versions in force."""

    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileTotals:
        """Page through the sets and their employees until done."""
        page, totals = inp.page, inp.totals
        while True:
            out = await call_remote(RolloutActivities.reconcile, page, "rollout")
            totals = ReconcileTotals(
                looked_at=totals.looked_at + out.looked_at,
                behind=totals.behind + out.behind,
                signalled=totals.signalled + out.signalled,
                failed=totals.failed + out.failed,
                skipped=tuple(sorted({*totals.skipped, *out.skipped_sets})),
            )
            if out.done:
                return totals
            page = page.model_copy(
                update={"after_set": out.after_set, "after_employee": out.after_employee}
            )
            if workflow.info().get_current_history_length() > HISTORY_EVENTS:
                workflow.continue_as_new(ReconcileInput(page=page, totals=totals))
