"""Importing O*NET into the app database: the store becomes equal to the release.

The rule "O*NET re-import" (docs/decisions.md): for the occupations an import covers (all, or
those named), the roles and role requirements in the store become exactly the release's, in
one transaction. A requirement the release drops (or marks Not Relevant) is removed; a role the
release drops is removed too, unless employees hold it: then it is kept, marked retired, and
reported (never deleted under them). Skills are added or updated, never removed (evidence and
courses refer to them). The report says what was added, changed, removed and retired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.skills.onet import OnetData, role_id
from activities.store.engine import writer_lock
from activities.store.tables import EmployeeRow, RoleRequirementRow, RoleRow, SkillRow

RequirementKey = tuple[str, str]
"""(role id, skill id)."""


@dataclass
class OnetImportReport:
    """What an O*NET import changed in the store.

    Attributes:
        skills_added: Skill ids new to the store.
        skills_changed: Skill ids whose name, description or anchors changed.
        roles_added: Role ids new to the store.
        roles_changed: Role ids whose title changed (or that were retired and are back).
        roles_removed: Role ids the release dropped, deleted (nobody holds them).
        roles_retired: Role ids the release dropped that employees hold: kept, marked retired.
        requirements_added: (role, skill) pairs new to the store.
        requirements_changed: Pairs whose level, importance or low-precision flag changed.
        requirements_removed: Pairs the release no longer carries (or marks Not Relevant).

    """

    skills_added: list[str] = field(default_factory=list)
    skills_changed: list[str] = field(default_factory=list)
    roles_added: list[str] = field(default_factory=list)
    roles_changed: list[str] = field(default_factory=list)
    roles_removed: list[str] = field(default_factory=list)
    roles_retired: list[str] = field(default_factory=list)
    requirements_added: list[RequirementKey] = field(default_factory=list)
    requirements_changed: list[RequirementKey] = field(default_factory=list)
    requirements_removed: list[RequirementKey] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the counts of what changed."""
        return (
            f"skills +{len(self.skills_added)} ~{len(self.skills_changed)}; "
            f"roles +{len(self.roles_added)} ~{len(self.roles_changed)} "
            f"-{len(self.roles_removed)} retired {len(self.roles_retired)}; "
            f"requirements +{len(self.requirements_added)} ~{len(self.requirements_changed)} "
            f"-{len(self.requirements_removed)}"
        )


def _sync_skills(s: Session, data: OnetData, report: OnetImportReport) -> None:
    held = {r.id: r for r in s.scalars(select(SkillRow))}
    for skill in data.skills:
        anchors = {str(k): v for k, v in skill.anchors.items()}
        row = held.get(skill.id)
        if row is None:
            s.add(
                SkillRow(
                    id=skill.id, name=skill.name, description=skill.description, anchors=anchors
                )
            )
            report.skills_added.append(skill.id)
        elif (row.name, row.description, row.anchors) != (skill.name, skill.description, anchors):
            row.name, row.description, row.anchors = skill.name, skill.description, anchors
            report.skills_changed.append(skill.id)
    s.flush()


def sync_onet(
    sessions: sessionmaker[Session],
    data: OnetData,
    occupations: Iterable[str] | None = None,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> OnetImportReport:
    """Make the store's O*NET roles and requirements equal to ``data``, in one transaction.

    Args:
        sessions: The app database.
        data: The release as read by :func:`~activities.skills.onet.load_onet` (with the same
            ``occupations``).
        occupations: The O*NET-SOC codes or role ids the import covers; None: every O*NET role
            (``onet:`` ids), so a role in the store but not in the release was dropped.
        now: The clock a retirement is dated by.

    Returns:
        What was added, changed, removed and retired.

    """
    report = OnetImportReport()
    release = {r.id: r for r in data.roles}
    with writer_lock(sessions), sessions.begin() as s:
        _sync_skills(s, data, report)
        stored = {r.id: r for r in s.scalars(select(RoleRow))}
        if occupations is None:
            scope = {rid for rid in stored if rid.startswith("onet:")} | set(release)
        else:
            scope = {role_id(o.removeprefix("onet:")) for o in occupations} | set(release)
        held_roles = set(
            s.scalars(select(EmployeeRow.role_id).where(EmployeeRow.role_id.in_(scope)))
        )
        for rid in sorted(scope):
            role = release.get(rid)
            row = stored.get(rid)
            if role is None:
                if row is None:
                    continue
                if rid in held_roles:
                    if row.retired_at is None:
                        row.retired_at = now()
                        report.roles_retired.append(rid)
                    continue
                for dropped in s.scalars(
                    select(RoleRequirementRow).where(RoleRequirementRow.role_id == rid)
                ):
                    report.requirements_removed.append((rid, dropped.skill_id))
                    s.delete(dropped)
                s.flush()
                s.delete(row)
                report.roles_removed.append(rid)
                continue
            if row is None:
                s.add(RoleRow(id=rid, title=role.title))
                report.roles_added.append(rid)
            elif row.title != role.title or row.retired_at is not None:
                row.title, row.retired_at = role.title, None
                report.roles_changed.append(rid)
            s.flush()
            reqs = {
                r.skill_id: r
                for r in s.scalars(
                    select(RoleRequirementRow).where(RoleRequirementRow.role_id == rid)
                )
            }
            wanted = {r.skill_id: r for r in role.requirements}
            for skill_id, gone in sorted(reqs.items()):
                if skill_id not in wanted:
                    s.delete(gone)
                    report.requirements_removed.append((rid, skill_id))
            for skill_id, req in sorted(wanted.items()):
                old = reqs.get(skill_id)
                values = (req.level, req.importance, req.suppressed)
                if old is None:
                    s.add(
                        RoleRequirementRow(
                            role_id=rid,
                            skill_id=skill_id,
                            level=req.level,
                            importance=req.importance,
                            suppressed=req.suppressed,
                        )
                    )
                    report.requirements_added.append((rid, skill_id))
                elif (old.level, old.importance, old.suppressed) != values:
                    old.level, old.importance, old.suppressed = values
                    report.requirements_changed.append((rid, skill_id))
            s.flush()
    return report
