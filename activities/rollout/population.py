"""What a preview plans with, read from the app database in a few queries.

The directory, the skills framework and roles, the catalog with its sessions' seats, the
objective sets, and every employee's assessed levels (by the planner's assessment policy)
and courses taken.

Nothing is written. Employees are identified by id only; names and emails are not read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activities.objectives import sets_in_force
from activities.planning import DEFAULT_POLICY
from activities.skills.gaps import assess
from activities.skills.selection import CatalogIndex
from activities.store.tables import (
    CourseRow,
    EmployeeRow,
    EvidenceRow,
    GapWaiverRow,
    LmsCourseSessionRow,
    LmsEnrollmentRow,
    ObjectiveSetRow,
    RoleRequirementRow,
    RoleRow,
    SkillRow,
)
from schemas.skills import Evidence, ObjectiveSet, Role, RoleRequirement, Skill

__all__ = ["Person", "Population", "Reference", "SessionSeats", "load_population", "load_reference"]

FloatMatrix = NDArray[np.float64]


@dataclass(frozen=True)
class Person:
    """An employee in scope, as the preview needs them (no personal data).

    Attributes:
        id: Employee id.
        role_id: Their role.
        department: Their department ("" when none).
        manager_id: Their manager, if any.
        manager_known: Whether the directory holds the manager as an active employee.

    """

    id: str
    role_id: str
    department: str
    manager_id: str | None = None
    manager_known: bool = False


@dataclass(frozen=True)
class SessionSeats:
    """A course session with its seats and how many are taken."""

    id: str
    course_id: str
    starts: datetime | None
    ends: datetime | None
    capacity: int
    taken: int

    def is_open(self, now: datetime) -> bool:
        """Whether the LMS still enrolls in it (it has not ended)."""
        return self.ends is None or self.ends > now


@dataclass(frozen=True)
class Reference:
    """The framework, roles, catalog, sessions and objective sets a preview plans with.

    Attributes:
        skills: Skills by id.
        roles: Roles (with their requirements) by id.
        catalog: The catalog, indexed as the planner indexes it.
        sessions: Sessions by course id.
        in_force: For each objective set, its newest version effective on the preview's day.
        latest: The newest recorded version of each set, whatever its effective date.
        recorded: Every recorded (set id, version).

    """

    skills: dict[str, Skill]
    roles: dict[str, Role]
    catalog: CatalogIndex
    sessions: dict[str, list[SessionSeats]]
    in_force: list[ObjectiveSet]
    latest: dict[str, int] = field(default_factory=dict)
    recorded: dict[tuple[str, int], ObjectiveSet] = field(default_factory=dict)

    def role(self, role_id: str) -> Role:
        """The role, or an empty one named by its id (as the planner reads a missing role)."""
        found = self.roles.get(role_id)
        return found if found is not None else Role(id=role_id, title=role_id)


@dataclass
class Population:
    """Employees in scope with their assessed levels and courses taken.

    Attributes:
        people: The employees, by id.
        skill_ids: Column order of ``assessed``.
        assessed: Employees x skills assessed levels (NaN: no evidence).
        completed: Courses each has completed.
        held: Courses each is enrolled in (any status but completed and withdrawn).
        waived: Employees x skills, True where HR waived the gap (None: no waiver at all).

    """

    people: list[Person]
    skill_ids: tuple[str, ...]
    assessed: FloatMatrix
    completed: list[frozenset[str]]
    held: list[frozenset[str]]
    waived: NDArray[np.bool_] | None = None

    def levels(self, row: int) -> dict[str, float]:
        """The assessed levels of one employee, by skill id."""
        values = self.assessed[row]
        return {self.skill_ids[j]: float(values[j]) for j in np.flatnonzero(~np.isnan(values))}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_reference(s: Session, on: date) -> Reference:
    """Read the framework, roles, catalog, sessions and objective sets (a handful of queries)."""
    skills = {r.id: Skill(id=r.id, name=r.name) for r in s.scalars(select(SkillRow))}
    requirements: dict[str, list[RoleRequirement]] = defaultdict(list)
    for r in s.scalars(select(RoleRequirementRow).order_by(RoleRequirementRow.skill_id)):
        requirements[r.role_id].append(
            RoleRequirement(
                skill_id=r.skill_id, level=r.level, importance=r.importance, suppressed=r.suppressed
            )
        )
    roles = {
        r.id: Role(id=r.id, title=r.title, requirements=tuple(requirements.get(r.id, ())))
        for r in s.scalars(select(RoleRow))
    }
    catalog = CatalogIndex(c.to_course() for c in s.scalars(select(CourseRow)))
    taken: dict[str | None, int] = {
        sid: int(n)
        for sid, n in s.execute(
            select(LmsEnrollmentRow.session_id, func.count())
            .where(LmsEnrollmentRow.status == "enrolled", LmsEnrollmentRow.session_id.is_not(None))
            .group_by(LmsEnrollmentRow.session_id)
        )
    }
    sessions: dict[str, list[SessionSeats]] = defaultdict(list)
    for row in s.scalars(select(LmsCourseSessionRow)):
        sessions[row.course_id].append(
            SessionSeats(
                id=row.id,
                course_id=row.course_id,
                starts=_utc(row.starts_at),
                ends=_utc(row.ends_at),
                capacity=row.capacity,
                taken=int(taken.get(row.id, 0)),
            )
        )
    recorded: dict[tuple[str, int], ObjectiveSet] = {}
    in_force = sets_in_force(s, on, recorded)
    latest: dict[str, int] = {}
    for set_id, version in s.execute(
        select(ObjectiveSetRow.set_id, func.max(ObjectiveSetRow.version)).group_by(
            ObjectiveSetRow.set_id
        )
    ):
        latest[set_id] = int(version)
    return Reference(
        skills=skills,
        roles=roles,
        catalog=catalog,
        sessions=dict(sessions),
        in_force=in_force,
        latest=latest,
        recorded=recorded,
    )


def recorded_version(s: Session, set_id: str, version: int) -> ObjectiveSet | None:
    """A recorded version of a set, if any."""
    row = s.get(ObjectiveSetRow, (set_id, version))
    return ObjectiveSet.model_validate(row.body) if row is not None else None


def load_population(
    s: Session,
    on: date,
    skill_ids: Sequence[str],
    *,
    policy: str = DEFAULT_POLICY,
) -> Population:
    """Read every active employee with their assessed levels and courses taken.

    Levels are assessed from each employee's evidence by the planner's assessment (``assess``
    with the planner's policy, on day ``on``), so they are the levels the planner would use.

    Args:
        s: A session on the app database.
        on: The day of the assessment.
        skill_ids: The skill columns (evidence of other skills is not assessed).
        policy: The assessment policy (the planner's).

    Returns:
        The population, ordered by employee id.

    """
    known = {
        eid for (eid,) in s.execute(select(EmployeeRow.id).where(EmployeeRow.active.is_(True)))
    }
    people = [
        Person(
            id=eid,
            role_id=role_id,
            department=department or "",
            manager_id=manager_id,
            manager_known=manager_id is not None and manager_id in known,
        )
        for eid, role_id, department, manager_id in s.execute(
            select(
                EmployeeRow.id, EmployeeRow.role_id, EmployeeRow.department, EmployeeRow.manager_id
            )
            .where(EmployeeRow.active.is_(True))
            .order_by(EmployeeRow.id)
        )
    ]
    row_of = {p.id: i for i, p in enumerate(people)}
    col = {k: j for j, k in enumerate(skill_ids)}
    assessed = np.full((len(people), len(skill_ids)), np.nan)
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for employee_id, skill_id, level, scale_id, source, observed_at, ref, rater_id in s.execute(
        select(
            EvidenceRow.employee_id,
            EvidenceRow.skill_id,
            EvidenceRow.level,
            EvidenceRow.scale_id,
            EvidenceRow.source,
            EvidenceRow.observed_at,
            EvidenceRow.ref,
            EvidenceRow.rater_id,
        )
    ):
        if employee_id in row_of and skill_id in col:
            evidence[employee_id].append(
                Evidence.model_construct(
                    skill_id=skill_id,
                    level=level,
                    scale_id=scale_id,
                    source=source,  # type: ignore[arg-type]
                    observed_at=observed_at,
                    ref=ref,
                    rater_id=rater_id,
                )
            )
    for employee_id, items in evidence.items():
        i = row_of[employee_id]
        for skill_id, a in assess(items, policy=policy, on=on).items():
            assessed[i, col[skill_id]] = a.level
    completed: list[set[str]] = [set() for _ in people]
    held: list[set[str]] = [set() for _ in people]
    for employee_id, course_id, status in s.execute(
        select(LmsEnrollmentRow.employee_id, LmsEnrollmentRow.course_id, LmsEnrollmentRow.status)
    ):
        i_row = row_of.get(employee_id)
        if i_row is None:
            continue
        if status == "completed":
            completed[i_row].add(course_id)
        elif status != "withdrawn":
            held[i_row].add(course_id)
    waived: NDArray[np.bool_] | None = None
    for employee_id, skill_id in s.execute(
        select(GapWaiverRow.employee_id, GapWaiverRow.skill_id).where(
            GapWaiverRow.restored_at.is_(None)
        )
    ):
        if employee_id in row_of and skill_id in col:
            if waived is None:
                waived = np.zeros(assessed.shape, dtype=np.bool_)
            waived[row_of[employee_id], col[skill_id]] = True
    return Population(
        people=people,
        skill_ids=tuple(skill_ids),
        assessed=assessed,
        completed=[frozenset(c) for c in completed],
        held=[frozenset(h) for h in held],
        waived=waived,
    )
