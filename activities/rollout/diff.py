"""The difference between two versions of an objective set, objective by objective."""

from __future__ import annotations

from schemas.preview import LevelChange, ObjectiveChange, SetDiff
from schemas.skills import Objective, ObjectiveSet, format_level

__all__ = ["diff_objective", "diff_sets"]


def _scope(o: Objective) -> str:
    if not o.roles and not o.departments:
        return "everyone"
    parts = []
    if o.roles:
        parts.append("roles " + ", ".join(sorted(o.roles)))
    if o.departments:
        parts.append("departments " + ", ".join(sorted(o.departments)))
    return "; ".join(parts)


def _level(value: float | None) -> str:
    return "role's" if value is None else format_level(value)


def diff_objective(old: Objective, new: Objective) -> ObjectiveChange | None:
    """What changed in one objective between two versions (None: nothing).

    Args:
        old: The objective in the version in force.
        new: The same objective (same id) in the new version.

    Returns:
        The change, with what changed (skills, levels, scope, due date, priority, active
        dates, title) and one readable line per change.

    """
    fields: list[str] = []
    details: list[str] = []
    before = {r.skill_id: r for r in old.requirements}
    after = {r.skill_id: r for r in new.requirements}
    added = tuple(sorted(set(after) - set(before)))
    removed = tuple(sorted(set(before) - set(after)))
    if added or removed:
        fields.append("skills")
        details += [f"requires {s} at {format_level(after[s].target)}" for s in added]
        details += [f"no longer requires {s}" for s in removed]
    levels: list[LevelChange] = []
    for s in sorted(set(before) & set(after)):
        a, b = before[s], after[s]
        if a.target != b.target or a.importance != b.importance:
            levels.append(
                LevelChange(
                    skill_id=s,
                    old_target=a.target,
                    new_target=b.target,
                    old_importance=a.importance,
                    new_importance=b.importance,
                )
            )
            if a.target != b.target:
                details.append(f"{s} level {format_level(a.target)} -> {format_level(b.target)}")
            if a.importance != b.importance:
                details.append(f"{s} importance {_level(a.importance)} -> {_level(b.importance)}")
    if levels:
        fields.append("levels")
    if set(old.roles) != set(new.roles) or set(old.departments) != set(new.departments):
        fields.append("scope")
        details.append(f"scope {_scope(old)} -> {_scope(new)}")
    if old.due != new.due:
        fields.append("due")
        details.append(f"due {old.due or 'none'} -> {new.due or 'none'}")
    if old.priority != new.priority:
        fields.append("priority")
        details.append(f"priority {format_level(old.priority)} -> {format_level(new.priority)}")
    if old.active_from != new.active_from or old.active_until != new.active_until:
        fields.append("dates")
        details.append(
            f"active {old.active_from or 'set start'}..{old.active_until or 'open'} -> "
            f"{new.active_from or 'set start'}..{new.active_until or 'open'}"
        )
    if old.title != new.title:
        fields.append("title")
        details.append(f"title {old.title!r} -> {new.title!r}")
    if not fields:
        return None
    return ObjectiveChange(
        objective_id=new.id,
        change="changed",
        title=new.title,
        fields=tuple(fields),
        skills_added=added,
        skills_removed=removed,
        levels=tuple(levels),
        details=tuple(details),
    )


def diff_sets(old: ObjectiveSet | None, new: ObjectiveSet) -> SetDiff:
    """Objectives added, removed and changed from ``old`` (the version in force) to ``new``.

    Args:
        old: The version in force, None when the set has none yet.
        new: The new version.

    Returns:
        The diff: added, then removed, then changed objectives, each group by id.

    """
    before = {o.id: o for o in old.objectives} if old is not None else {}
    after = {o.id: o for o in new.objectives}
    changes: list[ObjectiveChange] = []
    for oid in sorted(set(after) - set(before)):
        o = after[oid]
        changes.append(
            ObjectiveChange(
                objective_id=oid,
                change="added",
                title=o.title,
                skills_added=tuple(sorted(r.skill_id for r in o.requirements)),
                details=(
                    f"for {_scope(o)}, due {o.due or 'none'}: "
                    + ", ".join(f"{r.skill_id} {format_level(r.target)}" for r in o.requirements),
                ),
            )
        )
    for oid in sorted(set(before) - set(after)):
        o = before[oid]
        changes.append(
            ObjectiveChange(
                objective_id=oid,
                change="removed",
                title=o.title,
                skills_removed=tuple(sorted(r.skill_id for r in o.requirements)),
            )
        )
    unchanged: list[str] = []
    for oid in sorted(set(before) & set(after)):
        change = diff_objective(before[oid], after[oid])
        if change is None:
            unchanged.append(oid)
        else:
            changes.append(change)
    return SetDiff(
        set_id=new.id,
        old_version=old.version if old is not None else None,
        new_version=new.version,
        old_effective_from=old.effective_from if old is not None else None,
        new_effective_from=new.effective_from,
        changes=tuple(changes),
        unchanged=tuple(unchanged),
    )
