"""The rollout preview: gaps, plans and what a rollout would do, before anything is sent.

For every employee in scope, gaps and plans before and after a new objective-set version, and
what rolling it out would do, computed without writing anything. It is the employee
workflow's computation, run for everybody at once:

- gaps: the skills engine's batch path (``requirement_matrix`` + ``population_gaps``) with the
  planner's rule (``activities.planning.MIN_GAP``; a role skill nobody has rated is unknown, an
  objective's skill is a gap until there is evidence), on the levels the planner's assessment
  gives; equal, employee by employee, to what ``PlanningActivities.plan`` computes;
- plans: the planner's course selection (``choose_courses``) with the employee's assessed levels
  and completed and enrolled courses; employees with the same gap signature (their gaps, the
  levels and courses that can matter to the courses that could close them) share one plan;
- what the rollout would do: the employee workflow's reconciliation rules, given to
  :func:`compute_preview` as :class:`PlanRules` (the workflow's own functions): courses added
  to the plan (enrolled, or sent for approval above the policy's thresholds), open courses
  waived because their gaps closed, one enrollment email per employee with new courses and one
  approval request per course that needs one.

The preview assumes the version in force has been applied to everybody (what the nightly
reconciliation ensures): courses in the plan before the change are held, so the courses a
rollout adds are the new plan's courses that the old plan lacks.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session, sessionmaker

from activities.planning import MIN_GAP
from activities.rollout.authoring import AuthoredSet, check_references
from activities.rollout.diff import diff_sets
from activities.rollout.population import Population, Reference, load_population, load_reference
from activities.rollout.seats import seat_demand
from activities.skills.batch import PopulationGaps, population_gaps, requirement_matrix
from activities.skills.load import add_months, stagger_plan
from activities.skills.selection import EPS, CatalogIndex, choose_courses
from schemas.learning import Employee, LearningPolicy, PlanItemState
from schemas.preview import EmployeeImpact, PreviewSummary, SetDiff, Spread
from schemas.skills import Gap, Objective, ObjectiveSet, Plan, PlanItem, Role, Skill

__all__ = [
    "GapDiff",
    "PlanMemo",
    "PlanRules",
    "Preview",
    "compute_preview",
    "gap_diff",
    "group_people",
    "preview_authored",
    "sets_after",
    "skill_columns",
]

_BLOCK = 8192


@dataclass(frozen=True)
class PlanRules:
    """The employee workflow's rules the preview applies.

    Passed in, since activities do not import workflows: ``workflows.employee.approvals`` has
    both.
    """

    needs_approval: Callable[[PlanItemState, LearningPolicy], bool]
    approver_for: Callable[[Employee, LearningPolicy], tuple[str, str | None]]


def sets_after(in_force: Sequence[ObjectiveSet], candidate: ObjectiveSet) -> list[ObjectiveSet]:
    """The sets in force once ``candidate`` replaces its set's version in force."""
    return [s for s in in_force if s.id != candidate.id] + [candidate]


def group_people(
    population: Population, reference: Reference
) -> tuple[list[tuple[Role, str | None]], NDArray[np.intp]]:
    """The (role, department) groups of the population, and each employee's group."""
    index: dict[tuple[str, str], int] = {}
    groups: list[tuple[Role, str | None]] = []
    out = np.empty(len(population.people), dtype=np.intp)
    for i, p in enumerate(population.people):
        key = (p.role_id, p.department)
        g = index.get(key)
        if g is None:
            g = index[key] = len(groups)
            groups.append((reference.role(p.role_id), p.department))
        out[i] = g
    return groups, out


@dataclass(frozen=True)
class GapDiff:
    """Who the new version affects and by how much, for the whole population at once.

    Attributes:
        before: Gaps under the version in force.
        after: Gaps under the new version.
        affected: Employees with any gap that opens, closes or changes.
        new: Gaps each employee gains.
        closed: Gaps each employee loses.
        changed: Gaps that stay but change size, weight, objective or due date.
        delta: Change of each employee's total weighted gap.

    """

    before: PopulationGaps
    after: PopulationGaps
    affected: NDArray[np.bool_]
    new: NDArray[np.intp]
    closed: NDArray[np.intp]
    changed: NDArray[np.intp]
    delta: NDArray[np.float64]


