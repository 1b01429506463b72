"""The bridge's directory check: is the employee an event names known (with a short cache)?"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection

from schemas.events import COURSE_COMPLETED, GOAL_CHANGED, REVIEW_COMPLETED, InboundEvent
from talentloop.service.bridge.stats import Backoff, BridgeStats
from talentloop.service.cloudevents import InvalidEvent

log = logging.getLogger("talentloop.service.bridge")

KnownEmployee = Callable[[str], Awaitable[bool]]
"""Answers whether the directory knows an employee id."""

UnknownSkills = Callable[[list[str]], Awaitable[list[str]]]
"""Answers which of some skill ids the skills framework does not hold."""

SKILLS_SHOWN = 5
"""Unknown skill ids a refusal names; the rest are counted."""


def needs_known_employee(event: InboundEvent) -> bool:
    """Whether the event may only be delivered for an employee the directory knows.

    Reviews, completions, goals and changes of an existing employee need one; a ``joined``
    change brings the employee in.
    """
    return event.type in (REVIEW_COMPLETED, COURSE_COMPLETED, GOAL_CHANGED) or (
        event.employee_update is not None and event.employee_update.change != "joined"
    )


async def check_employee(
    event: InboundEvent, check: KnownEmployee | None, stats: BridgeStats
) -> None:
    """Refuse (`InvalidEvent` "unknown-employee") an event for an employee nobody knows.

    A failing check (the directory is down) is retried with back-off: the event waits, and its
    key with it; it is not lost.
    """
    if check is None or not needs_known_employee(event):
        return
    backoff = Backoff()
    while True:
        try:
            known = await check(event.employee_id)
            break
        except Exception as err:
            stats.directory_retries += 1
            log.warning("directory check of event %s failed (%s); retrying", event.event_id, err)
            await backoff.wait()
    if not known:
        raise InvalidEvent("unknown-employee", f"employee {event.employee_id} is unknown")


def directory_check(
    lookup: Callable[[str], object | None],
    *,
    ttl: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> KnownEmployee:
    """A `KnownEmployee` over a blocking directory look-up, trusting a found id for `ttl` s.

    Ids that were found are not looked up again for `ttl` seconds; an employee who left (the
    look-up answers None for them) is refused at the latest `ttl` seconds later. Ids that were
    not found are always asked again: they may join any moment.
    """
    found_at: dict[str, float] = {}

    async def check(employee_id: str) -> bool:
        seen = found_at.get(employee_id)
        if seen is not None and clock() - seen < ttl:
            return True
        if await asyncio.to_thread(lookup, employee_id) is None:
            found_at.pop(employee_id, None)
            return False
        found_at[employee_id] = clock()
        return True

    return check


async def check_skills(
    event: InboundEvent, check: UnknownSkills | None, stats: BridgeStats
) -> None:
    """Refuse (`InvalidEvent` "unknown-skill") a goal naming a skill the framework lacks.

    Only ``goal.changed`` names skills that must exist (a review's unknown ratings are
    accepted and flagged by the planner, docs/contract.md). A failing check is retried with
    back-off, as the directory check is.
    """
    if check is None or event.goal is None or not event.goal.skills:
        return
    wanted = [s.skill_id for s in event.goal.skills]
    backoff = Backoff()
    while True:
        try:
            unknown = await check(wanted)
            break
        except Exception as err:
            stats.directory_retries += 1
            log.warning("skills check of event %s failed (%s); retrying", event.event_id, err)
            await backoff.wait()
    if unknown:
        shown = ", ".join(unknown[:SKILLS_SHOWN])
        more = len(unknown) - SKILLS_SHOWN
        listed = f"{shown} and {more} more" if more > 0 else shown
        raise InvalidEvent("unknown-skill", f"data.skills: not in the skills framework: {listed}")


def skills_check(known: Callable[[list[str]], Collection[str]]) -> UnknownSkills:
    """An `UnknownSkills` over a blocking look-up returning which of the ids are known.

    Skills are never removed from the framework (an O*NET re-import only adds or updates
    them), so a skill found once is trusted for good; unknown ids are asked again each time.
    """
    found: set[str] = set()

    async def check(skill_ids: list[str]) -> list[str]:
        ask = [k for k in skill_ids if k not in found]
        if ask:
            found.update(await asyncio.to_thread(known, ask))
        return [k for k in skill_ids if k not in found]

    return check
