"""The minimum-cost cover, split into independent parts, each given to the solver that fits it."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from activities.skills.selection.ladder import LadderCover
from activities.skills.selection.milp import cover_milp
from activities.skills.selection.problem import EPS, Need, Problem
from activities.skills.selection.search import CoverSearch

FAST_NODE_LIMIT = 300
"""Search nodes per part the "fast" method spends when ladders and MILP did not solve it."""
EXACT_MILP_SECONDS = 10.0
"""Time the exact method gives the MILP of one part, all rounds together: past it, the plan is
a feasible cover (reverse delete) marked not optimal, so planning never runs unbounded."""
FAST_MILP_SECONDS = 0.05
"""Time the "fast" method gives the MILP on a part the ladders cannot solve."""

Method = Literal["auto", "fast", "exact"]
"""How ``choose_courses`` searches: "auto" (ladders where they apply, else the MILP, else the
search; exact), "fast" (the same with time limits: may miss the optimum, and says so) or
"exact" (the search, then the MILP: the reference)."""


def _parts(problem: Problem) -> list[tuple[list[int], list[Need]]]:
    """Independent parts: candidates linked by a shared skill or a prerequisite, with goals."""
    linked, first = problem.link(range(len(problem.candidates)))
    members = linked.groups()
    goals: dict[int, list[Need]] = {}
    for goal in problem.goals:
        goals.setdefault(linked.find(first[goal[0]]), []).append(goal)
    return [(members[root], goals[root]) for root in sorted(goals)]


def _reverse_delete(problem: Problem, pool: list[int]) -> list[int]:
    """A feasible cover of the goals from ``pool``: all usable, then drop what is not needed."""
    order, _ = problem.schedule(pool)
    keep = list(order)
    for i in sorted(order, key=lambda i: -problem.candidates[i].objective):
        trial = [j for j in keep if j != i]
        done, levels = problem.schedule(trial)
        if len(done) == len(trial) and all(levels.get(s, 0.0) >= t - EPS for s, t in problem.goals):
            keep = trial
    return keep


def cover_by_parts(problem: Problem, method: Method = "auto") -> tuple[list[int], bool]:
    """Minimum-cost cover solved part by part (costs add up); returns courses and optimality.

    "auto" solves a part with few special courses exactly on its skill ladders, any other by
    the MILP, and only if that fails by the search. "fast" does the same with the MILP limited to
    :data:`FAST_MILP_SECONDS` and the search to :data:`FAST_NODE_LIMIT` nodes (not proven
    optimal when cut). "exact" is the reference: the search, then the MILP if it gives up.
    The problem's hours budget is not applied.
    """
    if method != "exact":
        whole = LadderCover(problem).run_all()
        if whole is not None:
            return sorted(set(whole)), True
    chosen: list[int] = []
    optimal = True
    for members, goals in _parts(problem):
        position = {old: new for new, old in enumerate(members)}
        part = Problem(
            candidates=[
                replace(
                    problem.candidates[i],
                    prerequisites=[position[p] for p in problem.candidates[i].prerequisites],
                )
                for i in members
            ],
            start_levels=problem.start_levels,
            goals=sorted(goals),
            hours_budget=None,
            node_limit=problem.node_limit,
        )
        found: frozenset[int] | None = None
        if method != "exact":
            ladder = LadderCover(part)
            if ladder.applicable():
                cover = ladder.run()
                if cover is not None:
                    chosen.extend(members[i] for i in sorted(set(cover)))
                    continue
        if method != "exact":
            milp = cover_milp(part, time_limit=FAST_MILP_SECONDS if method == "fast" else None)
            if milp is not None:
                chosen.extend(members[i] for i in sorted(milp))
                continue
        if method == "fast":
            part.node_limit = min(part.node_limit, FAST_NODE_LIMIT)
        search = CoverSearch(part)
        found = search.run()
        if search.aborted and method != "exact":
            optimal = False
        elif search.aborted:
            milp = cover_milp(part, total_seconds=EXACT_MILP_SECONDS)
            if milp is not None:
                found = frozenset(milp)
            else:
                optimal = False
        if found is None:
            found = frozenset(_reverse_delete(part, list(range(len(part.candidates)))))
        chosen.extend(members[i] for i in sorted(found))
    return sorted(chosen), optimal
