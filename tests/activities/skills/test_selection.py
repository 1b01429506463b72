"""Course selection for one employee: exact, feasible, explained.

Catalogs here are generated (O*NET has no courses).
"""

import itertools
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.skills.gaps import assess, compute_gaps, effective_requirements
from activities.skills.selection import CatalogIndex, choose_courses
from schemas.skills import (
    Course,
    CourseSkill,
    Evidence,
    Gap,
    Objective,
    ObjectiveRequirement,
    ObjectiveSet,
    Plan,
    Role,
    RoleRequirement,
    Skill,
)

EPS = 1e-6


def gap(skill, current, target, weight=1.0, objective="Q3-cloud", due=date(2027, 3, 31)):
    return Gap(
        skill_id=skill,
        skill_name=skill.capitalize(),
        target=target,
        current=current,
        size=target - current,
        weight=weight,
        source=objective or "role",
        objective_id=objective,
        due=due,
        policy="manager_over_self",
    )


def course(cid, hours, *teaches, prereqs=(), cost=0.0):
    return Course(
        id=cid,
        title=cid.upper(),
        hours=hours,
        cost=cost,
        teaches=tuple(CourseSkill(skill_id=s, from_level=f, to_level=t) for s, f, t in teaches),
        prerequisites=tuple(prereqs),
    )


# --- reference semantics, written independently of the engine -----------------------------


def start_levels(gaps, catalog, enrolled):
    levels = {g.skill_id: g.current for g in gaps}
    for c in catalog:
        if c.id in enrolled:
            for t in c.teaches:
                levels[t.skill_id] = max(levels.get(t.skill_id, 0.0), t.to_level)
    return levels


def run_in_order(courses, levels, done):
    """Take ``courses`` in the given order; None if one cannot start. Returns final levels."""
    levels, done = dict(levels), set(done)
    for c in courses:
        if any(p not in done for p in c.prerequisites):
            return None
        if any(levels.get(t.skill_id, 0.0) < t.from_level - EPS for t in c.teaches):
            return None
        done.add(c.id)
        for t in c.teaches:
            levels[t.skill_id] = max(levels.get(t.skill_id, 0.0), t.to_level)
    return levels


def best_levels(subset, levels, done):
    """Levels after taking ``subset`` in any feasible order (None if no order takes them all)."""
    pending, levels, done = list(subset), dict(levels), set(done)
    while pending:
        ready = [c for c in pending if run_in_order([c], levels, done) is not None]
        if not ready:
            return None
        for c in ready:
            levels = run_in_order([c], levels, done)
            done.add(c.id)
            pending.remove(c)
    return levels


def value(levels, gaps):
    return sum(
        g.weight * max(0.0, min(g.target, levels.get(g.skill_id, 0)) - g.current) for g in gaps
    )


def brute_force(
    gaps, catalog, completed=frozenset(), enrolled=frozenset(), key="hours", budget=None
):
    taken = set(completed) | set(enrolled)
    pool = [c for c in catalog if c.id not in taken]
    start = start_levels(gaps, catalog, enrolled)
    reach = best_levels([], start, taken)
    feasible = []
    for r in range(len(pool) + 1):
        for subset in itertools.combinations(pool, r):
            lv = best_levels(subset, start, taken)
            if lv is None:
                continue
            feasible.append((subset, lv))
            for s, v in lv.items():
                reach[s] = max(reach.get(s, 0), v)
    coverable = {g.skill_id for g in gaps if reach.get(g.skill_id, 0) >= g.target - EPS}

    def closes_all(lv):
        return all(
            lv.get(s, 0) >= g.target - EPS for g in gaps for s in [g.skill_id] if s in coverable
        )

    def hours(sub):
        return sum(c.hours for c in sub)

    def obj(sub):
        return sum(getattr(c, key) for c in sub)

    covers = [
        (obj(s), s)
        for s, lv in feasible
        if closes_all(lv) and (budget is None or hours(s) <= budget + EPS)
    ]
    if covers:
        return {"mode": "cover", "best": min(o for o, _ in covers), "coverable": coverable}
    best_val = max(value(lv, gaps) for s, lv in feasible if hours(s) <= budget + EPS)
    return {"mode": "budget", "best": best_val, "coverable": coverable}