def _source_codes(
    matrix_source: NDArray[np.int32],
    objectives: Sequence[tuple[Objective, str | None]],
    codes: dict[Hashable, int],
) -> NDArray[np.int64]:
    """Per group and skill, a code naming what sets the target as a gap shows it."""
    table = [0]
    for obj, _ in objectives:
        key = (obj.id, obj.title, obj.due)
        table.append(codes.setdefault(key, len(codes) + 1))
    return np.asarray(table, dtype=np.int64)[matrix_source]


def gap_diff(
    groups: Sequence[tuple[Role, str | None]],
    group: NDArray[np.intp],
    assessed: NDArray[np.float64],
    skill_ids: Sequence[str],
    before_sets: Sequence[ObjectiveSet],
    after_sets: Sequence[ObjectiveSet],
    on: date,
    *,
    min_gap: float = MIN_GAP,
    waived: NDArray[np.bool_] | None = None,
) -> GapDiff:
    """Gaps before and after, and the difference, vectorised over the population.

    Args:
        groups: (role, department) groups.
        group: Each employee's group.
        assessed: Employees x skills assessed levels (NaN: no evidence).
        skill_ids: The skill columns.
        before_sets: Objective sets in force now.
        after_sets: Objective sets in force with the new version.
        on: The day.
        min_gap: The planner's smallest gap.
        waived: Employees x skills, True where HR waived the gap.

    Returns:
        The gap diff.

    """
    req_b = requirement_matrix(groups, before_sets, skill_ids, on)
    req_a = requirement_matrix(groups, after_sets, skill_ids, on)
    before = population_gaps(
        req_b, group, assessed, min_gap=min_gap, role_needs_evidence=True, waived=waived
    )
    after = population_gaps(
        req_a, group, assessed, min_gap=min_gap, role_needs_evidence=True, waived=waived
    )
    codes: dict[Hashable, int] = {}
    code_b = _source_codes(req_b.source, req_b.objectives, codes)
    code_a = _source_codes(req_a.source, req_a.objectives, codes)
    weight_differs = np.abs(req_b.weight - req_a.weight) > EPS
    source_differs = weight_differs | (code_b != code_a)
    n = len(group)
    new = np.zeros(n, dtype=np.intp)
    closed = np.zeros(n, dtype=np.intp)
    changed = np.zeros(n, dtype=np.intp)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        g = group[lo:hi]
        sb, sa = before.size[lo:hi], after.size[lo:hi]
        gb, ga = sb > 0, sa > 0
        both = gb & ga
        new[lo:hi] = np.count_nonzero(ga & ~gb, axis=1)
        closed[lo:hi] = np.count_nonzero(gb & ~ga, axis=1)
        changed[lo:hi] = np.count_nonzero(
            both & ((np.abs(sb - sa) > EPS) | source_differs[g]), axis=1
        )
    affected = (new + closed + changed) > 0
    delta = after.totals() - before.totals()
    return GapDiff(
        before=before,
        after=after,
        affected=affected,
        new=new,
        closed=closed,
        changed=changed,
        delta=delta,
    )


class _Components:
    """Skills and courses that can meet in one plan.

    Linked when a course teaches them together or needs another course first. A plan for some
    gaps reads only the levels and courses of the gaps' components.
    """

    def __init__(self, catalog: CatalogIndex) -> None:
        self._parent: dict[str, str] = {}
        for course in catalog.courses.values():
            node = f"c:{course.id}"
            self._find(node)
            for t in course.teaches:
                self._union(node, f"s:{t.skill_id}")
            for p in course.prerequisites:
                self._union(node, f"c:{p}")
        self.skills: dict[str, list[str]] = defaultdict(list)
        self.courses: dict[str, set[str]] = defaultdict(set)
        for node in list(self._parent):
            root = self._find(node)
            kind, name = node.split(":", 1)
            (self.skills[root].append(name) if kind == "s" else self.courses[root].add(name))
        # The levels at which a course's comparisons change their answer, per skill.
        cuts: dict[str, set[float]] = defaultdict(set)
        for course in catalog.courses.values():
            for t in course.teaches:
                cuts[t.skill_id].update((t.from_level, t.to_level))
        self.cuts = {s: np.asarray(sorted(v)) for s, v in cuts.items()}

    def _find(self, x: str) -> str:
        parent = self._parent.setdefault(x, x)
        while parent != x:
            grand = self._parent.setdefault(parent, parent)
            self._parent[x] = grand
            x, parent = parent, grand
        return x

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[ra] = rb

    def root_of_skill(self, skill_id: str) -> str | None:
        """The component of a skill the catalog teaches (None: no course teaches it)."""
        node = f"s:{skill_id}"
        return self._find(node) if node in self._parent else None

    def band(self, skill_id: str, level: float) -> int:
        """How many of the skill's cut levels ``level`` has reached (within EPS)."""
        return int(np.searchsorted(self.cuts[skill_id], level + EPS, side="right"))


