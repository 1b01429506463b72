"""Employee goals: record each ``goal.changed`` once, compute alignment, feed the planner.

A goal is one more source of required skills beside the role and the objectives in force
(docs/decisions.md, "goals"): its own ``skills``, or else the requirements of the objectives
it is aligned to that apply to the employee's role or department, read from the version of
the objective set in force on the day (so they follow a rollout). A completed or cancelled
goal requires nothing. The planner sees each active goal as one more objective
(`goal_objectives`), whose gaps name the goal.

Goal titles are personal data: nothing here logs them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.objectives import sets_in_force
from activities.store.engine import writer_lock
from activities.store.goals import GoalRow
from activities.store.tables import CourseRow, EmployeeRow, LmsEnrollmentRow, SkillRow
from schemas.goals import (
    Alignment,
    AlignmentReport,
    AlignmentRow,
    GoalApplied,
    GoalApplyRequest,
    GoalStatus,
    GoalView,
)
from schemas.outbound import AlignedObjective
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet

__all__ = [
    "GOAL_PREFIX",
    "GoalActivities",
    "StoredGoal",
    "alignment_report",
    "employee_goals",
    "goal_objectives",
    "resolve_alignment",
]

GOAL_PREFIX = "goal:"
"""Prefix of the objective id a goal plans as ("goal:<goal id>"): gaps carry it."""

_STATUS: dict[str, GoalStatus] = {
    "set": "active",
    "updated": "active",
    "completed": "completed",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class StoredGoal:
    """A goal as the store holds it (the latest state its events left).

    Attributes:
        goal_id: The goal.
        title: What it is (personal data: never logged).
        status: "active", "completed" or "cancelled".
        due: Its due date, if any.
        priority: Its planning priority 1-5 (from its weight, else its priority, else 3).
        aligned_to: (objective set id, objective id) pairs it is aligned to.
        skills: (skill id, target level) pairs it names itself.

    """

    goal_id: str
    title: str = field(repr=False)
    status: GoalStatus
    due: date | None
    priority: float
    aligned_to: tuple[tuple[str, str], ...]
    skills: tuple[tuple[str, float], ...]

    @classmethod
    def of_row(cls, row: GoalRow) -> StoredGoal:
        """The goal of a ``goals`` row."""
        if row.weight is not None:
            priority = 1.0 + 4.0 * row.weight / 100.0
        else:
            priority = float(row.priority if row.priority is not None else 3)
        return cls(
            goal_id=row.goal_id,
            title=row.title,
            status=_status(row.status),
            due=row.due,
            priority=priority,
            aligned_to=tuple((a["objective_set_id"], a["objective_id"]) for a in row.aligned_to),
            skills=tuple((str(k["skill_id"]), float(str(k["target_level"]))) for k in row.skills),
        )


def _status(value: str) -> GoalStatus:
    if value == "completed":
        return "completed"
    if value == "cancelled":
        return "cancelled"
    return "active"


def resolve_alignment(
    aligned_to: Sequence[tuple[str, str]], objective_sets: Sequence[ObjectiveSet], on: date
) -> tuple[list[tuple[ObjectiveSet, Objective]], str | None]:
    """The objectives in force a goal is aligned to, or why it is unaligned.

    Args:
        aligned_to: (objective set id, objective id) pairs the goal names.
        objective_sets: The sets in force on ``on`` (one version per set: `sets_in_force`).
        on: The day.

    Returns:
        The (set version, objective) pairs in force, in the goal's order; and None when there
        is at least one, else the reason it is unaligned ("aligned to no objective", or the
        first objective that is not in force).
    """
    if not aligned_to:
        return [], "aligned to no objective"
    newest: dict[str, ObjectiveSet] = {}
    for s in objective_sets:
        if s.effective_from <= on and (s.id not in newest or s.version > newest[s.id].version):
            newest[s.id] = s
    found: list[tuple[ObjectiveSet, Objective]] = []
    missing: list[str] = []
    for set_id, objective_id in aligned_to:
        held = newest.get(set_id)
        objective = None
        if held is not None:
            objective = next((o for o in held.objectives if o.id == objective_id), None)
        if objective is not None and objective.is_active(on) and held is not None:
            found.append((held, objective))
        else:
            missing.append(f"{set_id}/{objective_id}")
    if found:
        return found, None
    if len(missing) == 1:
        return [], f"objective {missing[0]} is not in force"
    return [], f"objectives {', '.join(missing)} are not in force"


def _label(title: str, aligned: Sequence[tuple[ObjectiveSet, Objective]]) -> str:
    """How a gap names the goal: "your goal 'T', aligned to 'O'" (personal data)."""
    if not aligned:
        return f"your goal '{title}'"
    objectives = "', '".join(o.title or o.id for _, o in aligned)
    return f"your goal '{title}', aligned to '{objectives}'"


def _requirements(
    goal: StoredGoal,
    aligned: Sequence[tuple[ObjectiveSet, Objective]],
    role_id: str,
    department: str | None,
) -> tuple[ObjectiveRequirement, ...]:
    """The goal's own skills, or else those its aligned objectives ask of the employee."""
    if goal.skills:
        return tuple(ObjectiveRequirement(skill_id=k, target=t) for k, t in goal.skills)
    best: dict[str, ObjectiveRequirement] = {}
    for _, objective in aligned:
        if not objective.applies_to(role_id, department):
            continue
        for r in objective.requirements:
            held = best.get(r.skill_id)
            if held is None or r.target > held.target:
                best[r.skill_id] = r
    return tuple(best[k] for k in sorted(best))


