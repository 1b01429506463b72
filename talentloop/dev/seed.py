"""Seed data: real O*NET roles and skills, plus a GENERATED course catalog and GENERATED employees.

Roles (occupation -> required level per skill, LV, weighted by importance, IM) and skills with
their level anchors come from the O*NET 29.3 database (CC BY 4.0). Courses, employees,
managers, emails and reviews are not in O*NET: this module generates them deterministically
from a random seed, and says so in every generated record's source.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.skills.onet import OnetData, load_onet
from activities.store.onet_import import OnetImportReport, sync_onet
from activities.store.tables import (
    CourseRow,
    EmployeeRow,
    RoleRequirementRow,
)
from schemas.events import REVIEW_COMPLETED
from schemas.skills import Role, Skill

DEMO_OCCUPATIONS: dict[str, str] = {
    "15-1251.00": "Engineering",
    "15-1299.08": "Engineering",
    "15-1244.00": "IT Operations",
    "15-1232.00": "IT Operations",
    "15-1211.00": "Engineering",
    "15-2031.00": "Strategy",
    "13-1111.00": "Strategy",
    "13-2011.00": "Finance",
    "11-2021.00": "Marketing",
    "41-4012.00": "Sales",
    "43-4051.00": "Customer Service",
    "13-1071.00": "People",
    "11-3121.00": "People",
    "11-1021.00": "Operations",
}
"""O*NET occupations used as the demo company's roles, with the department they sit in."""

GENERATED_SOURCE = "talentloop.dev.seed (generated)"
_FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Luis",
    "Mei",
    "Nour",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
_LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Nowak",
    "Haddad",
    "Murphy",
    "Kowalski",
    "Rossi",
    "Novak",
    "Fischer",
    "Mensah",
    "Larsen",
    "Costa",
    "Ivanova",
]
_LOCALES = ["en", "en", "en", "de", "fr", "es"]


@dataclass(frozen=True)
class SeedCounts:
    """What `seed` wrote."""

    skills: int
    roles: int
    courses: int
    employees: int