class PlanMemo:
    """The planner's course selection, memoised by gap signature.

    Two employees share a plan when their gaps are equal (skill, target, current level, weight,
    source, objective, due date) and so are the levels, completed and enrolled courses the
    catalog could make matter to those gaps: the levels of other skills taught together with
    theirs (counted by which course levels they reach) and the courses of the same components.
    """

    def __init__(self, catalog: CatalogIndex) -> None:
        """Index the catalog once."""
        self.catalog = catalog
        self._parts = _Components(catalog)
        self._plans: dict[Hashable, Plan] = {}
        self.computed = 0
        self.reused = 0

    def signature(
        self,
        gaps: Sequence[Gap],
        levels: Mapping[str, float],
        completed: frozenset[str],
        held: frozenset[str],
    ) -> Hashable:
        """What the plan for these gaps depends on."""
        parts = self._parts
        roots = {r for g in gaps if (r := parts.root_of_skill(g.skill_id)) is not None}
        gap_skills = {g.skill_id for g in gaps}
        bands = tuple(
            (s, parts.band(s, levels.get(s, 0.0)))
            for r in sorted(roots)
            for s in parts.skills[r]
            if s not in gap_skills
        )
        courses = set().union(*(parts.courses[r] for r in roots)) if roots else set()
        return (
            tuple(
                (
                    g.skill_id,
                    g.skill_name,
                    g.target,
                    g.current,
                    g.weight,
                    g.source,
                    g.source_title,
                    g.objective_id,
                    g.due,
                    g.policy,
                    getattr(g, "claimed_by", None),
                )
                for g in gaps
            ),
            bands,
            frozenset(completed & courses),
            frozenset(held & courses),
        )

    def plan(
        self,
        gaps: Sequence[Gap],
        levels: Mapping[str, float],
        completed: frozenset[str],
        held: frozenset[str],
    ) -> Plan:
        """The plan ``choose_courses`` gives for these gaps (computed once per signature)."""
        key = self.signature(gaps, levels, completed, held)
        found = self._plans.get(key)
        if found is not None:
            self.reused += 1
            return found
        self.computed += 1
        plan = choose_courses(
            gaps, self.catalog, assessed=levels, completed=set(completed), enrolled=set(held)
        )
        self._plans[key] = plan
        return plan


