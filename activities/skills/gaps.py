"""Effective requirements (role baseline + active objectives) and weighted, explainable gaps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from activities.skills.assessment import assess
from schemas.skills import (
    AssessedLevel,
    EffectiveRequirement,
    Gap,
    Objective,
    ObjectiveSet,
    Role,
    Skill,
)

__all__ = [
    "DEFAULT_IMPORTANCE",
    "DEFAULT_MIN_GAP",
    "LEVEL_TOLERANCE",
    "active_objectives",
    "assess",
    "compute_gaps",
    "decide_gaps",
    "effective_requirements",
    "is_noise",
]

DEFAULT_IMPORTANCE = 3.0
"""Importance of an objective requirement for a skill the role does not weigh (mid of 1-5)."""

DEFAULT_MIN_GAP = 0.5
"""Gaps smaller than this (in scale levels) are rating noise and enroll nobody."""

LEVEL_TOLERANCE = 1e-9
"""Levels closer than this are equal (float sums: 4.62 - 4.12 is 0.4999999999999996)."""

_EPS = LEVEL_TOLERANCE


def is_noise(size: float, min_gap: float) -> bool:
    """Whether a gap of ``size`` levels is rating noise under the threshold ``min_gap``.

    Exactly ``min_gap`` is not noise, whatever float rounding did to it (the rule "noise
    threshold", docs/decisions.md).
    """
    return size < min_gap - LEVEL_TOLERANCE


def active_objectives(
    objectives: Sequence[ObjectiveSet | Objective], on: date
) -> list[tuple[Objective, str | None]]:
    """Objectives in force on ``on``, each with the "<set>@v<version>" it came from.

    Of several versions of one objective set, only the newest version already effective on
    ``on`` counts; bare objectives count on their own dates.
    """
    newest: dict[str, ObjectiveSet] = {}
    bare: list[Objective] = []
    for item in objectives:
        if isinstance(item, Objective):
            bare.append(item)
        elif item.effective_from <= on:
            held = newest.get(item.id)
            if held is None or item.version > held.version:
                newest[item.id] = item
    out: list[tuple[Objective, str | None]] = [(o, None) for o in bare if o.is_active(on)]
    for s in sorted(newest.values(), key=lambda s: s.id):
        out.extend((o, f"{s.id}@v{s.version}") for o in s.objectives if o.is_active(on))
    return out


def effective_requirements(
    role: Role,
    objectives: Sequence[ObjectiveSet | Objective],
    department: str | None,
    on: date,
) -> list[EffectiveRequirement]:
    """Combine a role's baseline with every objective that applies to the employee on ``on``.

    For each skill the highest target wins (ties: higher weight, then earlier due date); the
    role baseline weighs its importance, an objective weighs priority x importance (the
    requirement's own importance, else the role's for the skill, else 3). The winner is
    remembered as the requirement's source, and the strongest objective asking for the skill
    (by the same order) as ``claimed_by``, whichever won. A role requirement O*NET flags
    "Recommend Suppress" (a low-precision estimate) sets no target on its own; its
    importance still weighs an objective's requirement for the skill.

    Args:
        role: The employee's role.
        objectives: Objective sets (all versions may be passed) and/or bare objectives.
        department: The employee's department.
        on: The day the requirements are computed for.

    Returns:
        One requirement per skill, sorted by skill id.

    """
    baseline = {r.skill_id: r for r in role.requirements}
    best: dict[str, EffectiveRequirement] = {
        r.skill_id: EffectiveRequirement(
            skill_id=r.skill_id,
            target=r.level,
            weight=r.importance,
            source=role.id,
            source_title=role.title,
            baseline=r.level,
        )
        for r in role.requirements
        if not r.suppressed
    }
    claims: dict[str, EffectiveRequirement] = {}
    for obj, set_ref in active_objectives(objectives, on):
        if not obj.applies_to(role.id, department):
            continue
        for req in obj.requirements:
            base = baseline.get(req.skill_id)
            importance = req.importance
            if importance is None:
                importance = base.importance if base is not None else DEFAULT_IMPORTANCE
            cand = EffectiveRequirement(
                skill_id=req.skill_id,
                target=req.target,
                weight=obj.priority * importance,
                source=obj.id,
                source_title=obj.title,
                objective_id=obj.id,
                objective_set=set_ref,
                due=obj.due,
                baseline=base.level if base is not None else 0.0,
            )
            held = best.get(req.skill_id)
            if held is None or _beats(cand, held):
                best[req.skill_id] = cand
            claim = claims.get(req.skill_id)
            if claim is None or _beats(cand, claim):
                claims[req.skill_id] = cand
    out = []
    for k in sorted(best):
        won, claim = best[k], claims.get(k)
        if claim is not None:
            won = won.model_copy(update={"claimed_by": claim.objective_id})
        out.append(won)
    return out


def _beats(a: EffectiveRequirement, b: EffectiveRequirement) -> bool:
    if abs(a.target - b.target) > _EPS:
        return a.target > b.target
    if abs(a.weight - b.weight) > _EPS:
        return a.weight > b.weight
    return (a.due or date.max) < (b.due or date.max)


def compute_gaps(
    requirements: Iterable[EffectiveRequirement],
    assessed: Mapping[str, AssessedLevel | float],
    skills_by_id: Mapping[str, Skill],
    *,
    floor: float = 0.0,
) -> list[Gap]:
    """Gaps where the effective target exceeds the assessed level.

    Args:
        requirements: Effective requirements (see :func:`effective_requirements`).
        assessed: Assessed level per skill id (from :func:`assess`, or plain levels).
        skills_by_id: Skill catalog, for names.
        floor: Level assumed for a skill with no evidence (the scale minimum).

    Returns:
        Gaps sorted by weighted size, largest first (ties by skill id).

    """
    gaps: list[Gap] = []
    for req in requirements:
        a = assessed.get(req.skill_id)
        if isinstance(a, AssessedLevel):
            current, evidence, policy = a.level, a.basis, a.policy
        else:
            current = floor if a is None else float(a)
            evidence, policy = (), "none" if a is None else "given"
        size = req.target - current
        if size <= _EPS:
            continue
        skill = skills_by_id.get(req.skill_id)
        gaps.append(
            Gap(
                skill_id=req.skill_id,
                skill_name=skill.name if skill is not None else req.skill_id,
                target=req.target,
                current=current,
                size=size,
                weight=req.weight,
                source=req.source,
                source_title=req.source_title,
                objective_id=req.objective_id,
                due=req.due,
                evidence=evidence,
                policy=policy,
                claimed_by=req.claimed_by,
            )
        )
    gaps.sort(key=lambda g: (-g.weighted_size, g.skill_id))
    return gaps


def decide_gaps(
    requirements: Iterable[EffectiveRequirement],
    assessed: Mapping[str, AssessedLevel | float],
    skills_by_id: Mapping[str, Skill],
    *,
    min_gap: float = DEFAULT_MIN_GAP,
    waived: Iterable[str] = (),
) -> list[Gap]:
    """The product's gaps: the rules of docs/decisions.md over effective requirements.

    A skill nobody has rated is unknown, not a gap, unless an objective asks for it
    (``claimed_by``): then it is a gap until there is evidence, whichever requirement won
    the target. A gap under ``min_gap`` levels is rating noise (compared with
    :data:`LEVEL_TOLERANCE`). A skill HR waived for the employee is no gap.

    Args:
        requirements: Effective requirements (see :func:`effective_requirements`).
        assessed: Assessed level per skill id; a skill missing here has no evidence.
        skills_by_id: Skill catalog, for names.
        min_gap: The noise threshold in levels.
        waived: Skill ids HR waived for the employee.

    Returns:
        Gaps sorted by weighted size, largest first (ties by skill id).

    """
    skip = set(waived)
    kept = [
        r
        for r in requirements
        if r.skill_id not in skip and (r.skill_id in assessed or r.claimed_by is not None)
    ]
    return [g for g in compute_gaps(kept, assessed, skills_by_id) if not is_noise(g.size, min_gap)]
