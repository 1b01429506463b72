"""The entry point: choose the courses that close one employee's gaps, as an explained plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from activities.skills.selection.budget import BudgetSearch
from activities.skills.selection.candidates import find_candidates
from activities.skills.selection.catalog import CatalogIndex
from activities.skills.selection.cover import Method, cover_by_parts
from activities.skills.selection.explain import plan_items, why_deferred, why_uncoverable
from activities.skills.selection.problem import EPS, Problem
from activities.skills.selection.search import CoverSearch
from schemas.skills import Course, Gap, Plan, UncoverableGap

DEFAULT_NODE_LIMIT = 5_000
"""Search nodes before a search settles for the best plan found so far."""


def choose_courses(
    gaps: Sequence[Gap],
    catalog: Sequence[Course] | CatalogIndex,
    *,
    assessed: Mapping[str, float] | None = None,
    completed: set[str] | frozenset[str] = frozenset(),
    enrolled: set[str] | frozenset[str] = frozenset(),
    minimise: Literal["hours", "cost"] = "hours",
    hours_budget: float | None = None,
    node_limit: int = DEFAULT_NODE_LIMIT,
    method: Method = "auto",
) -> Plan:
    """Choose the courses that close an employee's gaps at minimum total hours (or cost).

    Courses already completed or enrolled are never chosen again; enrolled courses count as
    taken (their levels and prerequisites are credited). Every gap the catalog cannot close is
    reported in ``uncoverable`` with the reason. With ``hours_budget``, if closing every
    coverable gap does not fit, the plan maximises weighted gap closure (weight x levels
    closed) within the budget and lists what stays open in ``deferred``.

    Args:
        gaps: The employee's gaps (from ``compute_gaps``).
        catalog: The courses, or a prebuilt :class:`CatalogIndex` (faster when reused).
        assessed: Current levels per skill id, for starting levels of non-gap skills; gap
            skills default to the gap's current level.
        completed: Course ids already completed.
        enrolled: Course ids already enrolled in.
        minimise: "hours" or "cost".
        hours_budget: Maximum total hours of the chosen courses.
        node_limit: Search nodes before settling for the best plan found so far.
        method: "auto" (default: exact, fast on ladder-shaped catalogs), "fast" (never slow,
            ``optimal=False`` when it could not prove the optimum) or "exact" (the reference
            search, no ladder shortcut).

    Returns:
        The plan: ordered items with reasons, uncoverable and deferred gaps, totals.

    """
    index = catalog if isinstance(catalog, CatalogIndex) else CatalogIndex(catalog)
    taken = set(completed) | set(enrolled)
    start: dict[str, float] = dict(assessed or {})
    for g in gaps:
        start.setdefault(g.skill_id, g.current)
    for cid in sorted(enrolled):
        course = index.courses.get(cid)
        for t in course.teaches if course is not None else ():
            if t.to_level > start.get(t.skill_id, 0.0):
                start[t.skill_id] = t.to_level

    gaps_by_skill: dict[str, Gap] = {}
    for g in gaps:
        held = gaps_by_skill.get(g.skill_id)
        if held is None or g.target > held.target:
            gaps_by_skill[g.skill_id] = g
    by_enrolled = sorted(
        s
        for s, g in gaps_by_skill.items()
        if start.get(s, g.current) >= g.target - EPS and g.current < g.target - EPS
    )
    open_gaps = {s: g for s, g in gaps_by_skill.items() if start.get(s, g.current) < g.target - EPS}

    candidates, reach = find_candidates(index, start, set(open_gaps), taken, minimise)
    problem = Problem(
        candidates=candidates,
        start_levels=start,
        goals=[],
        hours_budget=hours_budget,
        node_limit=node_limit,
    )
    coverable = {s for s, g in open_gaps.items() if reach.get(s, 0.0) >= g.target - EPS}
    uncoverable = tuple(
        UncoverableGap(
            gap=g,
            reason=why_uncoverable(g, index, reach.get(s, start[s]), taken, set(completed)),
            reachable=reach.get(s, start[s]),
        )
        for s, g in sorted(open_gaps.items(), key=lambda kv: (-kv[1].weighted_size, kv[0]))
        if s not in coverable
    )
    problem.goals = sorted((s, open_gaps[s].target) for s in coverable)

    binding = False
    found, optimal = cover_by_parts(problem, method)
    chosen: list[int] = found
    if hours_budget is not None and sum(candidates[i].hours for i in found) > hours_budget + EPS:
        got: frozenset[int] | None = None
        cover = CoverSearch(problem)
        if minimise == "cost":  # a costlier cover may still fit the hours budget
            got = cover.run()
        if got is not None:
            chosen, optimal = sorted(got), not cover.aborted
        else:
            binding = True
            partial = BudgetSearch(problem, list(open_gaps.values()))
            chosen = partial.run()
            optimal = not partial.aborted and not cover.aborted

    items, levels = plan_items(chosen, problem, gaps_by_skill)
    deferred = tuple(
        UncoverableGap(
            gap=open_gaps[s],
            reason=why_deferred(open_gaps[s], levels.get(s, 0.0), hours_budget),
            reachable=levels.get(s, 0.0),
        )
        for s in sorted(coverable, key=lambda s: (-open_gaps[s].weighted_size, s))
        if levels.get(s, 0.0) < open_gaps[s].target - EPS
    )
    return Plan(
        items=tuple(items),
        uncoverable=uncoverable,
        deferred=deferred,
        covered_by_enrolled=tuple(by_enrolled),
        total_hours=sum(i.hours for i in items),
        total_cost=sum(i.cost for i in items),
        minimise=minimise,
        hours_budget=hours_budget,
        budget_binding=binding,
        optimal=optimal,
    )