def goal_objectives(
    goals: Iterable[StoredGoal],
    objective_sets: Sequence[ObjectiveSet],
    role_id: str,
    department: str | None,
    on: date,
) -> list[Objective]:
    """Each active goal as an objective for the planner (`effective_requirements`).

    The objective's id is "goal:<goal id>", its title names the goal ("your goal 'T',
    aligned to 'O'"), its priority is the goal's, its due date the goal's; it applies to the
    employee whatever their role. Completed and cancelled goals, and goals that require no
    skill, give none.

    Args:
        goals: The employee's goals.
        objective_sets: The sets in force on ``on``.
        role_id: The employee's role.
        department: The employee's department.
        on: The day.
    """
    out: list[Objective] = []
    for goal in goals:
        if goal.status != "active":
            continue
        aligned, _ = resolve_alignment(goal.aligned_to, objective_sets, on)
        requirements = _requirements(goal, aligned, role_id, department)
        if not requirements:
            continue
        out.append(
            Objective(
                id=f"{GOAL_PREFIX}{goal.goal_id}",
                title=_label(goal.title, aligned),
                priority=goal.priority,
                due=goal.due,
                requirements=requirements,
            )
        )
    return out


def stored_goals(s: Session, employee_id: str) -> list[StoredGoal]:
    """The employee's goals in the store, by goal id."""
    rows = s.scalars(
        select(GoalRow).where(GoalRow.employee_id == employee_id).order_by(GoalRow.goal_id)
    )
    return [StoredGoal.of_row(r) for r in rows]