def check_feasible(plan: Plan, gaps, catalog, completed=frozenset(), enrolled=frozenset()):
    by_id = {c.id: c for c in catalog}
    chosen = [by_id[i.course_id] for i in plan.items]
    assert len(set(plan.course_ids)) == len(chosen)
    assert not set(plan.course_ids) & (set(completed) | set(enrolled))
    levels = run_in_order(
        chosen, start_levels(gaps, catalog, enrolled), set(completed) | set(enrolled)
    )
    assert levels is not None, "plan order breaks a prerequisite or starting level"
    assert plan.total_hours == pytest.approx(sum(c.hours for c in chosen))
    return levels


# --- examples -----------------------------------------------------------------------------


CATALOG = [
    course("py101", 10, ("prog", 0, 3)),
    course("py201", 20, ("prog", 3, 5), prereqs=["py101"]),
    course("pyboot", 35, ("prog", 0, 5)),
    course("cloud1", 8, ("cloud", 0, 2), ("prog", 0, 1)),
    course("cloud2", 16, ("cloud", 2, 4)),
    course("math1", 5, ("math", 0, 1.5)),
]


def test_closes_gaps_at_minimum_hours_with_reasons():
    gaps = [gap("prog", 2, 4), gap("cloud", 0, 3)]
    plan = choose_courses(gaps, CATALOG)
    assert set(plan.course_ids) == {"cloud1", "cloud2", "py101", "py201"}
    assert plan.total_hours == 54 and plan.optimal and not plan.uncoverable
    py201 = next(i for i in plan.items if i.course_id == "py201")
    assert py201.reason == "Prog 3→4 for objective Q3-cloud, due 2027-03-31"
    assert py201.closes == ("prog",)
    check_feasible(plan, gaps, CATALOG)


def test_minimise_cost_can_choose_differently():
    cat = [course("a", 10, ("x", 0, 3), cost=900), course("b", 30, ("x", 0, 3), cost=100)]
    assert choose_courses([gap("x", 0, 3)], cat).course_ids == ["a"]
    plan = choose_courses([gap("x", 0, 3)], cat, minimise="cost")
    assert plan.course_ids == ["b"] and plan.total_cost == 100


def test_uncoverable_gap_is_reported_with_reason():
    gaps = [gap("math", 0, 2), gap("law", 0, 1), gap("prog", 0, 3)]
    plan = choose_courses(gaps, CATALOG)
    assert plan.course_ids == ["py101"]
    reasons = {u.gap.skill_id: u.reason for u in plan.uncoverable}
    assert "only up to 1.5" in reasons["math"]
    assert "no course" in reasons["law"]


def test_completed_and_enrolled_courses_are_not_chosen_again():
    gaps = [gap("prog", 0, 5)]
    plan = choose_courses(gaps, CATALOG, completed={"py101"})
    # py101 done but the assessment says 0: py201 cannot start, so pyboot.
    assert plan.course_ids == ["pyboot"]
    plan = choose_courses(gaps, CATALOG, enrolled={"py101"})
    assert plan.course_ids == ["py201"]  # enrolled py101 brings prog to 3
    plan = choose_courses([gap("prog", 0, 3)], CATALOG, enrolled={"py101"})
    assert plan.items == () and plan.covered_by_enrolled == ("prog",)


def test_supporting_course_says_what_it_enables():
    cat = [course("adv", 5, ("x", 2, 4)), course("base", 3, ("y", 0, 1), ("x", 0, 2))]
    plan = choose_courses([gap("x", 1, 4)], cat)
    assert plan.course_ids == ["base", "adv"]
    assert plan.items[0].reason.startswith("X 1→2 for objective Q3-cloud")


