"""The exact MILP is bounded in time: past its budget it gives up (None) and the caller falls
back to a feasible cover, so planning never runs unbounded inside an activity."""

from __future__ import annotations

from activities.skills.selection.milp import cover_milp
from activities.skills.selection.problem import Candidate, Problem
from schemas.skills import Course, CourseSkill


def _problem() -> Problem:
    def course(cid: str, hours: float, skill: str) -> Course:
        return Course(
            id=cid,
            title=cid,
            hours=hours,
            teaches=(CourseSkill(skill_id=skill, from_level=0, to_level=4),),
        )

    cands = [
        Candidate(course=course("a", 3, "s1"), objective=3, hours=3, teaches=[("s1", 0, 4)]),
        Candidate(course=course("b", 2, "s2"), objective=2, hours=2, teaches=[("s2", 0, 4)]),
        Candidate(course=course("c", 9, "s1"), objective=9, hours=9, teaches=[("s1", 0, 4)]),
    ]
    return Problem(
        candidates=cands,
        start_levels={},
        goals=[("s1", 4.0), ("s2", 4.0)],
        hours_budget=None,
        node_limit=1000,
    )


def test_the_milp_finds_the_optimum_within_its_budget() -> None:
    assert sorted(cover_milp(_problem(), total_seconds=30.0) or []) == [0, 1]


def test_the_milp_past_its_time_budget_gives_up_instead_of_running_on() -> None:
    assert cover_milp(_problem(), total_seconds=0.0) is None
