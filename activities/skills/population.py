"""Capacity-aware course assignment for a population (used by strategy rollouts).

Every employee brings a plan (from ``choose_courses``); sessions have limited seats. A MILP
solved with HiGHS gives each planned course at most one session, never more seats than a
session has, and a course only a session that starts after the courses it depends on have
ended; it maximises the weighted gap closure of the seats given (ties: fewer seats, earlier
sessions). Courses without sessions (self-paced) have unlimited seats. Whatever gets no seat is
waitlisted with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
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
        x.deps = [
            slot[(x.employee_id, d)] for d in x.item.depends_on if (x.employee_id, d) in slot
        ]

    n_vars = sum(max(1, len(x.sessions)) for x in items)
    if n_vars > max_variables:
        chosen, optimal, solver = _greedy(items, used), False, "greedy"
    else:
        chosen, optimal = _milp(items, used, time_limit, mip_rel_gap)
        solver = "highs"
    return _report(items, chosen, used, optimal, solver, plans)


def _ends_before(first: CourseSession | None, then: CourseSession | None) -> bool:
    """Whether ``first`` is over before ``then`` starts (self-paced fits anywhere)."""
    return first is None or then is None or first.ends < then.starts


def _session_day(s: CourseSession) -> int:
    return s.starts.toordinal()


def _milp(
    items: list[_Item], used: Mapping[str, int], time_limit: float, gap: float
) -> tuple[dict[int, CourseSession | None], bool]:
    """Solve the seat MILP; returns item index -> session (None: self-paced) for seated items."""
    cost: list[float] = []
    col_item: list[int] = []
    col_session: list[CourseSession | None] = []
    first_day = min(
        (_session_day(s) for x in items for s in x.sessions), default=0
    )
    for k, x in enumerate(items):
        options: list[CourseSession | None]
        if x.course is None:
            options = []
        elif _seatable(x.course):
            options = list(x.sessions)
        else:
            options = [None]
        for s in options:
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
                s = col_session[c]
                before = [dc for dc in dep.cols if _ends_before(col_session[dc], s)]
                row([c, *before], [1.0] + [-1.0] * len(before), -inf, 0.0)

    n = len(cost)
    if n == 0:
        return {}, True
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
        return _greedy(items, used), False
    chosen: dict[int, CourseSession | None] = {}
    for c, v in enumerate(values):
        if v > 0.5:
            chosen[col_item[c]] = col_session[c]
    return chosen, status == highspy.HighsModelStatus.kOptimal


def _greedy(items: list[_Item], used: Mapping[str, int]) -> dict[int, CourseSession | None]:
    """Seat plan items in plan order, most valuable employees first, earliest free session."""
    left: dict[str, int] = defaultdict(int)
    for x in items:
        for s in x.sessions:
            left[s.id] = s.capacity - used.get(s.id, 0)
    per_emp: dict[str, list[int]] = defaultdict(list)
    for k, x in enumerate(items):
        per_emp[x.employee_id].append(k)
    order = sorted(per_emp, key=lambda e: -sum(items[k].item.value for k in per_emp[e]))
    chosen: dict[int, CourseSession | None] = {}
    for e in order:
        for k in per_emp[e]:
            x = items[k]
            if any(d not in chosen for d in x.deps):
                continue
            if not _seatable(x.course):
                chosen[k] = None
                continue
            ready = max(
                (dep.ends for d in x.deps if (dep := chosen[d]) is not None), default=date.min
            )
            for s in sorted(x.sessions, key=lambda s: s.starts):
                if s.starts > ready and left[s.id] > 0:
                    left[s.id] -= 1
                    chosen[k] = s
                    break
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
    )