def generate_catalog(skills: Sequence[Skill], rng: random.Random) -> list[CourseRow]:
    """GENERATED courses: a three-step ladder per skill plus a few cross-skill bundles.

    Each ladder is foundations (0 -> 3), practice (from 2 -> 5) and mastery (from 4 -> 7),
    with generated hours, costs and modalities. Starting levels order a ladder, so it has no
    hard prerequisites: someone already at level 3 goes straight to practice.
    """
    courses: list[CourseRow] = []
    modalities = ["online", "virtual", "classroom", "blended", "self_paced"]
    for skill in skills:
        slug = skill.id.split(":")[-1]
        steps = [
            ("foundations", 0.0, 3.0, 4),
            ("practice", 2.0, 5.0, 10),
            ("mastery", 4.0, 7.0, 20),
        ]
        for name, lo, hi, base_hours in steps:
            cid = f"gen-{slug}-{name}"
            hours = float(base_hours + rng.randint(0, base_hours // 2))
            courses.append(
                CourseRow(
                    id=cid,
                    title=f"{skill.name}: {name}",
                    hours=hours,
                    cost=round(hours * rng.choice([25.0, 40.0, 60.0]), 2),
                    modality=rng.choice(modalities),
                    teaches=[{"skill_id": skill.id, "from_level": lo, "to_level": hi}],
                    prerequisites=[],
                )
            )
    by_name = {s.name: s for s in skills}
    bundles = [
        ("Communicating at work", ["Speaking", "Writing", "Active Listening"], 4.0),
        ("Thinking it through", ["Critical Thinking", "Complex Problem Solving"], 4.0),
        ("Leading a team", ["Coordination", "Management of Personnel Resources"], 4.5),
    ]
    for title, names, top in bundles:
        members = [by_name[n] for n in names if n in by_name]
        if not members:
            continue
        hours = float(6 * len(members))
        courses.append(
            CourseRow(
                id="gen-bundle-" + "-".join(m.id.split(":")[-1] for m in members),
                title=title,
                hours=hours,
                cost=hours * 30.0,
                modality="virtual",
                teaches=[{"skill_id": m.id, "from_level": 1.0, "to_level": top} for m in members],
                prerequisites=[],
            )
        )
    return courses


def generate_employees(
    roles: Sequence[Role], departments: dict[str, str], count: int, rng: random.Random
) -> list[EmployeeRow]:
    """GENERATED employees: one manager per department, the rest reporting to them."""
    people: list[EmployeeRow] = []
    managers: dict[str, str] = {}
    for i in range(count):
        role = roles[i % len(roles)]
        dept = departments[role.id]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        eid = f"E{i + 1:05d}"
        manager = managers.get(dept)
        if manager is None:
            managers[dept] = eid
        people.append(
            EmployeeRow(
                id=eid,
                name=f"{first} {last}",
                email=f"{first}.{last}.{i + 1}@example.com".lower(),
                role_id=role.id,
                department=dept,
                manager_id=manager,
                locale=rng.choice(_LOCALES),
                active=True,
            )
        )
    return people


def store_onet(sessions: sessionmaker[Session], data: OnetData) -> OnetImportReport:
    """Make the store's O*NET skills, roles and requirements those of `data` (its occupations).

    See :func:`activities.store.onet_import.sync_onet`: safe to rerun, one transaction.
    """
    return sync_onet(sessions, data, occupations=[r.id for r in data.roles])


def seed(
    sessions: sessionmaker[Session],
    onet_dir: Path,
    *,
    employees: int = 50,
    random_seed: int = 7,
    occupations: dict[str, str] | None = None,
) -> SeedCounts:
    """Load O*NET roles and skills and generate courses and employees; safe to run again."""
    chosen = occupations or DEMO_OCCUPATIONS
    data = load_onet(onet_dir, chosen.keys())
    departments = {r.id: chosen[r.id.split(":")[-1]] for r in data.roles}
    rng = random.Random(random_seed)
    courses = generate_catalog(data.skills, rng)
    people = generate_employees(data.roles, departments, employees, rng)
    store_onet(sessions, data)
    with sessions.begin() as s:
        for course in courses:
            s.merge(course)
        for person in people:
            s.merge(person)
    return SeedCounts(len(data.skills), len(data.roles), len(courses), len(people))


def sample_reviews(
    sessions: sessionmaker[Session],
    count: int,
    *,
    random_seed: int = 11,
    cycle: str = "2026-H2",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """GENERATED `review.completed` CloudEvents: manager reviews of `count` seeded employees.

    Each rates the employee's eight most important role skills, some below the role's level,
    on the O*NET level scale.
    """
    rng = random.Random(random_seed)
    now = now or datetime.now(UTC)
    with sessions() as s:
        people = list(
            s.scalars(select(EmployeeRow).where(EmployeeRow.active).order_by(EmployeeRow.id))
        )[:count]
        events: list[dict[str, Any]] = []
        for n, person in enumerate(people):
            reqs = s.scalars(
                select(RoleRequirementRow)
                .where(RoleRequirementRow.role_id == person.role_id)
                .order_by(RoleRequirementRow.importance.desc(), RoleRequirementRow.skill_id)
                .limit(8)
            ).all()
            ratings = [
                {
                    "skill_id": r.skill_id,
                    "rating": round(max(0.0, r.level - rng.choice([0.0, 0.5, 1.0, 1.5, 2.5])), 1),
                }
                for r in reqs
            ]
            completed = now - timedelta(minutes=count - n)
            events.append(
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": GENERATED_SOURCE,
                    "type": REVIEW_COMPLETED,
                    "subject": person.id,
                    "time": completed.isoformat(),
                    "datacontenttype": "application/json",
                    "data": {
                        "review_id": f"rev-{cycle}-{person.id}",
                        "employee_id": person.id,
                        "reviewer_id": person.manager_id or person.id,
                        "reviewer_kind": "manager" if person.manager_id else "self",
                        "cycle": cycle,
                        "completed_at": completed.isoformat(),
                        "scale": "onet-lv",
                        "ratings": ratings,
                    },
                }
            )
    return events


def count_rows(sessions: sessionmaker[Session], table: type[Any]) -> int:
    """Number of rows in `table`."""
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)
