"""Capacity-aware course assignment for a population (used by strategy rollouts).

Called by the benchmarks today; the rollout preview (issue 20) and the rollout workflow (21)
assign seats with it.

Every employee brings a plan (from ``choose_courses``); sessions have limited seats. A MILP
solved with HiGHS gives each planned course at most one session, never more seats than a
session has, and a course only a session that starts after the courses it depends on have
ended; it maximises the weighted gap closure of the seats given (ties: fewer seats, earlier
sessions). Courses without sessions (self-paced) have unlimited seats. Whatever gets no seat is
waitlisted with the reason. Large populations are solved as the LP relaxation and rounded (the
LP value bounds how far from optimal the result can be); huge ones greedily.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import highspy
import numpy as np

from activities.skills.selection import CatalogIndex
from schemas.skills import (
    Course,
    CourseSession,
    Plan,
    PlanItem,
    PopulationAssignment,
    SeatAssignment,
    WaitlistEntry,
)

SEAT_PENALTY = 1e-4
"""Objective cost of one seat, so seats without value (and useless supports) are not given."""

EARLY_BONUS = 1e-6
"""Objective bonus per day earlier a session starts, to prefer early sessions among equals."""

DEFAULT_MAX_VARIABLES = 2_000_000
DEFAULT_MAX_MILP_VARIABLES = 50_000


@dataclass
class _Item:
    employee_id: str
    item: PlanItem
    course: Course | None
    sessions: list[CourseSession]
    cols: list[int] = field(default_factory=list)
    deps: list[int] = field(default_factory=list)


def _sessions(course: Course | None, on: date | None) -> list[CourseSession]:
    if course is None:
        return []
    return [s for s in course.sessions if on is None or s.starts >= on]


def _seatable(course: Course | None) -> bool:
    """A course with sessions needs a seat; one without is self-paced."""
    return course is not None and bool(course.sessions)


def assign_population(
    plans: Mapping[str, Plan],
    catalog: Sequence[Course] | CatalogIndex,
    *,
    on: date | None = None,
    capacity_used: Mapping[str, int] | None = None,
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-4,
    max_variables: int = DEFAULT_MAX_VARIABLES,
    max_milp_variables: int = DEFAULT_MAX_MILP_VARIABLES,
) -> PopulationAssignment:
    """Give seats in course sessions to a population's plans, maximising weighted gap closure.

    Args:
        plans: Each employee's plan, by employee id.
        catalog: The courses with their sessions (or a :class:`CatalogIndex`).
        on: Only sessions starting on or after this day are offered.
        capacity_used: Seats already taken per session id (earlier waves, other enrollments).
        time_limit: Solver time limit in seconds (the best assignment found is returned).
        mip_rel_gap: Relative optimality gap at which the solver stops.
        max_variables: Above this many seat variables, a greedy assignment is used instead.
        max_milp_variables: Up to this many seat variables the MILP is solved; above, its LP
            relaxation is solved and rounded (the LP value is then reported as the bound).

    Returns:
        Seats given, the waitlist with reasons, seats used per session and closure totals.
    """
    index = catalog if isinstance(catalog, CatalogIndex) else CatalogIndex(catalog)
    used = dict(capacity_used or {})
    items: list[_Item] = []
    slot: dict[tuple[str, str], int] = {}
    for emp in sorted(plans):
        for it in plans[emp].items:
            course = index.courses.get(it.course_id)
            slot[(emp, it.course_id)] = len(items)
            items.append(_Item(emp, it, course, _sessions(course, on)))
    for x in items:
        x.deps = [slot[(x.employee_id, d)] for d in x.item.depends_on if (x.employee_id, d) in slot]

    n_vars = sum(len(_options(x)) for x in items)
    bound: float | None = None
    if n_vars > max_variables:
        chosen = _fill(items, used, {}, lambda k, s: items[k].item.value)
        optimal, solver = False, "greedy"
    elif n_vars <= max_milp_variables:
        chosen, optimal, bound = _solve(items, used, time_limit, mip_rel_gap, integer=True)
        solver = "highs-milp"
    else:
        chosen, optimal, bound = _solve(items, used, time_limit, mip_rel_gap, integer=False)
        solver = "highs-lp"
    return _report(items, chosen, used, optimal, solver, plans, bound)


def _ends_before(first: CourseSession | None, then: CourseSession | None) -> bool:
    """Whether ``first`` is over before ``then`` starts (self-paced fits anywhere)."""
    return first is None or then is None or first.ends < then.starts


def _session_day(s: CourseSession) -> int:
    return s.starts.toordinal()


def _solve(
    items: list[_Item], used: Mapping[str, int], time_limit: float, gap: float, integer: bool
) -> tuple[dict[int, CourseSession | None], bool, float | None]:
    """Solve the seat model with HiGHS, as a MILP or (``integer=False``) as its LP relaxation.

    Returns the seated items (item index -> session, None for self-paced), whether that is
    proven optimal, and an upper bound on the weighted closure (None if unknown). An LP
    solution is rounded: whole seats are kept and the rest filled greedily in order of the
    LP's preference.
    """
    cost: list[float] = []
    col_item: list[int] = []
    col_session: list[CourseSession | None] = []
    first_day = min((_session_day(s) for x in items for s in x.sessions), default=0)
    for k, x in enumerate(items):
        for s in _options(x):
            x.cols.append(len(cost))
            col_item.append(k)
            col_session.append(s)
            early = 0.0 if s is None else EARLY_BONUS * (_session_day(s) - first_day)
            cost.append(x.item.value - SEAT_PENALTY - early)

    starts: list[int] = [0]
    idx: list[int] = []
    val: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def row(cols: list[int], coefs: list[float], lo: float, hi: float) -> None:
        idx.extend(cols)
        val.extend(coefs)
        starts.append(len(idx))
        lower.append(lo)
        upper.append(hi)

    inf = highspy.kHighsInf
    for x in items:
        if len(x.cols) > 1:
            row(x.cols, [1.0] * len(x.cols), -inf, 1.0)
    by_session: dict[str, list[int]] = defaultdict(list)
    cap: dict[str, int] = {}
    for c, s in enumerate(col_session):
        if s is not None:
            by_session[s.id].append(c)
            cap[s.id] = max(0, s.capacity - used.get(s.id, 0))
    for sid, cols in by_session.items():
        row(cols, [1.0] * len(cols), -inf, float(cap[sid]))
    for x in items:
        for d in x.deps:
            dep = items[d]
            for c in x.cols:
                before = [dc for dc in dep.cols if _ends_before(col_session[dc], col_session[c])]
                row([c, *before], [1.0] + [-1.0] * len(before), -inf, 0.0)

    n = len(cost)
    if n == 0:
        return {}, True, 0.0
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(lower)
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.asarray(lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(upper, dtype=np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = len(lower)
    lp.a_matrix_.start_ = np.asarray(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(idx, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(val, dtype=np.float64)
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(gap))
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    values = list(h.getSolution().col_value)
    if len(values) != n:  # no solution at all (time limit before any incumbent)
        return _fill(items, used, {}, lambda k, s: items[k].item.value), False, None
    info = h.getInfo()
    bound = info.mip_dual_bound if integer else info.objective_function_value
    whole: dict[int, CourseSession | None] = {
        col_item[c]: col_session[c] for c, v in enumerate(values) if v > 1 - 1e-6
    }
    if integer:
        return whole, status == highspy.HighsModelStatus.kOptimal, bound
    integral = all(v < 1e-6 or v > 1 - 1e-6 for v in values)
    pref = {(col_item[c], _sid(col_session[c])): v for c, v in enumerate(values)}
    chosen = _fill(
        items,
        used,
        _consistent(items, whole),
        lambda k, s: pref.get((k, _sid(s)), 0.0) * 1e3 + items[k].item.value,
    )
    return chosen, integral and status == highspy.HighsModelStatus.kOptimal, bound


def _sid(s: CourseSession | None) -> str | None:
    return None if s is None else s.id


def _options(x: _Item) -> list[CourseSession | None]:
    """Sessions an item may get: its upcoming sessions, or None for self-paced."""
    if x.course is None:
        return []
    if _seatable(x.course):
        return list(x.sessions)
    return [None]


def _consistent(
    items: list[_Item], chosen: dict[int, CourseSession | None]
) -> dict[int, CourseSession | None]:
    """Drop seats whose dependencies are not seated early enough, until none is left."""
    chosen = dict(chosen)
    changed = True
    while changed:
        changed = False
        for k in list(chosen):
            s = chosen[k]
            if not all(d in chosen and _ends_before(chosen[d], s) for d in items[k].deps):
                del chosen[k]
                changed = True
    return chosen


def _fill(
    items: list[_Item],
    used: Mapping[str, int],
    chosen: dict[int, CourseSession | None],
    score: Callable[[int, CourseSession | None], float],
) -> dict[int, CourseSession | None]:
    """Add seats to ``chosen`` greedily by ``score`` (highest first), within capacity."""
    chosen = dict(chosen)
    left: dict[str, int] = {}
    for x in items:
        for sess in x.sessions:
            left[sess.id] = sess.capacity - used.get(sess.id, 0)
    for seat in chosen.values():
        if seat is not None:
            left[seat.id] -= 1
    options = [(k, o) for k, x in enumerate(items) if k not in chosen for o in _options(x)]
    options.sort(key=lambda ks: (-score(*ks), 0 if ks[1] is None else _session_day(ks[1])))
    changed = True
    while changed:
        changed = False
        for k, s in options:
            if k in chosen or (s is not None and left[s.id] <= 0):
                continue
            if all(d in chosen and _ends_before(chosen[d], s) for d in items[k].deps):
                chosen[k] = s
                if s is not None:
                    left[s.id] -= 1
                changed = True
    return chosen


def _why(
    k: int,
    items: list[_Item],
    chosen: Mapping[int, CourseSession | None],
    full: set[str],
) -> str:
    x = items[k]
    title = x.item.title
    if x.course is None:
        return f"{x.item.course_id} is not in the catalog"
    missing = [items[d].item.title for d in x.deps if d not in chosen]
    if missing:
        return f"needs {', '.join(missing)} first, which has no seat"
    if _seatable(x.course) and not x.sessions:
        return f"no upcoming session of {title}"
    if x.item.value <= 0 and _seatable(x.course):
        return f"{title} is only needed for courses that got no seat"
    if all(s.id in full for s in x.sessions):
        seats = sum(s.capacity for s in x.sessions)
        n = len(x.sessions)
        return (
            f"all {n} session{'s' if n != 1 else ''} of {title} are full ({seats} seats); "
            "seats went to larger weighted gaps"
        )
    return f"no session of {title} starts after the courses it depends on end"


def _report(
    items: list[_Item],
    chosen: Mapping[int, CourseSession | None],
    used: Mapping[str, int],
    optimal: bool,
    solver: str,
    plans: Mapping[str, Plan],
    bound: float | None,
) -> PopulationAssignment:
    # A supporting course (no value) whose dependants got no seat is not worth a seat.
    chosen = dict(chosen)
    dependants: dict[int, list[int]] = defaultdict(list)
    for j, y in enumerate(items):
        for d in y.deps:
            dependants[d].append(j)
    changed = True
    while changed:
        changed = False
        for k in [k for k in chosen if items[k].item.value <= 0]:
            if not any(j in chosen for j in dependants[k]):
                del chosen[k]
                changed = True
    seats: dict[str, int] = defaultdict(int)
    for s in chosen.values():
        if s is not None:
            seats[s.id] += 1
    capacity: dict[str, int] = {}
    for x in items:
        for s in x.sessions:
            capacity[s.id] = s.capacity
    full = {sid for sid, cap in capacity.items() if seats.get(sid, 0) + used.get(sid, 0) >= cap}
    assignments = [
        SeatAssignment(
            employee_id=items[k].employee_id,
            course_id=items[k].item.course_id,
            session_id=s.id if s is not None else None,
            starts=s.starts if s is not None else None,
            value=items[k].item.value,
            reason=items[k].item.reason,
        )
        for k, s in sorted(chosen.items())
    ]
    waitlist = [
        WaitlistEntry(
            employee_id=x.employee_id,
            course_id=x.item.course_id,
            value=x.item.value,
            reason=_why(k, items, chosen, full),
        )
        for k, x in enumerate(items)
        if k not in chosen
    ]
    return PopulationAssignment(
        assignments=tuple(assignments),
        waitlist=tuple(waitlist),
        seats_used=dict(sorted(seats.items())),
        requested_value=sum(i.value for p in plans.values() for i in p.items),
        assigned_value=sum(items[k].item.value for k in chosen),
        optimal=optimal,
        solver=solver,
        bound=bound,
    )