def _aware(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _replaces(row: GoalRow, event_id: str, event_time: datetime | None) -> bool:
    """Whether an event replaces the stored state: another event, not older than it.

    As with corrected reviews: the later CloudEvents ``time`` wins; on equal times, or when
    either has none, the later arrival (this one).
    """
    if row.source_event == event_id:
        return False
    held, new = _aware(row.event_time), _aware(event_time)
    return held is None or new is None or new >= held


def _values(req: GoalApplyRequest) -> dict[str, Any]:
    goal = req.goal
    event_time = _aware(req.event_time)
    return {
        "title": goal.title,
        "status": _STATUS[goal.change],
        "due": goal.due,
        "weight": goal.weight,
        "priority": goal.priority,
        "aligned_to": [a.model_dump(mode="json") for a in goal.aligned_to],
        "skills": [k.model_dump(mode="json") for k in goal.skills],
        "source_event": req.event_id,
        "event_time": event_time.astimezone(UTC) if event_time is not None else None,
        "recorded_at": datetime.now(UTC),
    }


def _aligned_objectives(
    aligned: Sequence[tuple[ObjectiveSet, Objective]],
) -> list[AlignedObjective]:
    return [
        AlignedObjective(objective_set_id=s.id, objective_set_version=s.version, objective_id=o.id)
        for s, o in aligned
    ]


def _judge(
    goal: StoredGoal,
    objective_sets: Sequence[ObjectiveSet],
    role_id: str | None,
    department: str | None,
    on: date,
) -> tuple[Alignment, list[AlignedObjective], str | None, list[str]]:
    """A goal's alignment, the objectives in force, the reason, and the skills it requires."""
    aligned, reason = resolve_alignment(goal.aligned_to, objective_sets, on)
    skills: list[str] = []
    if goal.status == "active" and role_id is not None:
        skills = [r.skill_id for r in _requirements(goal, aligned, role_id, department)]
    elif goal.status == "active":
        skills = [k for k, _ in goal.skills]
    return (
        "aligned" if aligned else "unaligned",
        _aligned_objectives(aligned),
        reason,
        skills,
    )


def employee_goals(s: Session, employee_id: str, on: date) -> list[GoalView]:
    """The employee's goals with their alignment on ``on`` and the training each drives.

    A goal drives an enrollment (not completed, not withdrawn) in a course that teaches a
    skill the goal requires now.
    """
    employee = s.get(EmployeeRow, employee_id)
    role_id = employee.role_id if employee is not None else None
    department = employee.department if employee is not None else None
    sets = sets_in_force(s, on)
    enrolled = s.execute(
        select(LmsEnrollmentRow.course_id, LmsEnrollmentRow.status).where(
            LmsEnrollmentRow.employee_id == employee_id
        )
    ).all()
    open_courses = sorted({c for c, st in enrolled if st not in ("completed", "withdrawn")})
    teaches: dict[str, set[str]] = {}
    for course_id in open_courses:
        row = s.get(CourseRow, course_id)
        if row is not None:
            teaches[course_id] = {t.skill_id for t in row.to_course().teaches}
    views = []
    for goal in stored_goals(s, employee_id):
        alignment, objectives, reason, skills = _judge(goal, sets, role_id, department, on)
        needed = set(skills)
        views.append(
            GoalView(
                goal_id=goal.goal_id,
                title=goal.title,
                status=goal.status,
                due=goal.due,
                priority=round(goal.priority, 2),
                alignment=alignment,
                objectives=objectives,
                reason=reason,
                skills=skills,
                courses=[c for c in open_courses if teaches.get(c, set()) & needed],
            )
        )
    return views


def alignment_report(s: Session, on: date, department: str | None = None) -> AlignmentReport:
    """Alignment on ``on``: employees with an aligned goal, unaligned goals, unpicked objectives.

    Counts active employees (of ``department`` only, when given) and their goals that are not
    cancelled. An employee is aligned with at least one goal aligned to an objective in
    force. An objective in force is "unpicked" when no counted goal is aligned to it.
    """
    sets = sets_in_force(s, on)
    query = select(EmployeeRow.id, EmployeeRow.role_id, EmployeeRow.department).where(
        EmployeeRow.active
    )
    if department is not None:
        query = query.where(EmployeeRow.department == department)
    people = {e: (r, d) for e, r, d in s.execute(query)}
    goals: dict[str, list[StoredGoal]] = defaultdict(list)
    for row in s.scalars(select(GoalRow).where(GoalRow.status != "cancelled")):
        if row.employee_id in people:
            goals[row.employee_id].append(StoredGoal.of_row(row))
    picked: set[tuple[str, str]] = set()
    tallies: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for employee_id, (role_id, dept) in people.items():
        aligned_any = False
        mine = goals.get(employee_id, [])
        unaligned = 0
        for goal in mine:
            aligned, _ = resolve_alignment(goal.aligned_to, sets, on)
            picked.update((st.id, o.id) for st, o in aligned)
            aligned_any = aligned_any or bool(aligned)
            unaligned += not aligned
        for key in (("total", ""), ("department", dept or "(none)"), ("role", role_id)):
            t = tallies[key]
            t[0] += 1
            t[1] += aligned_any
            t[2] += len(mine)
            t[3] += unaligned

    def rows(kind: str) -> list[AlignmentRow]:
        return [
            AlignmentRow(
                group=g, employees=t[0], employees_aligned=t[1], goals=t[2], goals_unaligned=t[3]
            )
            for (k, g), t in sorted(tallies.items())
            if k == kind
        ]

    total = rows("total")
    in_force = [
        (st.id, o.id)
        for st in sets
        for o in st.objectives
        if st.effective_from <= on and o.is_active(on)
    ]
    return AlignmentReport(
        on=on,
        total=total[0]
        if total
        else AlignmentRow(group="", employees=0, employees_aligned=0, goals=0, goals_unaligned=0),
        by_department=rows("department"),
        by_role=rows("role"),
        unpicked=sorted(f"{a}/{b}" for a, b in in_force if (a, b) not in picked),
    )


class GoalActivities:
    """Records employees' goals and computes their alignment (the ``goals.apply`` activity)."""

    def __init__(self, sessions: sessionmaker[Session], today: Any = date.today) -> None:
        """Build the activities over a database session factory and a clock (``today()``)."""
        self._sessions = sessions
        self._today = today

    def apply(self, req: GoalApplyRequest) -> GoalApplied:
        """Record the goal's new state (once per event) and return its alignment.

        Idempotent: the same event again (a retry, a redelivery) changes nothing and returns
        the same alignment; an event older (by CloudEvents ``time``) than the one recorded
        changes nothing. Alignment is computed from the goal as recorded, against the
        objective-set versions in force on ``req.on`` (default today).
        """
        goal = req.goal
        key = (goal.employee_id, goal.goal_id)
        changed = False
        # A concurrent insert of the same goal fails its primary key here; the activity's
        # retry then finds the row (one workflow per employee makes that rare).
        with writer_lock(self._sessions), self._sessions.begin() as s:
            row = s.get(GoalRow, key)
            values = _values(req)
            if row is None:
                s.add(GoalRow(employee_id=goal.employee_id, goal_id=goal.goal_id, **values))
                changed = True
            elif _replaces(row, req.event_id, req.event_time):
                for name, value in values.items():
                    setattr(row, name, value)
                changed = True
        on = req.on or self._today()
        with self._sessions() as s:
            row = s.get(GoalRow, key)
            assert row is not None
            stored = StoredGoal.of_row(row)
            employee = s.get(EmployeeRow, goal.employee_id)
            alignment, objectives, reason, skills = _judge(
                stored,
                sets_in_force(s, on),
                employee.role_id if employee is not None else None,
                employee.department if employee is not None else None,
                on,
            )
        return GoalApplied(
            employee_id=goal.employee_id,
            goal_id=goal.goal_id,
            changed=changed,
            status=stored.status,
            alignment=alignment,
            objectives=objectives,
            reason=reason,
            skills=skills,
            source_event_id=req.event_id,
        )

    def known_skills(self, skill_ids: list[str]) -> set[str]:
        """Those of `skill_ids` the skills framework holds (the bridge's skills check)."""
        with self._sessions() as s:
            return set(s.scalars(select(SkillRow.id).where(SkillRow.id.in_(skill_ids))))

    @activity.defn(name="goals.apply")
    def apply_activity(self, req: GoalApplyRequest) -> GoalApplied:
        """Record a ``goal.changed`` event and return the goal's alignment (idempotent)."""
        return self.apply(req)