def test_budget_maximises_weighted_closure():
    gaps = [gap("prog", 2, 4, weight=12), gap("math", 0, 1.5, weight=3)]
    plan = choose_courses(gaps, CATALOG, hours_budget=15)
    assert plan.budget_binding
    assert set(plan.course_ids) == {"py101", "math1"}
    assert plan.total_hours <= 15
    assert [d.gap.skill_id for d in plan.deferred] == ["prog"]
    assert "hours budget" in plan.deferred[0].reason
    roomy = choose_courses(gaps, CATALOG, hours_budget=100)
    assert not roomy.budget_binding and not roomy.deferred


def test_reused_index_is_fast_for_a_few_hundred_courses():
    import random
    import time

    rng = random.Random(7)
    skills = [f"s{i}" for i in range(35)]
    cat = []
    for i in range(300):
        s = rng.choice(skills)
        lo = rng.choice([0, 0, 2, 3])
        cat.append(
            course(
                f"c{i}",
                rng.randint(2, 40),
                (s, lo, min(7, lo + rng.randint(1, 4))),
                prereqs=[f"c{rng.randrange(i)}"] if i and rng.random() < 0.2 else [],
            )
        )
    index = CatalogIndex(cat)
    started = time.perf_counter()
    for _ in range(200):
        gaps = [gap(s, rng.uniform(0, 3), rng.uniform(3.5, 6)) for s in rng.sample(skills, 6)]
        choose_courses(gaps, index)
    per_employee = (time.perf_counter() - started) / 200
    assert per_employee < 0.05


# --- properties against brute force ------------------------------------------------------

SKILLS = ["a", "b", "c"]


@st.composite
def instances(draw):
    n = draw(st.integers(1, 7))
    catalog = []
    for i in range(n):
        teaches = []
        for s in draw(st.lists(st.sampled_from(SKILLS), min_size=1, max_size=2, unique=True)):
            lo = draw(st.sampled_from([0, 0, 1, 2, 3]))
            teaches.append((s, lo, draw(st.integers(lo + 1, 5))))
        prereqs = (
            draw(
                st.lists(
                    st.sampled_from([f"k{j}" for j in range(n) if j != i] or ["k0"]),
                    max_size=1,
                    unique=True,
                )
            )
            if n > 1
            else []
        )
        catalog.append(
            course(
                f"k{i}",
                draw(st.integers(1, 20)),
                *teaches,
                prereqs=[p for p in prereqs if p != f"k{i}"],
                cost=draw(st.integers(0, 500)),
            )
        )
    gaps = []
    for s in draw(st.lists(st.sampled_from(SKILLS), min_size=1, max_size=3, unique=True)):
        cur = draw(st.integers(0, 3))
        gaps.append(
            gap(
                s,
                cur,
                draw(st.integers(cur + 1, 5)),
                weight=draw(st.integers(1, 5)),
                objective=draw(st.sampled_from(["Q3-cloud", "Q4-data", None])),
            )
        )
    ids = [c.id for c in catalog]
    completed = set(draw(st.lists(st.sampled_from(ids), max_size=1)))
    enrolled = set(draw(st.lists(st.sampled_from(ids), max_size=1))) - completed
    return gaps, catalog, completed, enrolled


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(instances(), st.sampled_from(["hours", "cost"]), st.sampled_from([None, 1]))
def test_exact_cover_closes_every_coverable_gap_at_optimum(inst, key, node_limit):
    gaps, catalog, completed, enrolled = inst
    # node_limit=1 makes the search give up at once, so the MILP solves every part.
    extra = {} if node_limit is None else {"node_limit": node_limit, "method": "exact"}
    plan = choose_courses(
        gaps, catalog, completed=completed, enrolled=enrolled, minimise=key, **extra
    )
    ref = brute_force(gaps, catalog, completed, enrolled, key=key)
    levels = check_feasible(plan, gaps, catalog, completed, enrolled)
    for g in gaps:
        if g.skill_id in ref["coverable"]:
            assert levels.get(g.skill_id, 0) >= g.target - EPS
    assert {u.gap.skill_id for u in plan.uncoverable} == {
        g.skill_id for g in gaps if g.skill_id not in ref["coverable"]
    }
    assert all(u.reason for u in plan.uncoverable)
    total = plan.total_hours if key == "hours" else plan.total_cost
    assert total <= ref["best"] + EPS
    assert plan.optimal


