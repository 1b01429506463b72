"""Every Temporal Schedule the product uses, created or updated by `talentloop setup` only.

Workers never create Schedules: a deployment runs `talentloop setup` once per release (an init
job), and `talentloop doctor` reports a Schedule that is missing. Issues that add a Schedule
add it to `product_schedules`.
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from talentloop.service.config import Settings
from talentloop.service.digest_schedule import digest_schedules
from talentloop.service.lms_schedule import lms_schedules
from talentloop.service.rollout_schedule import rollout_schedules


def product_schedules(settings: Settings) -> dict[str, Schedule]:
    """The Schedules of a deployment with these settings, by Schedule id."""
    return {
        **lms_schedules(settings),
        **rollout_schedules(settings),
        **digest_schedules(settings),
    }


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the Schedule, or update an existing one to `schedule`.

    Returns:
        True when it was created, False when an existing one was updated.

    """
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)
        return False
    return True


async def ensure_schedules(client: Client, settings: Settings) -> dict[str, bool]:
    """Create or update every product Schedule; returns, by id, whether it was created."""
    return {
        schedule_id: await ensure_schedule(client, schedule_id, schedule)
        for schedule_id, schedule in product_schedules(settings).items()
    }


async def missing_schedules(client: Client, settings: Settings) -> list[str]:
    """The ids of the product Schedules the namespace does not have."""
    missing = []
    for schedule_id in product_schedules(settings):
        try:
            await client.get_schedule_handle(schedule_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            missing.append(schedule_id)
    return missing
