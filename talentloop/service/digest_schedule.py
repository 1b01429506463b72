"""The monitoring digests' Temporal Schedules: weekly to managers, daily to HR ops (UTC)."""

from __future__ import annotations

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from schemas.digests import DigestInput, DigestKind
from talentloop.service.config import Settings
from workflows.digests import DIGEST_SCHEDULES, DigestWorkflow

CRON: dict[DigestKind, str] = {"manager": "0 7 * * 1", "hr": "0 7 * * *"}
"""When each digest goes out: Mondays 07:00 UTC to managers, every day 07:00 UTC to HR ops."""


def digest_schedule(settings: Settings, kind: DigestKind) -> Schedule:
    """The Schedule of one digest; a run still going skips the next."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DigestWorkflow.run,
            DigestInput(kind=kind),
            id=f"{DIGEST_SCHEDULES[kind]}-run",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[CRON[kind]]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def digest_schedules(settings: Settings) -> dict[str, Schedule]:
    """The digests' Schedules by id."""
    return {DIGEST_SCHEDULES[k]: digest_schedule(settings, k) for k in ("manager", "hr")}
