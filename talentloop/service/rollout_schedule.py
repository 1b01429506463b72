"""The rollouts' Temporal Schedule: the reconciliation of employees behind the version in force."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from schemas.rollout import ReconcilePage
from talentloop.service.config import Settings
from workflows.rollout_reconcile import (
    RECONCILE_SCHEDULE_ID,
    ReconcileInput,
    RolloutReconcileWorkflow,
)


def reconcile_schedule(settings: Settings) -> Schedule:
    """Every `rollout_reconcile_hours` (a day by default); a run still going skips the next."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RolloutReconcileWorkflow.run,
            ReconcileInput(page=ReconcilePage(window=settings.rollout_window)),
            id=f"{RECONCILE_SCHEDULE_ID}-run",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(hours=settings.rollout_reconcile_hours))
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def rollout_schedules(settings: Settings) -> dict[str, Schedule]:
    """The rollouts' Schedules by id."""
    return {RECONCILE_SCHEDULE_ID: reconcile_schedule(settings)}
