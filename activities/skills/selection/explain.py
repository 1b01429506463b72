"""The reasons: why a course is in the plan, why a gap cannot be closed or was deferred."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from activities.skills.selection.catalog import CatalogIndex
from activities.skills.selection.problem import EPS, Problem
from schemas.skills import Gap, PlanItem, format_level


def why_uncoverable(
    gap: Gap, index: CatalogIndex, reachable: float, taken: set[str], completed: set[str]
) -> str:
    """Why no plan can close ``gap``, in one sentence.

    Args:
        gap: The gap.
        index: The catalog.
        reachable: The best level of the gap's skill any plan reaches.
        taken: Course ids completed or enrolled in.
        completed: Course ids completed.

    Returns:
        The reason.

    """
    teaching = index.by_skill.get(gap.skill_id, [])
    if not teaching:
        return f"no course in the catalog teaches {gap.skill_name}"
    top = max(t.to_level for c in teaching for t in c.teaches if t.skill_id == gap.skill_id)
    if top < gap.target - EPS:
        return (
            f"the catalog teaches {gap.skill_name} only up to {format_level(top)}, "
            f"target {format_level(gap.target)}"
        )
    reaching = [
        c
        for c in teaching
        if any(t.skill_id == gap.skill_id and t.to_level >= gap.target - EPS for t in c.teaches)
    ]
    if all(c.id in taken for c in reaching):
        done = ", ".join(sorted(c.id for c in reaching))
        state = "completed" if all(c.id in completed for c in reaching) else "taken"
        return (
            f"the courses reaching {gap.skill_name} {format_level(gap.target)} ({done}) are "
            f"already {state}; the assessment still shows {format_level(gap.current)}"
        )
    return (
        f"the courses reaching {gap.skill_name} {format_level(gap.target)} cannot be started: "
        f"their prerequisites or starting levels are out of reach (best reachable "
        f"{format_level(reachable)})"
    )


def why_deferred(gap: Gap, reached: float, hours_budget: float | None) -> str:
    """Why a coverable ``gap`` stays open: the hours budget, with the level the plan reaches."""
    return (
        f"hours budget {format_level(hours_budget or 0)} h reached: "
        f"{gap.skill_name} reaches {format_level(reached)} "
        f"of {format_level(gap.target)}"
    )


def _gap_progress(
    i: int,
    before: Mapping[str, float],
    problem: Problem,
    gaps_by_skill: Mapping[str, Gap],
) -> tuple[list[str], list[str], float]:
    """What candidate ``i`` does for the gaps from levels ``before``.

    Returns:
        One phrase per gap it advances, the skills of those gaps, and the weighted closure.

    """
    phrases: list[str] = []
    closes: list[str] = []
    value = 0.0
    for s, _, to in problem.candidates[i].teaches:
        g = gaps_by_skill.get(s)
        if g is None:
            continue
        low = before.get(s, g.current)
        high = min(to, max(g.target, low))
        if to > low + EPS and low < g.target - EPS:
            closes.append(s)
            phrases.append(f"{g.skill_name} {format_level(low)}→{format_level(high)} {g.purpose()}")
            value += g.weight * (high - low)
    return phrases, closes, value


def plan_items(
    chosen: Sequence[int], problem: Problem, gaps_by_skill: Mapping[str, Gap]
) -> tuple[list[PlanItem], dict[str, float]]:
    """The chosen candidates as plan items in a feasible order, each with its reason.

    Args:
        chosen: Candidate indices.
        problem: The problem they were chosen for.
        gaps_by_skill: The gap of each gap skill (the highest target where several).

    Returns:
        The plan items, and the level of each skill at the end of the plan.

    """
    candidates = problem.candidates
    order, levels_end = problem.schedule(chosen)
    levels = dict(problem.start_levels)
    items: list[PlanItem] = []
    for i in order:
        c = candidates[i]
        phrases, closes, value = _gap_progress(i, levels, problem, gaps_by_skill)
        dependencies = {candidates[p].course.id for p in c.prerequisites}
        for s, f in c.entry_needs:
            first = next(
                (
                    j
                    for j in order
                    if any(sk == s and to >= f - EPS for sk, _, to in candidates[j].teaches)
                ),
                None,
            )
            if first is not None and first != i:
                dependencies.add(candidates[first].course.id)
        if not phrases:
            users = [
                candidates[j].course.title
                for j in order
                if j != i
                and (
                    i in candidates[j].prerequisites
                    or any(
                        any(s == es and to >= ef - EPS for s, _, to in c.teaches)
                        for es, ef in candidates[j].entry_needs
                    )
                )
            ]
            phrases.append(
                "prerequisite or starting level for " + ", ".join(users)
                if users
                else "supports the plan"
            )
        items.append(
            PlanItem(
                course_id=c.course.id,
                title=c.course.title,
                hours=c.course.hours,
                cost=c.course.cost,
                closes=tuple(closes),
                reason="; ".join(phrases),
                value=value,
                depends_on=tuple(sorted(dependencies)),
            )
        )
        for s, _, to in c.teaches:
            if to > levels.get(s, 0.0):
                levels[s] = to
    return items, levels_end
