"""Seats a rollout's new enrollments need per course session, first come, first served.

The built-in LMS enrolls in the first open session (by start) with a free seat, else joins the
first open session's waitlist; a course without sessions is self-paced. Across the rollout's
waves the order of employees changes who gets a seat, not how many seats each session fills,
so the counts here are what the rollout meets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from activities.rollout.population import SessionSeats
from schemas.preview import SeatDemand

__all__ = ["seat_demand"]

_FAR = datetime.max.replace(tzinfo=UTC)


def seat_demand(
    new_by_course: Mapping[str, int],
    sessions: Mapping[str, Sequence[SessionSeats]],
    now: datetime,
) -> tuple[list[SeatDemand], list[str]]:
    """Where the new enrollments of each course go, against the free seats of its sessions.

    Args:
        new_by_course: New enrollments per course id.
        sessions: The sessions of each course (a course without any is self-paced).
        now: When the enrollments are made (sessions that ended are closed).

    Returns:
        One line per session that receives enrollments (its waitlist count when it overflows),
        by course and start; and the courses with sessions of which none is open (the LMS
        refuses their enrollments).

    """
    out: list[SeatDemand] = []
    closed: list[str] = []
    for course_id in sorted(new_by_course):
        demand = new_by_course[course_id]
        runs = sessions.get(course_id, ())
        if demand <= 0 or not runs:
            continue
        open_ = sorted((r for r in runs if r.is_open(now)), key=lambda r: (r.starts or _FAR, r.id))
        if not open_:
            closed.append(course_id)
            continue
        needed = {r.id: 0 for r in open_}
        left = demand
        for r in open_:
            take = min(left, max(0, r.capacity - r.taken))
            needed[r.id] += take
            left -= take
        waitlisted = {r.id: 0 for r in open_}
        if left > 0:
            needed[open_[0].id] += left
            waitlisted[open_[0].id] = left
        out.extend(
            SeatDemand(
                course_id=course_id,
                session_id=r.id,
                starts=r.starts.date() if r.starts else None,
                capacity=r.capacity,
                taken=r.taken,
                needed=needed[r.id],
                waitlisted=waitlisted[r.id],
            )
            for r in open_
            if needed[r.id] > 0
        )
    return out, closed