@SETTINGS
@given(instances(), st.integers(0, 30))
def test_budget_never_exceeded_and_closure_is_maximal(inst, budget):
    gaps, catalog, completed, enrolled = inst
    plan = choose_courses(
        gaps, catalog, completed=completed, enrolled=enrolled, hours_budget=budget
    )
    levels = check_feasible(plan, gaps, catalog, completed, enrolled)
    assert plan.total_hours <= budget + EPS
    ref = brute_force(gaps, catalog, completed, enrolled, budget=budget)
    start = start_levels(gaps, catalog, enrolled)
    if ref["mode"] == "cover":
        assert not plan.budget_binding
        assert plan.total_hours <= ref["best"] + EPS
    else:
        assert plan.budget_binding
        assert value(levels, gaps) - value(start, gaps) >= (ref["best"] - value(start, gaps) - EPS)


@SETTINGS
@given(instances())
def test_every_reason_names_the_gap_purpose(inst):
    gaps, catalog, completed, enrolled = inst
    plan = choose_courses(gaps, catalog, completed=completed, enrolled=enrolled)
    by_skill = {g.skill_id: g for g in gaps}
    for item in plan.items:
        assert item.reason
        for s in item.closes:
            g = by_skill[s]
            assert g.purpose() in item.reason
            if g.objective_id:
                assert f"objective {g.objective_id}" in item.reason


# --- end to end: objectives and evidence to explained plan ---------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["prog", "cloud"]),
            st.integers(1, 5),
            st.sampled_from(["review_self", "review_manager", "review_peer"]),
        ),
        max_size=5,
    ),
    st.integers(3, 6),
)
def test_explanations_name_a_real_objective_and_real_evidence(ratings, target):
    role = Role(
        id="onet:15-1211.00",
        title="Analyst",
        requirements=(RoleRequirement(skill_id="prog", level=3, importance=4),),
    )
    objs = [
        ObjectiveSet(
            id="strategy",
            version=1,
            effective_from=date(2026, 1, 1),
            objectives=(
                Objective(
                    id="Q3-cloud",
                    priority=3,
                    due=date(2027, 3, 31),
                    requirements=(ObjectiveRequirement(skill_id="cloud", target=target),),
                ),
            ),
        )
    ]
    evidence = [
        Evidence(
            skill_id=s,
            level=v,
            scale_id="1-5",
            source=src,
            observed_at=date(2026, 5, 1 + i),
            ref=f"review-{i}",
        )
        for i, (s, v, src) in enumerate(ratings)
    ]
    skills = {
        "prog": Skill(id="prog", name="Programming"),
        "cloud": Skill(id="cloud", name="Cloud"),
    }
    reqs = effective_requirements(role, objs, None, date(2026, 6, 1))
    gaps = compute_gaps(reqs, assess(evidence, on=date(2026, 6, 1)), skills)
    catalog = [course("cl-all", 30, ("cloud", 0, 6)), course("py", 12, ("prog", 0, 4))]
    plan = choose_courses(gaps, catalog)
    refs = {e.ref for e in evidence}
    for g in gaps:
        assert g.objective_id in (None, "Q3-cloud")
        assert set(e.ref for e in g.evidence) <= refs
        text = g.explain()
        for e in g.evidence:
            assert e.ref in text
        if g.skill_id == "cloud":
            assert "objective Q3-cloud, due 2027-03-31" in text
    for item in plan.items:
        if "cloud" in item.closes:
            assert "for objective Q3-cloud, due 2027-03-31" in item.reason
        else:
            assert "for role Analyst" in item.reason
