"""The rule "hours budget": never an empty plan when some course fits and closes a gap."""

from __future__ import annotations

import random

from activities.skills.selection import choose_courses
from schemas.skills import Course, CourseSkill, Gap


def unreachable_bait(n: int) -> tuple[list[Course], list[Gap]]:
    """`n` valuable 2-hour courses whose 20-hour prerequisite never fits, and one that does."""
    catalog: list[Course] = []
    gaps: list[Gap] = []
    for i in range(n):
        catalog.append(
            Course(
                id=f"pre-{i:02d}",
                title=f"Foundations {i}",
                hours=20,
                teaches=(CourseSkill(skill_id=f"p{i}", to_level=1),),
            )
        )
        catalog.append(
            Course(
                id=f"adv-{i:02d}",
                title=f"Advanced {i}",
                hours=2,
                teaches=(CourseSkill(skill_id=f"s{i}", to_level=5),),
                prerequisites=(f"pre-{i:02d}",),
            )
        )
        gaps.append(
            Gap(skill_id=f"s{i}", skill_name=f"S{i}", target=5, current=0, size=5, weight=3)
        )
    catalog.append(
        Course(id="ok", title="Fits", hours=5, teaches=(CourseSkill(skill_id="t", to_level=3),))
    )
    gaps.append(Gap(skill_id="t", skill_name="T", target=3, current=0, size=3, weight=1))
    return catalog, gaps


def test_rule_hours_budget_never_returns_an_empty_plan_when_the_optimum_is_not_empty() -> None:
    catalog, gaps = unreachable_bait(14)
    plan = choose_courses(gaps, catalog, hours_budget=10)
    assert plan.course_ids == ["ok"]
    assert plan.budget_binding and plan.total_hours <= 10
    # Even a search stopped almost at once keeps the feasible greedy plan.
    hurried = choose_courses(gaps, catalog, hours_budget=10, node_limit=3)
    assert hurried.course_ids == ["ok"]


def closure(plan_ids: list[str], catalog: list[Course], gaps: list[Gap]) -> float:
    reached: dict[str, float] = {}
    by_id = {c.id: c for c in catalog}
    for cid in plan_ids:
        for t in by_id[cid].teaches:
            reached[t.skill_id] = max(reached.get(t.skill_id, 0.0), t.to_level)
    return sum(
        g.weight * max(0.0, min(g.target, reached.get(g.skill_id, 0.0)) - g.current) for g in gaps
    )


def test_rule_hours_budget_a_stopped_search_is_never_worse_than_a_finished_one_allows() -> None:
    """On random catalogs with prerequisites, a node-limited search finds a non-empty plan
    whenever the exact one is non-empty, within the budget."""
    rng = random.Random(5)
    for _ in range(40):
        catalog: list[Course] = []
        for i in range(12):
            pre = (f"c{rng.randrange(i)}",) if i and rng.random() < 0.5 else ()
            catalog.append(
                Course(
                    id=f"c{i}",
                    title=f"C{i}",
                    hours=rng.choice([2, 4, 8, 16, 24]),
                    teaches=(
                        CourseSkill(
                            skill_id=f"s{rng.randrange(6)}", to_level=rng.choice([2, 4, 6])
                        ),
                    ),
                    prerequisites=pre,
                )
            )
        gaps = [
            Gap(
                skill_id=f"s{k}",
                skill_name=f"S{k}",
                target=6,
                current=0,
                size=6,
                weight=rng.choice([1, 3]),
            )
            for k in range(6)
        ]
        budget = rng.choice([6, 10, 20])
        exact = choose_courses(gaps, catalog, hours_budget=budget, node_limit=200_000)
        hurried = choose_courses(gaps, catalog, hours_budget=budget, node_limit=5)
        assert hurried.total_hours <= budget and exact.total_hours <= budget
        if exact.items:
            assert hurried.items
        assert (
            closure(hurried.course_ids, catalog, gaps)
            <= closure(exact.course_ids, catalog, gaps) + 1e-9
        )
