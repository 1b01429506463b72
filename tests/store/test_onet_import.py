"""The rule "O*NET re-import": the store becomes equal to the release (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from activities.skills.onet import OnetData
from activities.store.engine import open_engine, session_factory
from activities.store.onet_import import sync_onet
from activities.store.tables import EmployeeRow, RoleRequirementRow, RoleRow
from schemas.skills import Role, RoleRequirement, Skill

SKILLS = [Skill(id=f"onet:2.A.1.{c}", name=f"Skill {c}") for c in "abcd"]
A, B, C, D = (f"onet:11-000{n}.00" for n in range(1, 5))
SA, SB, SC, SD = (s.id for s in SKILLS)


def role(rid: str, *reqs: tuple[str, float]) -> Role:
    return Role(
        id=rid,
        title=f"Title {rid}",
        requirements=tuple(RoleRequirement(skill_id=s, level=lv, importance=3) for s, lv in reqs),
    )


def release(*roles: Role) -> OnetData:
    return OnetData(skills=SKILLS, roles=list(roles))


def stored(sessions: sessionmaker[Session]) -> dict[str, dict[str, float]]:
    with sessions() as s:
        out: dict[str, dict[str, float]] = {r.id: {} for r in s.scalars(select(RoleRow))}
        for r in s.scalars(select(RoleRequirementRow)):
            out[r.role_id][r.skill_id] = r.level
        return out


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    factory = session_factory(open_engine(db_url))
    sync_onet(factory, release(role(A, (SA, 2), (SB, 3)), role(B, (SA, 1)), role(C, (SA, 4))))
    with factory.begin() as s:
        s.add(EmployeeRow(id="E1", name="Person", email="p@x.example", role_id=B))
    return factory


def test_rule_onet_reimport_makes_the_store_equal_to_the_release(
    sessions: sessionmaker[Session],
) -> None:
    newer = release(role(A, (SA, 2.5), (SC, 1)), role(D, (SD, 3)))
    report = sync_onet(sessions, newer, now=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    got = stored(sessions)
    # B is held by an employee: kept (with its last requirements), marked retired, reported.
    assert got == {A: {SA: 2.5, SC: 1}, B: {SA: 1}, D: {SD: 3}}
    assert report.roles_added == [D] and report.roles_removed == [C]
    assert report.roles_retired == [B]
    assert report.requirements_added == [(A, SC), (D, SD)]
    assert report.requirements_changed == [(A, SA)]
    assert sorted(report.requirements_removed) == [(A, SB), (C, SA)]
    with sessions() as s:
        retired = s.get(RoleRow, B)
        assert retired is not None and retired.retired_at is not None
    # The same release again changes nothing.
    again = sync_onet(sessions, newer)
    assert again.summary() == "skills +0 ~0; roles +0 ~0 -0 retired 0; requirements +0 ~0 -0"
    # A later release carrying B again brings it back.
    back = sync_onet(
        sessions, release(role(A, (SA, 2.5), (SC, 1)), role(B, (SA, 1)), role(D, (SD, 3)))
    )
    assert back.roles_changed == [B]
    with sessions() as s:
        assert s.get(RoleRow, B).retired_at is None  # type: ignore[union-attr]


def test_an_import_of_named_occupations_touches_only_those(
    sessions: sessionmaker[Session],
) -> None:
    report = sync_onet(sessions, release(role(A, (SA, 6))), occupations=["11-0001.00"])
    assert stored(sessions) == {A: {SA: 6}, B: {SA: 1}, C: {SA: 4}}
    assert report.requirements_removed == [(A, SB)] and not report.roles_removed


def test_an_import_is_one_transaction(sessions: sessionmaker[Session]) -> None:
    before = stored(sessions)
    broken = release(role(A, (SA, 5)), role(D, ("onet:9.9.9.z", 2)))  # a skill nobody knows
    with pytest.raises(IntegrityError):
        sync_onet(sessions, broken)
    assert stored(sessions) == before
