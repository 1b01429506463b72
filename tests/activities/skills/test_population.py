"""Capacity-aware assignment of a population's plans to course sessions (generated data)."""

import itertools
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.skills.population import assign_population
from activities.skills.selection import choose_courses
from schemas.skills import Course, CourseSession, CourseSkill, Gap, Plan, PlanItem

D0 = date(2027, 1, 4)


def session(sid, day, capacity, length=2):
    return CourseSession(
        id=sid,
        starts=D0 + timedelta(days=day),
        ends=D0 + timedelta(days=day + length),
        capacity=capacity,
    )


def item(cid, value, deps=()):
    return PlanItem(
        course_id=cid,
        title=cid.upper(),
        hours=4,
        reason=f"{cid} for objective Q1",
        value=value,
        depends_on=tuple(deps),
    )


def test_seats_go_to_the_largest_weighted_gaps_and_the_rest_are_waitlisted():
    catalog = [
        Course(
            id="k8s",
            title="K8s Basics",
            hours=8,
            sessions=(session("k8s-1", 0, 1), session("k8s-2", 10, 1)),
        )
    ]
    plans = {e: Plan(items=(item("k8s", v),)) for e, v in [("ann", 5), ("bob", 9), ("cy", 2)]}
    out = assign_population(plans, catalog)
    assert {a.employee_id for a in out.assignments} == {"ann", "bob"}
    assert out.seats_used == {"k8s-1": 1, "k8s-2": 1}
    [wait] = out.waitlist
    assert wait.employee_id == "cy"
    assert wait.reason == (
        "all 2 sessions of K8S are full (2 seats); seats went to larger weighted gaps"
    )
    assert out.assigned_value == 14 and out.requested_value == 16 and out.optimal


def test_dependent_course_gets_a_later_session_or_is_waitlisted_with_the_reason():
    catalog = [
        Course(id="py1", title="Py 1", hours=4, sessions=(session("py1-a", 0, 1),)),
        Course(
            id="py2",
            title="Py 2",
            hours=4,
            sessions=(session("py2-a", 1, 5), session("py2-b", 7, 5)),
        ),
    ]
    plans = {e: Plan(items=(item("py1", 3), item("py2", 4, ["py1"]))) for e in ["ann", "bob"]}
    out = assign_population(plans, catalog)
    seated = {(a.employee_id, a.course_id): a.session_id for a in out.assignments}
    assert len(seated) == 2
    emp = next(e for e in ["ann", "bob"] if (e, "py1") in seated)
    assert seated[(emp, "py2")] == "py2-b"  # py2-a starts before py1 ends
    other = "bob" if emp == "ann" else "ann"
    reasons = {w.course_id: w.reason for w in out.waitlist if w.employee_id == other}
    assert "full" in reasons["py1"]
    assert reasons["py2"] == "needs PY1 first, which has no seat"


def test_self_paced_courses_have_unlimited_seats_and_capacity_used_counts():
    catalog = [
        Course(id="web", title="Web", hours=2),
        Course(id="lab", title="Lab", hours=8, sessions=(session("lab-1", 3, 3),)),
    ]
    plans = {f"e{i}": Plan(items=(item("web", 1), item("lab", 2))) for i in range(5)}
    out = assign_population(plans, catalog, capacity_used={"lab-1": 2})
    assert sum(a.course_id == "web" for a in out.assignments) == 5
    assert out.seats_used == {"lab-1": 1}
    assert len(out.waitlist) == 4


def test_works_on_real_plans_from_choose_courses():
    catalog = [
        Course(
            id="c1",
            title="Cloud 1",
            hours=8,
            teaches=(CourseSkill(skill_id="cloud", to_level=3),),
            sessions=(session("c1-a", 0, 2),),
        ),
        Course(
            id="c2",
            title="Cloud 2",
            hours=8,
            prerequisites=("c1",),
            teaches=(CourseSkill(skill_id="cloud", from_level=3, to_level=5),),
            sessions=(session("c2-a", 5, 2),),
        ),
    ]
    plans = {}
    for e, w in [("a", 1), ("b", 3), ("c", 2)]:
        g = Gap(
            skill_id="cloud",
            skill_name="Cloud",
            target=5,
            current=1,
            size=4,
            weight=w,
            source="Q3-cloud",
            objective_id="Q3-cloud",
            due=date(2027, 3, 31),
        )
        plans[e] = choose_courses([g], catalog)
        assert plans[e].items[1].depends_on == ("c1",)
    out = assign_population(plans, catalog)
    assert {a.employee_id for a in out.assignments} == {"b", "c"}
    assert all("objective Q3-cloud" in a.reason for a in out.assignments)
    assert {w.employee_id for w in out.waitlist} == {"a"}


