"""The fast selection path agrees with the exact reference (generated catalogs)."""

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.skills.selection import CatalogIndex, choose_courses
from schemas.skills import Course, CourseSkill, Gap

EPS = 1e-6
SKILLS = ["a", "b", "c", "d"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def gap(skill, current, target, weight=1.0):
    return Gap(
        skill_id=skill,
        skill_name=skill.upper(),
        target=target,
        current=current,
        size=target - current,
        weight=weight,
        source="onet:1",
        source_title="Analyst",
    )


def course(cid, hours, *teaches, prereqs=()):
    return Course(
        id=cid,
        title=cid,
        hours=hours,
        cost=hours * 10,
        teaches=tuple(CourseSkill(skill_id=s, from_level=f, to_level=t) for s, f, t in teaches),
        prerequisites=tuple(prereqs),
    )


def run_in_order(plan, catalog, gaps):
    """Levels after taking the plan in its order; fails if a course cannot start."""
    by_id = {c.id: c for c in catalog}
    levels = {g.skill_id: g.current for g in gaps}
    done: set[str] = set()
    for cid in plan.course_ids:
        c = by_id[cid]
        assert all(p in done for p in c.prerequisites)
        assert all(levels.get(t.skill_id, 0.0) >= t.from_level - EPS for t in c.teaches)
        done.add(cid)
        for t in c.teaches:
            levels[t.skill_id] = max(levels.get(t.skill_id, 0.0), t.to_level)
    return levels


@st.composite
def ladder_instances(draw, prereqs=False):
    """Demo-shaped catalogs: per-skill ladders plus a few bundles (optionally prerequisites)."""
    catalog = []
    for s in SKILLS:
        for k in range(draw(st.integers(1, 4))):
            lo = draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0]))
            hi = min(7.0, lo + draw(st.sampled_from([1.0, 2.0, 3.0, 3.5])))
            pre = ()
            if prereqs and catalog and draw(st.booleans()):
                pre = (draw(st.sampled_from([c.id for c in catalog])),)
            catalog.append(course(f"{s}{k}", draw(st.integers(2, 30)), (s, lo, hi), prereqs=pre))
    for k in range(draw(st.integers(0, 3))):
        members = draw(st.lists(st.sampled_from(SKILLS), min_size=2, max_size=3, unique=True))
        lo = draw(st.sampled_from([0.0, 1.0, 2.0]))
        hi = lo + draw(st.sampled_from([2.0, 3.0]))
        catalog.append(
            course(f"bundle{k}", draw(st.integers(4, 30)), *[(m, lo, hi) for m in members])
        )
    gaps = []
    for s in draw(st.lists(st.sampled_from(SKILLS), min_size=1, max_size=4, unique=True)):
        cur = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.25]))
        gaps.append(
            gap(
                s,
                cur,
                cur + draw(st.sampled_from([0.5, 1.0, 2.0, 3.5])),
                weight=draw(st.integers(1, 5)),
            )
        )
    return gaps, catalog


@SETTINGS
@given(ladder_instances(), st.sampled_from(["hours", "cost"]))
def test_auto_equals_exact_on_ladder_catalogs(inst, minimise):
    gaps, catalog = inst
    auto = choose_courses(gaps, catalog, minimise=minimise)
    exact = choose_courses(gaps, catalog, minimise=minimise, method="exact")
    key = "total_hours" if minimise == "hours" else "total_cost"
    assert getattr(auto, key) == pytest.approx(getattr(exact, key))
    assert auto.optimal
    levels = run_in_order(auto, catalog, gaps)
    assert {u.gap.skill_id for u in auto.uncoverable} == {u.gap.skill_id for u in exact.uncoverable}
    for g in gaps:
        if g.skill_id not in {u.gap.skill_id for u in auto.uncoverable}:
            assert levels[g.skill_id] >= g.target - EPS


@SETTINGS
@given(ladder_instances(prereqs=True), st.sampled_from(["auto", "fast"]))
def test_fast_and_auto_never_claim_an_optimum_they_do_not_have(inst, method):
    gaps, catalog = inst
    plan = choose_courses(gaps, catalog, method=method)
    exact = choose_courses(gaps, catalog, method="exact")
    run_in_order(plan, catalog, gaps)
    assert plan.total_hours >= exact.total_hours - EPS or not exact.optimal
    if plan.optimal:
        assert plan.total_hours == pytest.approx(exact.total_hours)
    if method == "auto":
        assert plan.optimal or not exact.optimal


def test_a_bundle_replaces_three_ladders_only_when_three_skills_need_it():
    catalog = [course(f"{s}-found", 5, (s, 0, 3)) for s in "abc"]
    catalog += [course(f"{s}-practice", 10, (s, 2, 5)) for s in "abc"]
    catalog.append(course("bundle", 18, ("a", 1, 4), ("b", 1, 4), ("c", 1, 4)))
    index = CatalogIndex(catalog)
    three = choose_courses([gap(s, 1, 4) for s in "abc"], index)
    assert three.course_ids == ["bundle"] and three.total_hours == 18 and three.optimal
    one = choose_courses([gap("a", 1, 4)], index)
    assert one.course_ids == ["a-found", "a-practice"] and one.total_hours == 15


def test_reasons_name_the_role_by_title():
    plan = choose_courses([gap("a", 0, 3)], [course("a-found", 5, ("a", 0, 3))])
    assert plan.items[0].reason == "A 0→3 for role Analyst"


def test_due_dates_and_objectives_survive_the_fast_path():
    g = Gap(
        skill_id="a",
        skill_name="A",
        target=3,
        current=0,
        size=3,
        weight=2,
        source="Q3-cloud",
        objective_id="Q3-cloud",
        due=date(2027, 3, 31),
    )
    plan = choose_courses([g], [course("a-found", 5, ("a", 0, 3))])
    assert plan.items[0].reason == "A 0→3 for objective Q3-cloud, due 2027-03-31"