@dataclass
class Preview:
    """A preview's result: the summary, each affected employee's impact, and the plans.

    Attributes:
        summary: The summary.
        employees: Impact of each affected employee, by id.
        gaps: The population's gap diff.
        plans: Each affected employee's plans (before, after), by id.
        rows: Each employee's row in ``gaps``, by id.

    """

    summary: PreviewSummary
    employees: list[EmployeeImpact]
    gaps: GapDiff
    plans: dict[str, tuple[Plan, Plan]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def _spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread()
    arr = np.asarray(values, dtype=np.float64)
    return Spread(
        p50=float(np.percentile(arr, 50)),
        p95=float(np.percentile(arr, 95)),
        max=float(arr.max()),
    )


def _waived(items: Sequence[tuple[str, frozenset[str]]], after_gaps: set[str]) -> list[str]:
    """Open courses the reconciliation waives: each was for gaps none of which remains."""
    return [c for c, skills in items if skills and not skills & after_gaps]


def _item_state(item: PlanItem) -> PlanItemState:
    return PlanItemState(
        course_id=item.course_id,
        title=item.title,
        hours=item.hours,
        cost=item.cost,
        reason=item.reason,
        skills=list(item.closes),
        source_event="rollout-preview",
    )


def _scheduled_later(
    create: Sequence[PlanItem], policy: LearningPolicy, role_id: str, department: str, on: date
) -> list[str]:
    """The new courses the learning-hours budget puts beyond the next three months.

    The same staggering the employee workflow applies (`activities.skills.load.stagger_plan`,
    prerequisites first, then by weight); a course that starts now is enrolled now however long.
    """
    hours = policy.hours_for(role_id, department)
    if hours is None or not create:
        return []
    slots = stagger_plan(create, start=on, hours_per_month=hours, horizon=add_months(on, 3))
    return [s.course_id for s in slots if s.deferred_until is not None and s.deferred_until > on]


def compute_preview(
    population: Population,
    reference: Reference,
    candidate: ObjectiveSet,
    *,
    on: date,
    now: datetime,
    policy: LearningPolicy,
    rules: PlanRules,
    policy_version: str = "",
    min_gap: float = MIN_GAP,
    memo: PlanMemo | None = None,
) -> Preview:
    """Preview rolling ``candidate`` out to ``population``.

    Args:
        population: Employees in scope with their levels and courses (``load_population``).
        reference: Framework, roles, catalog, sessions and the sets in force.
        candidate: The new version.
        on: The day gaps and plans are computed for (the new version must be in force then).
        now: When the enrollments would be made (which sessions are still open).
        policy: The plan policy (due days, approval thresholds, HR approver).
        rules: The employee workflow's approval rules.
        policy_version: The policy's version, for the summary.
        min_gap: The planner's smallest gap.
        memo: Plans already computed (the same catalog), e.g. by an earlier preview.

    Returns:
        The preview.

    """
    before_sets = list(reference.in_force)
    after_sets = sets_after(before_sets, candidate)
    old = next((s for s in before_sets if s.id == candidate.id), None)
    diff: SetDiff = diff_sets(old, candidate)
    groups, group = group_people(population, reference)
    gd = gap_diff(
        groups,
        group,
        population.assessed,
        population.skill_ids,
        before_sets,
        after_sets,
        on,
        min_gap=min_gap,
        waived=population.waived,
    )
    memo = memo or PlanMemo(reference.catalog)
    skills: dict[str, Skill] = reference.skills
    courses = reference.catalog.courses
    impacts: list[EmployeeImpact] = []
    plans: dict[str, tuple[Plan, Plan]] = {}
    by_department: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    new_by_course: Counter[str] = Counter()
    hours: list[float] = []
    near: list[float] = []  # hours due within the next three months (the learning-hours budget)
    over_budget = 0
    approvers: set[str] = set()
    emails: Counter[str] = Counter()
    for i in np.flatnonzero(gd.affected):
        row = int(i)
        person = population.people[row]
        levels = population.levels(row)
        completed, held = population.completed[row], population.held[row]
        gaps_b = gd.before.gaps_for(row, skills)
        gaps_a = gd.after.gaps_for(row, skills)
        plan_b = memo.plan(gaps_b, levels, completed, held)
        plan_a = memo.plan(gaps_a, levels, completed, held)
        plans[person.id] = (plan_b, plan_a)
        skills_b = {g.skill_id for g in gaps_b}
        skills_a = {g.skill_id for g in gaps_a}
        before_ids = set(plan_b.course_ids)
        create = [it for it in plan_a.items if it.course_id not in before_ids]
        open_items: list[tuple[str, frozenset[str]]] = []
        for cid in sorted(held):
            course = courses.get(cid)
            taught = frozenset(t.skill_id for t in course.teaches) if course else frozenset()
            open_items.append((cid, taught & skills_b))
        open_items += [(it.course_id, frozenset(it.closes)) for it in plan_b.items]
        withdraw = _waived(open_items, skills_a)
        approver: str | None = None
        approvals: list[str] = []
        if person.manager_id:
            employee = Employee(
                id=person.id,
                name=person.id,
                email="",
                role_id=person.role_id,
                role_title=reference.role(person.role_id).title,
                department=person.department,
                manager_id=person.manager_id,
                manager_name=person.manager_id if person.manager_known else None,
            )
            approvals = [
                it.course_id for it in create if rules.needs_approval(_item_state(it), policy)
            ]
            if approvals:
                approver = rules.approver_for(employee, policy)[0]
                approvers.add(approver)
        later = _scheduled_later(create, policy, person.role_id, person.department, on)
        if create:
            near.append(sum(it.hours for it in create if it.course_id not in later))
            over_budget += 1 if later else 0
        mails = (1 if create else 0) + len(approvals)
        if create:
            emails["enrollment"] += 1
            new_hours = sum(it.hours for it in create)
            hours.append(new_hours)
        if approvals:
            emails["approval_request"] += len(approvals)
        for it in create:
            new_by_course[it.course_id] += 1
        role_title = reference.role(person.role_id).title
        by_department[person.department or "(none)"] += 1
        by_role[role_title] += 1
        impacts.append(
            EmployeeImpact(
                employee_id=person.id,
                role_id=person.role_id,
                department=person.department,
                affected=True,
                gaps_before=tuple(g.skill_id for g in gaps_b),
                gaps_after=tuple(g.skill_id for g in gaps_a),
                new_gaps=tuple(sorted(skills_a - skills_b)),
                closed_gaps=tuple(sorted(skills_b - skills_a)),
                courses_before=tuple(plan_b.course_ids),
                courses_after=tuple(plan_a.course_ids),
                create=tuple(it.course_id for it in create),
                withdraw=tuple(withdraw),
                approvals=tuple(approvals),
                approver_id=approver,
                hours=sum(it.hours for it in create),
                cost=sum(it.cost for it in create),
                emails=mails,
                scheduled_later=tuple(later),
            )
        )
    seats, closed_courses = seat_demand(new_by_course, reference.sessions, now)
    summary = PreviewSummary(
        diff=diff,
        on=on,
        policy_version=policy_version,
        in_scope=len(population.people),
        affected=int(gd.affected.sum()),
        affected_by_department=dict(by_department.most_common()),
        affected_by_role=dict(by_role.most_common()),
        new_gaps=int(gd.new.sum()),
        closed_gaps=int(gd.closed.sum()),
        changed_gaps=int(gd.changed.sum()),
        enrollments_create=sum(len(e.create) for e in impacts),
        enrollments_withdraw=sum(len(e.withdraw) for e in impacts),
        employees_with_new_courses=len(hours),
        hours_total=float(sum(hours)),
        hours_per_employee=_spread(hours),
        cost_total=float(sum(e.cost for e in impacts)),
        approvals=sum(len(e.approvals) for e in impacts),
        approvers=len(approvers),
        emails=sum(emails.values()),
        emails_by_template=dict(emails),
        seats=tuple(seats),
        overflow_sessions=tuple(s.session_id for s in seats if s.waitlisted > 0),
        no_session=tuple(closed_courses),
        plans_computed=memo.computed,
        plans_reused=memo.reused,
        scheduled_later=sum(len(e.scheduled_later) for e in impacts),
        employees_over_budget=over_budget,
        hours_next_quarter_per_employee=_spread(near),
    )
    rows = {p.id: i for i, p in enumerate(population.people)}
    return Preview(summary=summary, employees=impacts, gaps=gd, plans=plans, rows=rows)


def skill_columns(reference: Reference, candidate: ObjectiveSet) -> list[str]:
    """Every skill a gap or a course can name: framework, roles, objectives, catalog."""
    ids = set(reference.skills)
    ids.update(r.skill_id for role in reference.roles.values() for r in role.requirements)
    for s in [*reference.in_force, candidate]:
        ids.update(r.skill_id for o in s.objectives for r in o.requirements)
    ids.update(t.skill_id for c in reference.catalog.courses.values() for t in c.teaches)
    return sorted(ids)


def preview_authored(
    sessions: sessionmaker[Session],
    authored: AuthoredSet,
    *,
    on: date | None,
    now: datetime,
    policy: LearningPolicy,
    rules: PlanRules,
    policy_version: str = "",
) -> Preview:
    """Check an authored set against the database and preview it (reads only).

    Args:
        sessions: The app database.
        authored: The set read from its file.
        on: The day to compute for; None: ``now``'s day, or the set's ``effective_from`` if later.
        now: When the enrollments would be made.
        policy: The plan policy.
        rules: The employee workflow's approval rules.
        policy_version: The policy's version, for the summary.

    Returns:
        The preview.

    Raises:
        ObjectiveSetFileError: The set names an unknown skill or role, is not newer than the
            version recorded, or is not in force on ``on``.

    """
    candidate = authored.objective_set
    day = on or max(now.date(), candidate.effective_from)
    if day < candidate.effective_from:
        raise authored.error(
            ("effective_from",),
            f"version {candidate.version} takes effect on {candidate.effective_from}, after the "
            f"day previewed ({day})",
        )
    with sessions() as s:
        reference = load_reference(s, day)
        check_references(authored, reference.skills, reference.roles)
        latest = reference.latest.get(candidate.id)
        if latest is not None and candidate.version <= latest:
            raise authored.error(
                ("version",),
                f"version {candidate.version} of {candidate.id} is not newer than the recorded "
                f"version {latest}",
            )
        population = load_population(s, day, skill_columns(reference, candidate))
    return compute_preview(
        population,
        reference,
        candidate,
        on=day,
        now=now,
        policy=policy,
        rules=rules,
        policy_version=policy_version,
    )