def test_greedy_fallback_respects_capacity():
    catalog = [Course(id="x", title="X", hours=1, sessions=(session("x-1", 0, 2),))]
    plans = {f"e{i}": Plan(items=(item("x", i + 1),)) for i in range(5)}
    out = assign_population(plans, catalog, max_variables=0)
    assert out.solver == "greedy" and not out.optimal
    assert out.seats_used == {"x-1": 2}
    assert {a.employee_id for a in out.assignments} == {"e4", "e3"}


# --- properties -------------------------------------------------------------------------


@st.composite
def populations(draw):
    n_courses = draw(st.integers(1, 3))
    catalog = []
    for c in range(n_courses):
        sessions = tuple(
            session(f"c{c}-s{k}", draw(st.integers(0, 10)), draw(st.integers(0, 2)))
            for k in range(draw(st.integers(0, 2)))
        )
        catalog.append(Course(id=f"c{c}", title=f"C{c}", hours=1, sessions=sessions))
    plans = {}
    for e in range(draw(st.integers(1, 3))):
        cids = draw(
            st.lists(st.sampled_from([c.id for c in catalog]), min_size=1, max_size=2, unique=True)
        )
        items = []
        for j, cid in enumerate(cids):
            deps = [cids[0]] if j == 1 and draw(st.booleans()) else []
            items.append(item(cid, draw(st.integers(0, 5)), deps))
        plans[f"e{e}"] = Plan(items=tuple(items))
    return plans, catalog


def brute_force(plans, catalog):
    courses = {c.id: c for c in catalog}
    slots = [(e, it) for e in sorted(plans) for it in plans[e].items]
    options = []
    for _, it in slots:
        c = courses[it.course_id]
        options.append([None, *c.sessions] if c.sessions else [None, "self"])
    best = 0.0
    for combo in itertools.product(*options):
        seats = {}
        ok = True
        given = {}
        for (e, it), s in zip(slots, combo, strict=True):
            if s is None:
                continue
            given[(e, it.course_id)] = s
            if s != "self":
                seats[s.id] = seats.get(s.id, 0) + 1
                ok &= seats[s.id] <= s.capacity
        for (e, it), s in zip(slots, combo, strict=True):
            if s is None:
                continue
            for d in it.depends_on:
                ds = given.get((e, d))
                ok &= ds is not None and (ds == "self" or s == "self" or ds.ends < s.starts)
        if ok:
            best = max(
                best,
                sum(it.value for (e, it), s in zip(slots, combo, strict=True) if s is not None),
            )
    return best


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations(), st.sampled_from(["milp", "lp", "greedy"]))
def test_capacity_never_exceeded_dependencies_kept_and_value_optimal(pop, mode):
    plans, catalog = pop
    limits = {"milp": {}, "lp": {"max_milp_variables": 0}, "greedy": {"max_variables": 0}}
    out = assign_population(plans, catalog, **limits[mode])
    sessions = {s.id: s for c in catalog for s in c.sessions}
    for sid, n in out.seats_used.items():
        assert n <= sessions[sid].capacity
    seated = {(a.employee_id, a.course_id): a for a in out.assignments}
    for a in out.assignments:
        if a.session_id is not None:
            assert a.session_id.startswith(a.course_id + "-")
        it = next(i for i in plans[a.employee_id].items if i.course_id == a.course_id)
        for d in it.depends_on:
            dep = seated[(a.employee_id, d)]
            if dep.session_id and a.session_id:
                assert sessions[dep.session_id].ends < sessions[a.session_id].starts
    planned = {(e, i.course_id) for e, p in plans.items() for i in p.items}
    waiting = {(w.employee_id, w.course_id) for w in out.waitlist}
    assert waiting | set(seated) == planned and not waiting & set(seated)
    assert all(w.reason for w in out.waitlist)
    best = brute_force(plans, catalog)
    assert out.assigned_value <= best + 1e-6
    if mode == "milp" or out.optimal:
        assert out.assigned_value >= best - 1e-6
    if out.bound is not None:
        assert out.assigned_value <= out.bound + 1e-3
